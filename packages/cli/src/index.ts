export { main, COMMANDS, VERSION } from "./main.js";
export { EXIT, type Io, type CommandDef, type CommandSpec, type CommandHandler, type FlagSpec, type FlagSpecs, type ParsedArgs } from "./framework.js";
