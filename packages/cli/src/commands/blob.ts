// azcse blob service commands (filled in by the blob issue).
import type { CommandDef } from "../framework.js";

export const commands: CommandDef[] = [];
