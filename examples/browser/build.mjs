// The example page is built by Vite (vite.config.mjs): `bundlePage()` runs that build programmatically and returns
// what went into it; `bundlePage({ fromSource: true })` (the browser test) takes the @azure-cse web entries from
// their TypeScript sources instead of their builds (resolve.alias). `bundleEntry(source)` bundles one module for the
// browser with esbuild (the test's "no Node built-in" checks per entry, bench.mjs sizes per package).
import { build } from "esbuild";
import { build as viteBuild } from "vite";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { pageConfig, webSourceAliases } from "./vite.config.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
export { webSourceAliases };

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

/**
 * Builds the page with Vite into `outdir`: index.html, the entry chunk (`entry`, relative to outdir) and source maps.
 * `inputs` are the modules in the bundle, relative to this directory (as esbuild's metafile names them).
 */
export async function bundlePage({ outdir = path.join(here, "dist"), fromSource = false } = {}) {
  const inputs = new Set();
  let entry;
  const config = pageConfig({ outDir: outdir, fromSource });
  await viteBuild({
    ...config,
    configFile: false,
    plugins: [
      {
        name: "azcse-bundle-inputs",
        generateBundle(_options, bundle) {
          for (const chunk of Object.values(bundle)) {
            if (chunk.type !== "chunk") continue;
            if (chunk.isEntry) entry = chunk.fileName;
            for (const id of Object.keys(chunk.modules)) if (!id.startsWith("\0")) inputs.add(path.relative(here, id.split("?")[0]).split(path.sep).join("/"));
          }
        },
      },
    ],
  });
  if (!entry) throw new Error("the Vite build produced no entry chunk");
  return { outdir, entry, inputs: [...inputs] };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { outdir } = await bundlePage();
  console.log(`example-browser: page built by Vite into ${path.relative(process.cwd(), outdir)}`);
}
