// azcse entry point.
import { installInterruptCleanup } from "./files.js";
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

main(process.argv.slice(2), { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s) }).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(escapeMessage(`azcse: internal error: ${(e as Error)?.message ?? String(e)}\n`));
    process.exitCode = 4;
  },
);
