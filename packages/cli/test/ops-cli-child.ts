// Runs `azcse ARGS...` from the TypeScript sources in its own process (vite-node), for tests that need
// several CLI processes at once or a SIGKILL, without depending on a built dist/.
import { main } from "../src/main.js";

process.exitCode = await main(process.argv.slice(2), { stdout: (s) => void process.stdout.write(s), stderr: (s) => void process.stderr.write(s) });
