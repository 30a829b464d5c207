import { defineConfig } from "tsup";

// Two builds, so that each entry's declarations roll up on their own (one shared .d.ts chunk would change
// index.d.ts, the locked API report) and the web entry is one self-contained file. `npm run build` empties
// dist/ first (two parallel builds cannot both clean it).
const common = { format: ["esm", "cjs"] as ("esm" | "cjs")[], dts: true, sourcemap: true, clean: false };

export default defineConfig([
  { ...common, entry: { index: "src/index.ts" }, target: "node20" },
  // @azure-cse/core-envelope/web: the Web Crypto backend for browsers; no Node built-in, no Buffer.
  { ...common, entry: { web: "src/web/index.ts" }, target: "es2022", platform: "browser" },
]);
