/* global window */
// Benchmarks (not tests) for the browser backend, on this machine: gzipped bundle sizes, and AES-GCM 2.x
// region throughput (4 MiB regions, encrypt and decrypt of 64 MiB) with the Web Crypto backend in headless
// Chromium and in Node, beside the Node (node:crypto) backend. Needs a build (`npx turbo run build`).
// Usage: node examples/browser/bench.mjs [--mib 64]
import { build } from "esbuild";
import { createServer } from "node:http";
import { gzipSync } from "node:zlib";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { bundlePage } from "./build.mjs";
import * as web from "@azure-cse/core-envelope/web";
import * as node from "@azure-cse/core-envelope";

const here = path.dirname(fileURLToPath(import.meta.url));
const mibArg = process.argv.indexOf("--mib");
const MIB = mibArg > 0 ? Number(process.argv[mibArg + 1]) : 64;
const REGION = 4 * 1024 * 1024;

async function gzipped(entryCode, resolveDir) {
  const r = await build({ stdin: { contents: entryCode, resolveDir, loader: "ts" }, bundle: true, minify: true, format: "esm", platform: "browser", target: "es2022", write: false, logLevel: "silent" });
  const bytes = r.outputFiles[0].contents;
  return { minified: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
}

const sizes = {
  "@azure-cse/core-envelope/web (everything)": await gzipped(`export * from "@azure-cse/core-envelope/web";`, here),
  "@azure-cse/core-envelope/web (encrypt + decrypt + JWK keys)": await gzipped(`export { createWebContentEncryption, decryptWebRange, parseEncryptionData, webKeyFromJwk } from "@azure-cse/core-envelope/web";`, here),
  "@azure/storage-blob browser build (ContainerClient)": await gzipped(`export { ContainerClient } from "@azure/storage-blob";`, here),
  "examples/browser page (all of the above + UI)": await gzipped(`import "./src/page.ts";`, here),
};

const data = new Uint8Array(MIB * 1024 * 1024).map((_, i) => (i * 2654435761) >>> 24);
const cek = new Uint8Array(32).fill(7);
async function timeIt(fn) {
  const t = performance.now();
  await fn();
  return (MIB / ((performance.now() - t) / 1000)).toFixed(0);
}
async function drain(it) {
  const out = [];
  for await (const c of it) out.push(c);
  return out;
}
let stored;
const nodeResults = {
  "node:crypto backend, encrypt": await timeIt(async () => (stored = Buffer.concat(await drain(node.encryptGcmRegions([data], cek, REGION))))),
  "node:crypto backend, decrypt": await timeIt(() => drain(node.decryptGcmRegions([stored], cek, REGION))),
  "Web Crypto backend in Node, encrypt": await timeIt(() => drain(web.encryptWebGcmRegions(data, cek, REGION))),
  "Web Crypto backend in Node, decrypt": await timeIt(() => drain(web.decryptWebGcmRegions(stored, cek, REGION))),
};

// Chromium: the page bundle exposes the backend; the data is generated in the page.
const { outdir } = await bundlePage({ outdir: mkdtempSync(path.join(tmpdir(), "azcse-browser-bench-")) });
const server = createServer(async (req, res) => {
  const { readFile } = await import("node:fs/promises");
  const file = req.url === "/" ? "index.html" : path.basename(req.url);
  const body = await readFile(path.join(outdir, file)).catch(() => undefined);
  if (body === undefined) return res.writeHead(404).end();
  res.writeHead(200, { "content-type": file.endsWith(".html") ? "text/html" : "text/javascript" }).end(body);
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const browser = await chromium.launch({ executablePath: process.env.AZCSE_CHROMIUM ?? "/usr/bin/chromium", args: ["--no-sandbox"] });
const page = await browser.newPage();
await page.goto(`http://127.0.0.1:${server.address().port}/`);
await page.waitForFunction(() => typeof window.azcse === "object");
const chromiumResults = await page.evaluate(async (mib) => window.azcse.benchRegions(mib), MIB);
await browser.close();
server.close();
rmSync(outdir, { recursive: true, force: true });

console.log(JSON.stringify({ machine: `${process.platform} ${process.arch}, Node ${process.version}`, mib: MIB, regionSize: REGION, gzipBytes: sizes, throughputMiBps: { ...nodeResults, ...chromiumResults } }, null, 2));
