import { EXIT, reportError, type CommandDef, type Io } from "./framework.js";
import { escapeLines, escapeMessage, isProgressFrame } from "./terminal.js";
import { commands as keyCommands } from "./commands/key.js";
import { commands as blobFileCommands } from "./commands/blob-file.js";
import { commands as blobCommands } from "./commands/blob.js";
import { commands as queueCommands } from "./commands/queue.js";
import { commands as tableCommands } from "./commands/table.js";
import { commands as opsCommands } from "./commands/ops.js";

/** Every command group registers here. */
export const COMMANDS: CommandDef[] = [...keyCommands, ...blobFileCommands, ...blobCommands, ...queueCommands, ...tableCommands, ...opsCommands];

function help(io: Io): void {
  io.stdout("azcse — Azure Storage client-side encryption\n\nCommands:\n");
  for (const c of COMMANDS) io.stdout(`  azcse ${c.usage}\n`);
  io.stdout("\nExit codes: 0 ok, 1 usage, 2 encryption/decryption failure, 3 not found, 4 service error.\n");
}

/**
 * The print boundary: nothing a command writes reaches the terminal with raw control characters. stdout keeps
 * its line breaks (JSON lines, pretty JSON, tables) and escapes every other control as valid JSON escapes; each
 * stderr write is one message whose only raw control is its trailing newline. The operations progress bar's own
 * redraw frames (counts and sizes only, no stored value) are the one exception.
 */
export function terminalSafe(io: Io): Io {
  return {
    stdout: (s) => io.stdout(escapeLines(s)),
    stderr: (s) => io.stderr(isProgressFrame(s) ? s : escapeMessage(s)),
  };
}

export async function main(argv: string[], io: Io): Promise<number> {
  return run(argv, terminalSafe(io));
}

async function run(argv: string[], io: Io): Promise<number> {
  if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
    help(io);
    return argv.length === 0 ? EXIT.usage : EXIT.ok;
  }
  const cmd = COMMANDS.filter((c) => c.path.every((p, i) => argv[i] === p)).sort((a, b) => b.path.length - a.path.length)[0];
  if (!cmd) {
    io.stderr(`azcse: unknown command "${argv.slice(0, 2).join(" ")}"; run azcse --help\n`);
    return EXIT.usage;
  }
  try {
    return await cmd.run(argv.slice(cmd.path.length), io);
  } catch (e) {
    return reportError(e, io, cmd.offline ? { offline: cmd.offline } : {});
  }
}
