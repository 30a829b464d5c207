import { defineConfig } from "tsup";

// Two builds, so that each entry's declarations roll up on their own (the Node entry's index.d.ts is the locked
// API report) and the web entry stays a self-contained file. `npm run build` empties dist/ first.
const common = { format: ["esm", "cjs"] as ("esm" | "cjs")[], dts: true, sourcemap: true, clean: false };

export default defineConfig([
  { ...common, entry: { index: "src/index.ts" }, target: "node20" },
  // The /web entry (and the `browser` condition of "."): Web Crypto via @azure-cse/core-envelope/web, no Node built-in, no Buffer.
  { ...common, entry: { web: "src/web/index.ts" }, target: "es2022", platform: "browser" },
]);
