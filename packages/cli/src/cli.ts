// azcse entry point.
import { main } from "./main.js";

main(process.argv.slice(2), { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s) }).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`azcse: internal error: ${(e as Error)?.message ?? String(e)}\n`);
    process.exitCode = 4;
  },
);
