// Bundles the example page (src/page.ts + the official @azure/storage-blob, storage-queue and data-tables
// browser builds + the @azure-cse/*/web entries) into dist/ with esbuild. `bundlePage({ fromSource: true })`
// (the browser test) takes the @azure-cse web entries from their TypeScript sources instead of their builds.
// `bundleEntry(source)` bundles one module for the browser (the test's "no Node built-in" check, bench.mjs sizes).
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const packages = path.join(here, "..", "..", "packages");
/** The web entries, from source: "@azure-cse/<pkg>/web" → packages/<pkg>/src/web/index.ts. */
export const webSourceAliases = Object.fromEntries(
  ["core-envelope", "storage-blob", "storage-queue", "data-tables"].map((p) => [`@azure-cse/${p}/web`, path.join(packages, p, "src", "web", "index.ts")]),
);

/**
 * Bundles `contents` (an ES module importing packages) for the browser, minified, with the given externals:
 * returns the code and the inputs. platform "browser" means the `browser` export condition applies.
 */
export async function bundleEntry(contents, { external = [], fromSource = false, minify = true } = {}) {
  const result = await build({
    stdin: { contents, resolveDir: here, loader: "ts" },
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
    minify,
    metafile: true,
    logLevel: "silent",
    external,
    alias: fromSource ? webSourceAliases : {},
  });
  return { code: result.outputFiles[0].text, inputs: Object.keys(result.metafile.inputs) };
}

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
    alias: fromSource ? webSourceAliases : {},
  });
  copyFileSync(path.join(here, "src", "index.html"), path.join(outdir, "index.html"));
  return { outdir, entry: "page.js", inputs: Object.keys(result.metafile.inputs) };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { outdir } = await bundlePage();
  console.log(`example-browser: page bundled into ${path.relative(process.cwd(), outdir)}`);
}
