export { main, COMMANDS } from "./main.js";
export { EXIT, type Io, type CommandDef, type CommandHandler } from "./framework.js";
