// Shared helpers of tools/bench/service-bench.mjs: loading the built packages and the plain SDKs they
// resolve, statistics, paired runs, deterministic payloads and the byte-counting pipeline policy.
import { createCipheriv, createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { Transform } from "node:stream";
import { fileURLToPath, pathToFileURL } from "node:url";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
export const MiB = 1024 * 1024;
export const KiB = 1024;
export const REGION = 4 * MiB;
export const CHUNK = 64 * KiB; // what a Node Readable (fs, http) typically yields

/** ESM entry of a package as resolved from `fromPackageJson` (the same module instance the built packages import). */
async function importResolved(fromPackageJson, name) {
  const req = createRequire(fromPackageJson);
  const dir = path.dirname(req.resolve(`${name}/package.json`));
  const pj = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8"));
  const exp = pj.exports?.["."];
  const entry = (typeof exp === "object" && (exp.import?.default ?? exp.import ?? exp.default)) || pj.module || pj.main;
  const mod = await import(pathToFileURL(path.join(dir, entry)).href);
  return { mod, version: pj.version };
}

/**
 * The built @azure-cse packages (dist) and the plain SDKs resolved from them. Everything is loaded in
 * every process (also the plain variants' RSS children) so module memory is the same on both sides.
 */
export async function loadPackages() {
  const dist = (pkg) => import(pathToFileURL(path.join(root, "packages", pkg, "dist", "index.js")).href);
  const [core, blob, queue, tables] = await Promise.all([dist("core-envelope"), dist("storage-blob"), dist("storage-queue"), dist("data-tables")]);
  const blobSdk = await importResolved(path.join(root, "packages", "storage-blob", "package.json"), "@azure/storage-blob");
  const queueSdk = await importResolved(path.join(root, "packages", "storage-queue", "package.json"), "@azure/storage-queue");
  const tablesSdk = await importResolved(path.join(root, "packages", "data-tables", "package.json"), "@azure/data-tables");
  return {
    core, blob, queue, tables,
    blobSdk: blobSdk.mod, queueSdk: queueSdk.mod, tablesSdk: tablesSdk.mod,
    versions: { storageBlob: blobSdk.version, storageQueue: queueSdk.version, dataTables: tablesSdk.version },
  };
}

/** `--name` flags and `--name value` options of a script's command line. */
export function cliOptions(args = process.argv.slice(2)) {
  return {
    flag: (name) => args.includes(name),
    opt: (name, dflt) => {
      const i = args.indexOf(name);
      return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : dflt;
    },
  };
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
export const summary = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length, values: xs.map((x) => Math.round(x * 1000) / 1000) });
export const mbps = (bytes, ms) => bytes / 1e6 / (ms / 1000);
export const ratios = (a, b) => a.map((x, i) => x / b[i]);
export const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : String(x));

/** CPU milliseconds (user + system) a process has used so far, from /proc/PID/stat; NaN where unreadable. */
export function processCpuMs(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}
const CLOCK_TICKS = 100; // USER_HZ on Linux

/**
 * Paired measurement: each repetition runs every variant once, in alternating order (A,B then B,A), so
 * both see the same machine state; returns MB/s per variant per repetition (index-aligned for ratios).
 * A variant returns the number of payload bytes it moved, checked against `expectBytes`.
 * `result.cpu[name]` holds, per repetition, this process's CPU ms (`client`) and, with `serverPid`,
 * the server process's CPU ms (`server`) spent during the variant.
 */
export async function paired(reps, variants, payloadBytes, { expectBytes = payloadBytes, log, serverPid } = {}) {
  const names = Object.keys(variants);
  const out = Object.fromEntries(names.map((n) => [n, []]));
  const cpu = Object.fromEntries(names.map((n) => [n, { client: [], server: [] }]));
  for (let rep = 0; rep < reps; rep++) {
    const order = rep % 2 ? [...names].reverse() : names;
    for (const name of order) {
      globalThis.gc?.();
      const c0 = process.cpuUsage();
      const s0 = serverPid ? processCpuMs(serverPid) : NaN;
      const t0 = performance.now();
      const moved = await variants[name]();
      const ms = performance.now() - t0;
      const c = process.cpuUsage(c0);
      cpu[name].client.push((c.user + c.system) / 1000);
      if (serverPid) cpu[name].server.push(processCpuMs(serverPid) - s0);
      if (moved !== expectBytes) throw new Error(`${name} moved ${moved} bytes, expected ${expectBytes}`);
      out[name].push(mbps(payloadBytes, ms));
    }
    log?.(rep, Object.fromEntries(names.map((n) => [n, out[n][rep]])));
  }
  Object.defineProperty(out, "cpu", { value: cpu, enumerable: false });
  return out;
}

/**
 * Deterministic 64 KiB pattern (AES-CTR keystream of a fixed key): payload byte i is pattern[i % 64 KiB],
 * so a child process and the parent agree on every byte without passing data around.
 */
export function pattern(seed = "azcse-bench") {
  const key = createHash("sha256").update(seed).digest();
  return createCipheriv("aes-256-ctr", key, Buffer.alloc(16)).update(Buffer.alloc(CHUNK));
}
/** Pattern bytes [offset, offset + count). */
export function patternSlice(pat, offset, count) {
  const out = Buffer.allocUnsafe(count);
  for (let i = 0; i < count; ) {
    const p = (offset + i) % pat.length;
    const n = Math.min(count - i, pat.length - p);
    pat.copy(out, i, p, p + n);
    i += n;
  }
  return out;
}
/** `bytes` of the pattern as 64 KiB chunks (a stream source; the same chunk object is yielded repeatedly). */
export function* patternChunks(pat, bytes) {
  for (let sent = 0; sent < bytes; sent += pat.length) yield sent + pat.length <= bytes ? pat : pat.subarray(0, bytes - sent);
}
/** A buffer's bytes as 64 KiB views. */
export function* chunksOf(buf, size = CHUNK) {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

export async function drain(stream) {
  let n = 0;
  for await (const c of stream) n += c.length;
  return n;
}

/**
 * The same BlobClient, with every `download()` logged (offset, count) and its response body counted as it
 * is delivered: the body stream is wrapped in a counting Transform. Everything else passes through.
 */
export function countingBlobClient(client, log) {
  const wrapDownload = async (offset, count, options) => {
    const res = await client.download(offset, count, options);
    const entry = { method: "GET", range: `${offset ?? 0}+${count ?? "*"}`, contentLength: res.contentLength, bodyBytes: 0 };
    log.push(entry);
    const body = res.readableStreamBody;
    if (!body) return res;
    const counter = new Transform({
      transform(chunk, _enc, cb) {
        entry.bodyBytes += chunk.length;
        cb(null, chunk);
      },
    });
    body.on("error", (e) => counter.destroy(e));
    body.pipe(counter);
    return new Proxy(res, { get: (t, k) => (k === "readableStreamBody" ? counter : Reflect.get(t, k, t)) });
  };
  const wrapProps = async (options) => {
    const res = await client.getProperties(options);
    log.push({ method: "HEAD", range: null, contentLength: 0, bodyBytes: 0 });
    return res;
  };
  return new Proxy(client, {
    get(t, k) {
      if (k === "download") return wrapDownload;
      if (k === "getProperties") return wrapProps;
      const v = Reflect.get(t, k, t);
      return typeof v === "function" ? v.bind(t) : v;
    },
  });
}

/** This process image's own peak RSS in MiB (VmHWM; getrusage carries the parent's peak across fork+exec). */
export function peakRssMiB() {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
  return m ? Number(m[1]) / 1024 : process.memoryUsage().rss / MiB;
}
