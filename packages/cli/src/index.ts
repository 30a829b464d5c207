export { main, COMMANDS } from "./main.js";
export { EXIT } from "./framework.js";
