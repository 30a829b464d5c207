// azcse entry point.
import { installInterruptCleanup, removeUncommittedOutputs } from "./files.js";
import { main } from "./main.js";
import { escapeMessage } from "./terminal.js";

// SIGINT/SIGTERM/SIGHUP remove every output not yet complete, then exit 128 + signal number.
installInterruptCleanup();
// A closed stdout/stderr pipe (`azcse … | head`) ends the process quietly instead of with a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw e;
  });
}
// Anything that escapes the command (a bug, an error thrown from a callback) still ends typed and terminal-safe:
// one escaped line (no stack trace that could carry stored values), outputs removed, exit 4.
const internal = (e: unknown): void => {
  removeUncommittedOutputs();
  try {
    process.stderr.write(escapeMessage(`azcse: internal error: ${(e as Error)?.message ?? String(e)}\n`));
  } finally {
    process.exit(4);
  }
};
process.on("uncaughtException", internal);
process.on("unhandledRejection", internal);

main(process.argv.slice(2), { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s) }).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(escapeMessage(`azcse: internal error: ${(e as Error)?.message ?? String(e)}\n`));
    process.exitCode = 4;
  },
);
