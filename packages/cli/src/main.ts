import { commandHelp, EXIT, EXIT_CODES_HELP, reportError, parseArgs, type CommandDef, type Io } from "./framework.js";
import { escapeLines, escapeMessage, isProgressFrame } from "./terminal.js";
import { commands as keyCommands } from "./commands/key.js";
import { commands as blobFileCommands } from "./commands/blob-file.js";
import { commands as blobCommands } from "./commands/blob.js";
import { commands as queueCommands } from "./commands/queue.js";
import { commands as tableCommands } from "./commands/table.js";
import { commands as opsCommands } from "./commands/ops.js";
import pkg from "../package.json" with { type: "json" };

/** Every command group registers here. */
export const COMMANDS: CommandDef[] = [...keyCommands, ...blobFileCommands, ...blobCommands, ...queueCommands, ...tableCommands, ...opsCommands];

/** The version of this azcse (the package version). */
export const VERSION: string = pkg.version;

function help(io: Io): void {
  const lines = [
    "azcse — Azure Storage client-side encryption",
    "",
    "Usage: azcse <command> [arguments] [flags]    azcse <command> --help    azcse --version",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.path.join(" ").padEnd(22)} ${c.summary}`),
    "",
    "Keys (--key, repeatable; --new-key): a private JWK file, or a Key Vault / Managed HSM key id",
    "  https://VAULT.vault.azure.net/keys/NAME[/VERSION] (Entra ID through DefaultAzureCredential).",
    "Storage account: --account-url https://ACCOUNT.blob|queue|table.core.windows.net (Entra ID through",
    "  DefaultAzureCredential, or a SAS in the URL or --sas), --connection-string CS, or AZURE_STORAGE_CONNECTION_STRING.",
    "",
    EXIT_CODES_HELP,
    "",
  ];
  io.stdout(lines.join("\n"));
}

/**
 * The print boundary: nothing a command writes reaches the terminal with raw control characters. stdout keeps
 * its line breaks (JSON lines, pretty JSON, tables) and escapes every other control as valid JSON escapes; each
 * stderr write is one message whose only raw control is its trailing newline. The progress bars' own redraw
 * frames (counts and sizes only, no stored value) are the one exception.
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

/** `--help` / `-h` anywhere before a `--` asks for help. */
function wantsHelp(argv: readonly string[]): boolean {
  const end = argv.indexOf("--");
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === "--help" || a === "-h");
}

async function run(argv: string[], io: Io): Promise<number> {
  if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
    help(io);
    return argv.length === 0 ? EXIT.usage : EXIT.ok;
  }
  if (argv[0] === "--version" || argv[0] === "-V" || argv[0] === "version") {
    io.stdout(`${VERSION}\n`);
    return EXIT.ok;
  }
  const cmd = COMMANDS.filter((c) => c.path.every((p, i) => argv[i] === p)).sort((a, b) => b.path.length - a.path.length)[0];
  if (!cmd) {
    const group = COMMANDS.filter((c) => c.path.length > 1 && c.path[0] === argv[0]);
    const hint = group.length ? `; ${argv[0]} commands: ${group.map((c) => c.path[1]).join(", ")}` : "";
    io.stderr(`azcse: unknown command "${argv.slice(0, 2).join(" ")}"${hint}; run azcse --help\n`);
    return EXIT.usage;
  }
  const rest = argv.slice(cmd.path.length);
  if (wantsHelp(rest)) {
    io.stdout(commandHelp(cmd));
    return EXIT.ok;
  }
  try {
    return await cmd.run(parseArgs(rest, cmd.flags), io);
  } catch (e) {
    return reportError(e, io, cmd.offline ? { offline: cmd.offline } : {});
  }
}
