#!/usr/bin/env node
// Ops benchmark: client cost per object of `azcse scan`, `migrate` (1.0 → 2.0) and `rotate-key` against
// Azurite, for small blobs written by the official Python SDK. The CLI (packages/cli/dist, built) runs in a
// child process that reports its own CPU time (user + system) around main(), so Azurite's CPU and the
// Python setup are not counted; a counting proxy between the CLI and Azurite records every request by
// operation. Not a test: numbers depend on the machine (see docs/operations.md for this machine's).
//
//   node tools/bench/ops-bench.mjs                 400 blobs of 1 KiB, concurrency 8
//   options: --count N  --size BYTES  --concurrency N  --tags (every blob gets two tags)  --json FILE
//            --state-blob (keep the state in a blob: --state) --cpu-prof DIR (V8 profile of the migrate child)
//            --cli FILE (another build's index.js, e.g. of an older commit, for before/after figures)
//            --legacy-flags (only flags every version has: no --summary/--no-plan)
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { cliOptions } from "./service/util.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..");
const testkit = await import(pathToFileURL(path.join(root, "tools", "testkit", "index.mjs")).href);
const cliArg = process.argv.indexOf("--cli");
const cliDist = cliArg > 0 ? path.resolve(process.argv[cliArg + 1]) : path.join(root, "packages", "cli", "dist", "index.js");
const core = await import(pathToFileURL(path.join(root, "packages", "core-envelope", "dist", "index.js")).href);

const cli = cliOptions();
const opts = { tags: cli.flag("--tags"), "state-blob": cli.flag("--state-blob"), json: cli.opt("--json"), "cpu-prof": cli.opt("--cpu-prof") };
const COUNT = Number(cli.opt("--count", 400));
const SIZE = Number(cli.opt("--size", 1024));
const CONCURRENCY = Number(cli.opt("--concurrency", 8));

/** A forwarding proxy that counts requests per "METHOD comp" (e.g. "GET tags", "PUT block", "HEAD"). */
function countingProxy(target) {
  const counts = new Map();
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, "http://x");
    const comp = u.searchParams.get("comp") ?? (u.searchParams.get("restype") === "container" ? "container" : "");
    const key = `${req.method}${comp ? " " + comp : ""}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    if (process.env.OPS_BENCH_LOG && (process.env.OPS_BENCH_LOG === "all" ? req.url.includes("000001") : counts.get(key) <= 2)) process.stderr.write(`${key}: ${req.url} range=${req.headers["x-ms-range"] ?? req.headers.range ?? ""}\n`);
    const up = http.request({ host: "127.0.0.1", port: target, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode, r.rawHeaders);
      r.pipe(res);
    });
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ server, port: server.address().port, counts })));
}

/** Runs `azcse ARGS` in a child that prints its CPU time around main() as the last stderr line. */
function cliChild(args, env, cpuProfDir) {
  const code = `
    const { main } = await import(${JSON.stringify(pathToFileURL(cliDist).href)});
    const c0 = process.cpuUsage(); const t0 = performance.now();
    let out = "";
    const rc = await main(JSON.parse(process.env.AZCSE_ARGS), { stdout: (s) => { out += s; }, stderr: () => {} });
    const c = process.cpuUsage(c0);
    process.stderr.write(JSON.stringify({ rc, userMs: c.user / 1000, systemMs: c.system / 1000, wallMs: performance.now() - t0, outLength: out.length, out: out.length < 200000 ? out : "" }) + "\\n");
  `;
  const flags = cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${cpuProfDir}`] : [];
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [...flags, "--input-type=module", "-e", code], { env: { ...process.env, ...env, AZCSE_ARGS: JSON.stringify(args) }, stdio: ["ignore", "inherit", "pipe"] });
    let err = "";
    p.stderr.on("data", (d) => (err += d));
    p.on("error", reject);
    p.on("exit", (rc) => {
      const last = err.trim().split("\n").pop();
      try {
        resolve(JSON.parse(last));
      } catch {
        reject(new Error(`azcse ${args[0]} child exited ${rc}: ${err.slice(-1000)}`));
      }
    });
  });
}

const dir = mkdtempSync(path.join(tmpdir(), "azcse-ops-bench-"));
const az = await testkit.startAzurite();
const proxy = await countingProxy(az.blobPort);
const proxiedCs = az.connectionString.replace(/BlobEndpoint=http:\/\/127\.0\.0\.1:\d+/, `BlobEndpoint=http://127.0.0.1:${proxy.port}`);
try {
  const keys = ["bench-old", "bench-new", "bench-rot"].map((kid) => {
    const k = core.AesKeyWrapKey.generate(kid);
    const file = path.join(dir, `${kid}.jwk`);
    writeFileSync(file, JSON.stringify(k.toJwk()), { mode: 0o600 });
    return { kid, file, jwk: k.toJwk() };
  });
  const peer = testkit.PYTHON_KEK_PRELUDE + readFileSync(path.join(root, "packages", "cli", "test", "ops_peer.py"), "utf8");
  const blobs = Array.from({ length: COUNT }, (_, i) => ({
    name: `bench/${String(i).padStart(6, "0")}.bin`,
    protocol: "1.0",
    size: SIZE,
    seed: `b${i}`,
    kek: keys[0].jwk,
    metadata: { n: String(i) },
    ...(opts.tags ? { tags: { project: "bench", n: String(i) } } : {}),
  }));
  const { BlobServiceClient } = createRequire(path.join(root, "packages", "cli", "package.json"))("@azure/storage-blob");
  await BlobServiceClient.fromConnectionString(az.connectionString).getContainerClient("bench").create();
  const t0 = Date.now();
  await testkit.runPython(peer, { op: "write", cs: az.connectionString, container: "bench", blobs }, { timeoutMs: 600_000 });
  process.stderr.write(`python wrote ${COUNT} blobs of ${SIZE} B in ${Date.now() - t0} ms\n`);

  const env = { AZURE_STORAGE_CONNECTION_STRING: proxiedCs };
  const state = (name) => (opts["state-blob"] ? ["--state", `bench-state/${name}.json`] : ["--resume", path.join(dir, `${name}.state.json`)]);
  const common = ["--concurrency", String(CONCURRENCY), "--progress", "none", ...(cli.flag("--legacy-flags") ? [] : ["--summary", "--no-plan"])];
  const steps = [
    ["scan", ["scan", "bench", "--json"]],
    ["migrate", ["migrate", "bench", "--key", keys[0].file, "--new-key", keys[1].file, ...common, ...state("migrate")]],
    ["rotate-key", ["rotate-key", "bench", "--key", keys[1].file, "--new-key", keys[2].file, ...common, ...state("rotate")]],
  ];
  const results = {};
  for (const [name, args] of steps) {
    proxy.counts.clear();
    const r = await cliChild(args, env, name === "migrate" ? opts["cpu-prof"] : undefined);
    if (r.rc !== 0) throw new Error(`${name} exited ${r.rc}: ${r.out.slice(0, 500)}`);
    const requests = Object.fromEntries([...proxy.counts.entries()].sort());
    const total = [...proxy.counts.values()].reduce((a, b) => a + b, 0);
    results[name] = {
      objects: COUNT,
      cpuMsPerObject: +((r.userMs + r.systemMs) / COUNT).toFixed(3),
      wallMsPerObject: +(r.wallMs / COUNT).toFixed(3),
      objectsPerSecond: +((1000 * COUNT) / r.wallMs).toFixed(1),
      requestsPerObject: +(total / COUNT).toFixed(2),
      requests,
    };
    process.stderr.write(`${name.padEnd(10)} ${results[name].cpuMsPerObject} ms CPU/object, ${results[name].wallMsPerObject} ms wall/object (${results[name].objectsPerSecond}/s), ${results[name].requestsPerObject} requests/object ${JSON.stringify(requests)}\n`);
  }
  const summary = { node: process.version, cli: path.relative(root, cliDist), count: COUNT, size: SIZE, concurrency: CONCURRENCY, tags: Boolean(opts.tags), stateBlob: Boolean(opts["state-blob"]), results };
  console.log(JSON.stringify(summary, null, 2));
  if (opts.json) writeFileSync(opts.json, JSON.stringify(summary, null, 2) + "\n");
} finally {
  proxy.server.close();
  await az.stop();
  rmSync(dir, { recursive: true, force: true });
}
