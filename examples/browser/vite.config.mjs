// Vite builds and serves the example page: `npx vite` (dev server on src/), `npx vite build` (→ dist/).
// Vite's client build resolves the `browser` export condition, so `@azure-cse/*` and the official `@azure/*` SDKs come
// in as their browser builds. `pageConfig({ fromSource: true })` (the browser test, through build.mjs) takes the
// @azure-cse web entries from their TypeScript sources instead of their dist/ builds.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const here = path.dirname(fileURLToPath(import.meta.url));
const packages = path.join(here, "..", "..", "packages");

/** The web entries, from source: "@azure-cse/<pkg>/web" → packages/<pkg>/src/web/index.ts. */
export const webSourceAliases = Object.fromEntries(
  ["core-envelope", "storage-blob", "storage-queue", "data-tables"].map((p) => [`@azure-cse/${p}/web`, path.join(packages, p, "src", "web", "index.ts")]),
);

/** The page's Vite configuration: root src/ (index.html → page.ts), output in `outDir`. */
export function pageConfig({ outDir = path.join(here, "dist"), fromSource = false } = {}) {
  return {
    root: path.join(here, "src"),
    base: "./",
    // Exact matches only ("@azure-cse/core-envelope/web", not a longer specifier that starts with it).
    resolve: { alias: fromSource ? Object.entries(webSourceAliases).map(([k, v]) => ({ find: new RegExp(`^${k.replace(/[/]/g, "\\/")}$`), replacement: v })) : [] },
    // The page carries three SDK browser builds (~520 kB minified); one chunk is intended.
    build: { outDir, emptyOutDir: true, target: "es2022", sourcemap: true, chunkSizeWarningLimit: 800 },
    server: { host: "localhost" },
    logLevel: "warn",
  };
}

export default defineConfig(pageConfig());
