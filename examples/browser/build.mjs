// Bundles the example page (src/page.ts + the official @azure/storage-blob browser build +
// @azure-cse/core-envelope/web) into dist/ with esbuild. `bundlePage({ fromSource: true })` (the browser
// test) takes @azure-cse/core-envelope/web from its TypeScript sources instead of its build.
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));

export async function bundlePage({ outdir = path.join(here, "dist"), fromSource = false } = {}) {
  mkdirSync(outdir, { recursive: true });
  const result = await build({
    entryPoints: [path.join(here, "src", "page.ts")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    outfile: path.join(outdir, "page.js"),
    sourcemap: true,
    metafile: true,
    logLevel: "warning",
    alias: fromSource ? { "@azure-cse/core-envelope/web": path.join(here, "..", "..", "packages", "core-envelope", "src", "web", "index.ts") } : {},
  });
  copyFileSync(path.join(here, "src", "index.html"), path.join(outdir, "index.html"));
  return { outdir, inputs: Object.keys(result.metafile.inputs) };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { outdir } = await bundlePage();
  console.log(`example-browser: page bundled into ${path.relative(process.cwd(), outdir)}`);
}
