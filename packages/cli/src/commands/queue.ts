// azcse queue service commands (filled in by the queue issue).
import type { CommandDef } from "../framework.js";

export const commands: CommandDef[] = [];
