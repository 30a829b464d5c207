#!/usr/bin/env node
// Benchmark of @azure-cse/core-envelope (the built package) against raw node:crypto and the Python
// SDK's own helpers. Paired runs: inside one repetition every variant runs back to back (A, B, A, B …),
// the ratio is taken inside the repetition and the median ratio is reported. Not a test: numbers
// depend on the machine (see /work/shared/PERF.md for this machine's anchors).
//
//   npm run bench                      build, then every section (256 MiB, 7 repetitions)
//   node tools/bench/bench.mjs --quick 64 MiB, 3 repetitions, Python on 64 MiB, RSS 64 MiB vs 256 MiB
//   options: --reps N  --size-mib N  --only gcm,cbc,python,rss  --no-python  --out FILE
import { spawn, spawnSync } from "node:child_process";
import { createCipheriv, createDecipheriv, randomBytes, randomFillSync } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";
import { cliOptions } from "./service/util.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..");
const core = await import(pathToFileURL(path.join(root, "packages", "core-envelope", "dist", "index.js")).href);
const { encryptGcmRegions, decryptGcmRegions, encryptCbc, decryptCbc, collectBytes } = core;

const MiB = 1024 * 1024;
const REGION = 4 * MiB;
const CHUNK = 64 * 1024; // what a Node Readable (fs, http) typically yields

// ---------------------------------------------------------------------------------------------
// Child mode: peak RSS of one streaming encrypt → decrypt pipeline of N bytes, nothing else.
if (process.argv[2] === "--rss-child") {
  const bytes = Number(process.argv[3]);
  const mode = process.argv[4] ?? "pipeline";
  const cek = randomBytes(32);
  const chunk = randomBytes(CHUNK);
  async function* source() {
    for (let sent = 0; sent < bytes; sent += CHUNK) yield sent + CHUNK <= bytes ? chunk : chunk.subarray(0, bytes - sent);
  }
  let out = 0;
  let sampledPeak = 0; // fallback where /proc is missing
  const sampler = setInterval(() => (sampledPeak = Math.max(sampledPeak, process.memoryUsage().rss)), 20);
  const t0 = performance.now();
  if (mode === "pipeline") {
    for await (const c of decryptGcmRegions(encryptGcmRegions(source(), cek, REGION), cek, REGION)) out += c.length;
  }
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  if (mode === "pipeline" && out !== bytes) throw new Error(`pipeline lost bytes: ${out} of ${bytes}`);
  // mode "idle": the same process (package imported, key and chunk allocated) without streaming.
  // VmHWM is this process image's own peak RSS. getrusage's maxRSS is not usable here: Linux carries
  // the parent's peak across fork + exec, so every child would report at least the parent's RSS.
  let peakKiB = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"))?.[1]);
  if (!Number.isFinite(peakKiB)) peakKiB = Math.max(process.memoryUsage().rss, sampledPeak) / 1024;
  process.stdout.write(JSON.stringify({ bytes, maxRssKiB: peakKiB, seconds }) + "\n");
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
const { flag, opt } = cliOptions();
const quick = flag("--quick");
const reps = Number(opt("--reps", quick ? 3 : 7));
const sizeMiB = Number(opt("--size-mib", quick ? 64 : 256));
const only = new Set(opt("--only", "gcm,cbc,python,rss").split(","));
if (flag("--no-python")) only.delete("python");
const SIZE = sizeMiB * MiB;
const PYTHON = "/usr/bin/python3";

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const mbps = (bytes, ms) => bytes / 1e6 / (ms / 1000);
const summary = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length });
const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : String(x));

async function drain(gen) {
  let n = 0;
  for await (const c of gen) n += c.length;
  return n;
}
function* chunksOf(buf, size) {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}
async function time(fn) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await fn();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000, result: r };
}

// Raw node:crypto on the same 4 MiB regions (one cipher per region, python nonce scheme).
function rawGcmEncrypt(cek, plain) {
  let n = 0;
  for (let i = 0, r = 0; i < plain.length; i += REGION, r++) {
    const nonce = Buffer.alloc(12);
    nonce.writeBigUInt64BE(BigInt(r), 4);
    const c = createCipheriv("aes-256-gcm", cek, nonce);
    const body = c.update(plain.subarray(i, i + REGION));
    const fin = c.final();
    const tag = c.getAuthTag();
    n += nonce.length + body.length + fin.length + tag.length;
  }
  return n;
}
function rawGcmDecrypt(cek, stored) {
  const R = REGION + 28;
  let n = 0;
  for (let i = 0; i < stored.length; i += R) {
    const region = stored.subarray(i, Math.min(stored.length, i + R));
    const d = createDecipheriv("aes-256-gcm", cek, region.subarray(0, 12));
    d.setAuthTag(region.subarray(region.length - 16));
    const body = d.update(region.subarray(12, region.length - 16));
    const fin = d.final();
    n += body.length + fin.length;
  }
  return n;
}
function rawCbcEncrypt(cek, iv, plain) {
  const c = createCipheriv("aes-256-cbc", cek, iv);
  let n = 0;
  for (const part of chunksOf(plain, REGION)) n += c.update(part).length;
  return n + c.final().length;
}
function rawCbcDecrypt(cek, iv, stored) {
  const d = createDecipheriv("aes-256-cbc", cek, iv);
  let n = 0;
  for (const part of chunksOf(stored, REGION)) n += d.update(part).length;
  return n + d.final().length;
}

/**
 * Runs the variants round-robin `reps` times after one warm-up round; returns wall-clock MB/s per
 * variant, and in `results.cpu` the same from process CPU time (steadier on a shared machine).
 */
async function paired(variants, bytes) {
  const results = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  const cpu = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  Object.defineProperty(results, "cpu", { value: cpu, enumerable: false });
  for (let rep = -1; rep < reps; rep++) {
    const names = Object.keys(variants);
    if (rep % 2 === 1) names.reverse(); // A,B then B,A: no fixed order advantage
    for (const name of names) {
      globalThis.gc?.();
      const { ms, cpuMs, result } = await time(variants[name]);
      if (result !== bytes.get(name)) throw new Error(`${name} produced ${result} bytes, expected ${bytes.get(name)}`);
      if (rep >= 0) {
        results[name].push(mbps(bytes.get("payload"), ms));
        cpu[name].push(mbps(bytes.get("payload"), cpuMs));
      }
    }
  }
  return results;
}
const ratios = (a, b) => a.map((x, i) => x / b[i]);

const report = { machine: { node: process.version, cpus: (await import("node:os")).cpus().map((c) => c.model)[0], quick, reps, sizeMiB }, sections: {} };
const rows = [];
function row(section, figure, values, target) {
  const s = summary(values);
  rows.push({ section, figure, ...s, target: target ?? "" });
  return s;
}

console.log(`[bench] ${sizeMiB} MiB, ${reps} paired repetitions (+1 warm-up), node ${process.version}`);
const plain = Buffer.allocUnsafe(SIZE);
randomFillSync(plain);
const cek = randomBytes(32);
const iv = randomBytes(16);

if (only.has("gcm")) {
  const storedLen = SIZE + Math.ceil(SIZE / REGION) * 28;
  const stored = await collectBytes(encryptGcmRegions(chunksOf(plain, REGION), cek, REGION));
  const bytes = new Map([
    ["payload", SIZE],
    ["raw", storedLen],
    ["core64k", storedLen],
    ["core4m", storedLen],
  ]);
  console.log("[bench] 2.x GCM encrypt …");
  const enc = await paired(
    {
      raw: () => rawGcmEncrypt(cek, plain),
      core64k: () => drain(encryptGcmRegions(chunksOf(plain, CHUNK), cek, REGION)),
      core4m: () => drain(encryptGcmRegions(chunksOf(plain, REGION), cek, REGION)),
    },
    bytes,
  );
  console.log("[bench] 2.x GCM decrypt …");
  const dbytes = new Map([
    ["payload", SIZE],
    ["raw", SIZE],
    ["core64k", SIZE],
    ["core4m", SIZE],
  ]);
  const dec = await paired(
    {
      raw: () => rawGcmDecrypt(cek, stored),
      core64k: () => drain(decryptGcmRegions(chunksOf(stored, CHUNK), cek, REGION)),
      core4m: () => drain(decryptGcmRegions(chunksOf(stored, REGION + 28), cek, REGION)),
    },
    dbytes,
  );
  report.sections.gcm = {
    encrypt: { raw: summary(enc.raw), core64k: summary(enc.core64k), core4m: summary(enc.core4m) },
    decrypt: { raw: summary(dec.raw), core64k: summary(dec.core64k), core4m: summary(dec.core4m) },
    ratios: {
      encrypt64k: summary(ratios(enc.core64k, enc.raw)),
      encrypt4m: summary(ratios(enc.core4m, enc.raw)),
      decrypt64k: summary(ratios(dec.core64k, dec.raw)),
      decrypt4m: summary(ratios(dec.core4m, dec.raw)),
    },
  };
  row("gcm", "raw node GCM encrypt, per 4 MiB region (MB/s)", enc.raw);
  row("gcm", "core encryptGcmRegions, 64 KiB source chunks (MB/s)", enc.core64k);
  row("gcm", "core encryptGcmRegions, 4 MiB source chunks (MB/s)", enc.core4m);
  row("gcm", "ratio core/raw encrypt, 64 KiB chunks", ratios(enc.core64k, enc.raw), ">= 0.9");
  row("gcm", "ratio core/raw encrypt, 4 MiB chunks", ratios(enc.core4m, enc.raw), ">= 0.9");
  row("gcm", "raw node GCM decrypt + tag, per region (MB/s)", dec.raw);
  row("gcm", "core decryptGcmRegions, 64 KiB chunks (MB/s)", dec.core64k);
  row("gcm", "core decryptGcmRegions, 4 MiB+28 chunks (MB/s)", dec.core4m);
  row("gcm", "ratio core/raw decrypt, 64 KiB chunks", ratios(dec.core64k, dec.raw), ">= 0.85");
  row("gcm", "ratio core/raw decrypt, 4 MiB+28 chunks", ratios(dec.core4m, dec.raw), ">= 0.85");
  row("gcm", "ratio core/raw encrypt, 64 KiB chunks, CPU time", ratios(enc.cpu.core64k, enc.cpu.raw), ">= 0.9");
  row("gcm", "ratio core/raw decrypt, 64 KiB chunks, CPU time", ratios(dec.cpu.core64k, dec.cpu.raw), ">= 0.85");
  report.sections.gcm.cpuRatios = {
    encrypt64k: summary(ratios(enc.cpu.core64k, enc.cpu.raw)),
    decrypt64k: summary(ratios(dec.cpu.core64k, dec.cpu.raw)),
  };
}

if (only.has("cbc")) {
  console.log("[bench] 1.0 CBC encrypt/decrypt …");
  const storedLen = SIZE + 16 - (SIZE % 16);
  const stored = await collectBytes(encryptCbc(chunksOf(plain, REGION), cek, iv));
  const ebytes = new Map([
    ["payload", SIZE],
    ["raw", storedLen],
    ["core", storedLen],
  ]);
  const enc = await paired({ raw: () => rawCbcEncrypt(cek, iv, plain), core: () => drain(encryptCbc(chunksOf(plain, CHUNK), cek, iv)) }, ebytes);
  const dbytes = new Map([
    ["payload", SIZE],
    ["raw", SIZE],
    ["core", SIZE],
  ]);
  const dec = await paired(
    { raw: () => rawCbcDecrypt(cek, iv, stored), core: () => drain(decryptCbc(chunksOf(stored, CHUNK), cek, iv, { unpad: true })) },
    dbytes,
  );
  report.sections.cbc = {
    encrypt: { raw: summary(enc.raw), core: summary(enc.core), ratio: summary(ratios(enc.core, enc.raw)) },
    decrypt: { raw: summary(dec.raw), core: summary(dec.core), ratio: summary(ratios(dec.core, dec.raw)) },
  };
  row("cbc", "raw node CBC encrypt, 4 MiB updates (MB/s)", enc.raw);
  row("cbc", "core encryptCbc, 64 KiB chunks (MB/s)", enc.core, ">= 750 MB/s");
  row("cbc", "ratio core/raw CBC encrypt", ratios(enc.core, enc.raw));
  row("cbc", "raw node CBC decrypt (MB/s)", dec.raw);
  row("cbc", "core decryptCbc, 64 KiB chunks (MB/s)", dec.core, ">= 2500 MB/s");
  row("cbc", "ratio core/raw CBC decrypt", ratios(dec.core, dec.raw));
}

if (only.has("python")) {
  const pyMiB = quick ? 64 : 256;
  const PY_SIZE = pyMiB * MiB;
  console.log(`[bench] vs Python SDK encrypt_blob/decrypt_blob on ${pyMiB} MiB (fresh python process per repetition) …`);
  const dir = mkdtempSync(path.join(tmpdir(), "azcse-bench-"));
  try {
    const file = path.join(dir, "plain.bin");
    writeFileSync(file, plain.subarray(0, PY_SIZE));
    const pyScript = `
import sys, json, time, os
from cryptography.hazmat.primitives.keywrap import aes_key_wrap, aes_key_unwrap
from azure.storage.blob._encryption import encrypt_blob, decrypt_blob
class Kek:
    def __init__(self): self.key = os.urandom(32)
    def wrap_key(self, k): return aes_key_wrap(self.key, k)
    def unwrap_key(self, k, alg): return aes_key_unwrap(self.key, k)
    def get_kid(self): return 'bench'
    def get_key_wrap_algorithm(self): return 'A256KW'
data = open(sys.argv[1], 'rb').read()
kek = Kek()
t0 = time.perf_counter(); meta, stored = encrypt_blob(data, kek, '2.0'); t1 = time.perf_counter()
out = decrypt_blob(True, kek, None, stored, 0, None, {'x-ms-meta-encryptiondata': meta, 'x-ms-blob-type': 'BlockBlob'}); t2 = time.perf_counter()
assert len(out) == len(data) and bytes(out[:64]) == data[:64] and bytes(out[-64:]) == data[-64:]
print(json.dumps({'encrypt_s': t1 - t0, 'decrypt_s': t2 - t1}))
`;
    const pyPlain = plain.subarray(0, PY_SIZE);
    const pyStored = await collectBytes(encryptGcmRegions(chunksOf(pyPlain, REGION), cek, REGION));
    const res = { coreEnc: [], pyEnc: [], coreDec: [], pyDec: [] };
    for (let rep = -1; rep < reps; rep++) {
      const runPy = () => {
        const r = spawnSync(PYTHON, ["-c", pyScript, file], { encoding: "utf8", maxBuffer: 1 << 20, env: { ...process.env, PYTHONWARNINGS: "ignore" } });
        if (r.status !== 0) throw new Error(`python failed: ${r.stderr.slice(-2000)}`);
        return JSON.parse(r.stdout.trim().split("\n").pop());
      };
      const runNode = async () => {
        const e = await time(() => drain(encryptGcmRegions(chunksOf(pyPlain, CHUNK), cek, REGION)));
        const d = await time(() => drain(decryptGcmRegions(chunksOf(pyStored, CHUNK), cek, REGION)));
        return { e: mbps(PY_SIZE, e.ms), d: mbps(PY_SIZE, d.ms) };
      };
      let py, nd;
      if (rep % 2 === 0) {
        py = runPy();
        nd = await runNode();
      } else {
        nd = await runNode();
        py = runPy();
      }
      if (rep < 0) continue;
      res.coreEnc.push(nd.e);
      res.coreDec.push(nd.d);
      res.pyEnc.push(PY_SIZE / 1e6 / py.encrypt_s);
      res.pyDec.push(PY_SIZE / 1e6 / py.decrypt_s);
    }
    report.sections.python = {
      sizeMiB: pyMiB,
      coreEncrypt: summary(res.coreEnc),
      pythonEncrypt: summary(res.pyEnc),
      coreDecrypt: summary(res.coreDec),
      pythonDecrypt: summary(res.pyDec),
      ratioEncrypt: summary(ratios(res.coreEnc, res.pyEnc)),
      ratioDecrypt: summary(ratios(res.coreDec, res.pyDec)),
    };
    row("python", `Python encrypt_blob 2.0, ${pyMiB} MiB (MB/s)`, res.pyEnc);
    row("python", `core encrypt stream, same data (MB/s)`, res.coreEnc);
    row("python", "ratio core/Python encrypt", ratios(res.coreEnc, res.pyEnc), ">= 2");
    row("python", `Python decrypt_blob 2.0, ${pyMiB} MiB (MB/s)`, res.pyDec);
    row("python", `core decrypt stream, same data (MB/s)`, res.coreDec);
    row("python", "ratio core/Python decrypt", ratios(res.coreDec, res.pyDec), ">= 4");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (only.has("rss")) {
  const sizes = quick ? [64 * MiB, 256 * MiB] : [256 * MiB, 1024 * MiB];
  console.log(`[bench] peak RSS of a streaming encrypt→decrypt pipeline: ${sizes.map((s) => s / MiB + " MiB").join(" vs ")} (fresh process each) …`);
  const child = (bytes, mode = "pipeline") =>
    new Promise((resolve, reject) => {
      const p = spawn(process.execPath, [fileURLToPath(import.meta.url), "--rss-child", String(bytes), mode], { stdio: ["ignore", "pipe", "inherit"] });
      let out = "";
      p.stdout.on("data", (d) => (out += d));
      p.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out.trim())) : reject(new Error(`rss child exited ${code}`))));
    });
  const rssReps = quick ? 2 : 3;
  const bySize = new Map(sizes.map((s) => [s, []]));
  const deltas = [];
  for (let rep = 0; rep < rssReps; rep++) {
    const got = [];
    for (const s of rep % 2 ? [...sizes].reverse() : sizes) got.push([s, await child(s)]);
    for (const [s, r] of got) bySize.get(s).push(r.maxRssKiB / 1024);
    const m = new Map(got);
    deltas.push((m.get(sizes[1]).maxRssKiB - m.get(sizes[0]).maxRssKiB) / 1024);
  }
  const idle = [];
  for (let rep = 0; rep < rssReps; rep++) idle.push((await child(0, "idle")).maxRssKiB / 1024);
  report.sections.rss = Object.fromEntries([...bySize].map(([s, v]) => [`${s / MiB}MiB`, summary(v)]));
  report.sections.rss.deltaMiB = summary(deltas);
  report.sections.rss.idleMiB = summary(idle);
  row("rss", "peak RSS, same process without streaming (MiB)", idle);
  for (const [s, v] of bySize) row("rss", `peak RSS, ${s / MiB} MiB streamed (MiB)`, v);
  row("rss", `peak RSS growth ${sizes[1] / MiB} MiB − ${sizes[0] / MiB} MiB (MiB)`, deltas, "≈ 0 (must not grow)");
}

// ---------------------------------------------------------------------------------------------
const w = [8, 60, 10, 10, 10, 4, 20];
const line = (cells) => cells.map((c, i) => String(c).padEnd(w[i])).join(" ");
console.log("\n" + line(["section", "figure", "median", "min", "max", "n", "target"]));
console.log("-".repeat(w.reduce((a, b) => a + b + 1, 0)));
for (const r of rows) {
  const d = r.figure.startsWith("ratio") ? 2 : r.figure.includes("RSS") ? 1 : 0;
  console.log(line([r.section, r.figure, fmt(r.median, d), fmt(r.min, d), fmt(r.max, d), r.n, r.target]));
}
report.rows = rows;
const outFile = opt("--out", path.join(root, "bench-results", `bench-${new Date().toISOString().replace(/[:.]/g, "-")}.json`));
mkdirSync(path.dirname(outFile), { recursive: true });
writeFileSync(outFile, JSON.stringify(report, null, 2));
console.log(`\n[bench] results written to ${path.relative(process.cwd(), outFile)}`);
