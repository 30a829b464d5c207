// azcse table service commands (filled in by the table issue).
import type { CommandDef } from "../framework.js";

export const commands: CommandDef[] = [];
