/* global window */
// Benchmarks (not tests) for the browser entries, on this machine: gzipped bundle sizes per package, AES-GCM 2.x
// region throughput (4 MiB regions, encrypt and decrypt of 64 MiB) with the Web Crypto backend in headless
// Chromium and in Node beside the Node (node:crypto) backend, and download throughput of an encrypted blob from
// Azurite (--download-mib, default 256): in Chromium, on the page as Vite builds it (@azure-cse/storage-blob/web over fetch, and a plain fetch of
// the stored bytes), in Node (the Node entry; the web entry over SDK chunks). Needs a build (`npx turbo run build`).
// Usage: node examples/browser/bench.mjs [--mib 64] [--download-mib 256]
import { build } from "esbuild";
import { createServer } from "node:http";
import { gzipSync } from "node:zlib";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { bundlePage } from "./build.mjs";
import * as web from "@azure-cse/core-envelope/web";
import * as node from "@azure-cse/core-envelope";
import { BlobServiceClient, ContainerSASPermissions, StorageSharedKeyCredential, generateBlobSASQueryParameters } from "@azure/storage-blob";
import { EncryptedContainerClient } from "@azure-cse/storage-blob";
import { openDecryptedBlob } from "@azure-cse/storage-blob/web";
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite } from "@azure-cse/testkit";

const here = path.dirname(fileURLToPath(import.meta.url));
const mibArg = process.argv.indexOf("--mib");
const MIB = mibArg > 0 ? Number(process.argv[mibArg + 1]) : 64;
const dlArg = process.argv.indexOf("--download-mib");
const DL_MIB = dlArg > 0 ? Number(process.argv[dlArg + 1]) : 256;
const REGION = 4 * 1024 * 1024;

async function gzipped(entryCode, resolveDir, external = []) {
  const r = await build({ stdin: { contents: entryCode, resolveDir, loader: "ts" }, bundle: true, minify: true, format: "esm", platform: "browser", target: "es2022", write: false, logLevel: "silent", external });
  const bytes = r.outputFiles[0].contents;
  return { minified: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
}

const sizes = {
  "@azure-cse/core-envelope/web (everything)": await gzipped(`export * from "@azure-cse/core-envelope/web";`, here),
  "@azure-cse/core-envelope/web (encrypt + decrypt + JWK keys)": await gzipped(`export { createWebContentEncryption, decryptWebRange, parseEncryptionData, webKeyFromJwk } from "@azure-cse/core-envelope/web";`, here),
  "@azure/storage-blob browser build (ContainerClient)": await gzipped(`export { ContainerClient } from "@azure/storage-blob";`, here),
  "@azure-cse/storage-blob/web (everything, with core web; SDK external)": await gzipped(`export * from "@azure-cse/storage-blob/web";`, here, ["@azure/*"]),
  "@azure-cse/storage-blob/web + ContainerClient (upload + download)": await gzipped(`export { uploadEncryptedBlob, downloadDecryptedBlob, webKeyFromJwk } from "./src/bench-entries.ts"; export { ContainerClient } from "@azure/storage-blob";`, here),
  "@azure-cse/storage-queue/web (everything, with core web; SDK external)": await gzipped(`export * from "@azure-cse/storage-queue/web";`, here, ["@azure/*"]),
  "@azure/storage-queue browser build (QueueClient)": await gzipped(`export { QueueClient } from "@azure/storage-queue";`, here),
  "@azure-cse/data-tables/web (everything, with core web; SDK external)": await gzipped(`export * from "@azure-cse/data-tables/web";`, here, ["@azure/*"]),
  "@azure/data-tables browser build (TableClient)": await gzipped(`export { TableClient, AzureSASCredential } from "@azure/data-tables";`, here),
  "examples/browser page (all of the above + UI), esbuild": await gzipped(`import "./src/page.ts";`, here),
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

// Chromium: the page (the Vite build, as `npx vite build` makes it) exposes the backend; the data is generated in the page.
const { outdir, entry } = await bundlePage({ outdir: mkdtempSync(path.join(tmpdir(), "azcse-browser-bench-")) });
{
  const bytes = readFileSync(path.join(outdir, entry));
  sizes["examples/browser page (all of the above + UI), Vite build"] = { minified: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
}
const server = createServer(async (req, res) => {
  const { readFile } = await import("node:fs/promises");
  const url = req.url.split("?")[0];
  const file = url === "/" ? "index.html" : path.normalize(url).replace(/^(\.\.[/\\])+/, "").replace(/^[/\\]+/, "");
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

// Download throughput against Azurite (in memory, same machine): one 2.0 blob written by the Node entry.
const azurite = await startAzurite();
const download = {};
try {
  const service = BlobServiceClient.fromConnectionString(azurite.connectionString);
  await service.setProperties({ cors: [{ allowedOrigins: "*", allowedMethods: "GET,HEAD,OPTIONS,PUT", allowedHeaders: "*", exposedHeaders: "*", maxAgeInSeconds: 600 }] });
  const container = service.getContainerClient(`bench${Date.now()}`);
  await container.create();
  const kek = node.AesKeyWrapKey.generate("local:bench");
  const policy = { keyEncryptionKey: kek };
  const chunk = Buffer.from(data.subarray(0, REGION));
  async function* body() {
    for (let i = 0; i < (DL_MIB * 1024 * 1024) / REGION; i++) yield chunk;
  }
  await new EncryptedContainerClient(container, policy).getBlobClient("big").uploadStream(body(), { concurrency: 6 });
  const sas = generateBlobSASQueryParameters(
    { containerName: container.containerName, permissions: ContainerSASPermissions.parse("rl"), expiresOn: new Date(Date.now() + 3600_000) },
    new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
  ).toString();
  const rate = (ms) => (DL_MIB / (ms / 1000)).toFixed(0);
  let t = performance.now();
  let n = 0;
  for await (const c of (await new EncryptedContainerClient(container, policy).getBlobClient("big").download()).readableStreamBody) n += c.length;
  download["Node entry (EncryptedBlobClient.download stream)"] = rate(performance.now() - t);
  t = performance.now();
  for await (const c of (await openDecryptedBlob(container.getBlobClient("big"), policy, { transport: "sdk" })).body) n += c.length;
  download["storage-blob/web in Node (SDK chunks of 4 MiB)"] = rate(performance.now() - t);
  await page.fill("#sas", `${container.url}?${sas}`);
  await page.evaluate((jwk) => window.azcse.importKeys([jwk]), kek.toJwk());
  const inPage = await page.evaluate((n) => window.azcse.streamChecksum(n), "big");
  download["storage-blob/web in Chromium (fetch stream, decrypt, checksum)"] = rate(inPage.ms);
  const plain = await page.evaluate(async (url) => {
    const t0 = performance.now();
    const r = (await fetch(url)).body.getReader();
    for (;;) {
      const { done } = await r.read();
      if (done) break;
    }
    return performance.now() - t0;
  }, `${container.url}/big?${sas}`);
  download["plain fetch of the stored bytes in Chromium (no decryption)"] = rate(plain);
  if (n !== 2 * DL_MIB * 1024 * 1024) throw new Error("benchmark downloaded the wrong length");
} finally {
  await azurite.stop();
  await browser.close();
  server.close();
  rmSync(outdir, { recursive: true, force: true });
}

console.log(JSON.stringify({ machine: `${process.platform} ${process.arch}, Node ${process.version}`, mib: MIB, regionSize: REGION, gzipBytes: sizes, throughputMiBps: { ...nodeResults, ...chromiumResults }, downloadMiB: DL_MIB, downloadMiBps: download }, null, 2));
