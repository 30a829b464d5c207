import { defineConfig } from "tsup";

// The root and "/internal" JavaScript are built together with code splitting, so both entry points share one copy
// of every module (one ClientSideEncryptionError class, one crypto backend). Declarations are rolled up per entry
// in their own builds, so index.d.ts (the locked API report) stays self-contained. The web entry is one
// self-contained file. `npm run build` empties dist/ first (parallel builds cannot both clean it).
const common = { format: ["esm", "cjs"] as ("esm" | "cjs")[], sourcemap: true, clean: false };

export default defineConfig([
  { ...common, entry: { index: "src/index.ts", internal: "src/internal.ts" }, target: "node20", splitting: true, dts: false },
  { ...common, entry: { index: "src/index.ts" }, target: "node20", dts: { only: true } },
  // @azure-cse/core-envelope/internal (@internal): helpers shared only by the @azure-cse packages.
  { ...common, entry: { internal: "src/internal.ts" }, target: "node20", dts: { only: true } },
  // @azure-cse/core-envelope/web: the Web Crypto backend for browsers; no Node built-in, no Buffer.
  { ...common, entry: { web: "src/web/index.ts" }, target: "es2022", platform: "browser", dts: true },
]);
