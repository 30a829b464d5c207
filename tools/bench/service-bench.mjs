#!/usr/bin/env node
// Service benchmark of @azure-cse/storage-blob and @azure-cse/storage-queue (the built packages) against
// the plain @azure/storage-blob / @azure/storage-queue SDKs they resolve, on one embedded Azurite, and
// against the official Python SDK end to end on the same Azurite. Paired: inside one repetition each
// variant runs once (A,B then B,A …), the ratio is taken inside the repetition, the median is reported.
// Not a test: figures depend on the machine (see /work/shared/PERF.md for this machine's anchors).
//
//   node tools/bench/service-bench.mjs           full: 4–256 MiB, 5 pairs (3 at 256 MiB), RSS 256 MiB vs 1 GiB
//   node tools/bench/service-bench.mjs --quick   < 60 s: 4 and 16 MiB, 3 pairs, small RSS/range/Python/queue runs
//   options: --azurite memory|disk  --azurite-version 3.37.0  --only put,file,blocks,get,dtb,stream,python,rss,range,queue  --no-python  --reps N  --sizes 4,16,64
//            --out FILE.json  --svg FILE.svg (chart of throughput vs size)  --md FILE.md (markdown tables)
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { Readable } from "node:stream";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  CHUNK,
  KiB,
  MiB,
  REGION,
  countingBlobClient,
  chunksOf,
  cliOptions,
  drain,
  fmt,
  loadPackages,
  mbps,
  paired,
  pattern,
  patternChunks,
  patternSlice,
  ratios,
  root,
  summary,
} from "./service/util.mjs";
import { throughputChart } from "./service/chart.mjs";
import { rawFloor } from "./service/raw-floor.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const testkit = await import(pathToFileURL(path.join(root, "tools", "testkit", "index.mjs")).href);

const { flag, opt } = cliOptions();
const quick = flag("--quick");
// --azurite disk: Azurite with its default on-disk persistence (as PERF.md measured it; server-bound like the
// real service); --azurite memory (default): the in-memory store, where client CPU is exposed.
const azuritePersistence = opt("--azurite", "memory");
// --azurite-version X: run against another Azurite release (installed once with npm into a cache folder), e.g.
// 3.37.0, the release /work/shared/PERF.md measured (it computes a CRC64 of staged blocks without Content-MD5).
const azuriteVersion = opt("--azurite-version", undefined);
const reps = Number(opt("--reps", quick ? 3 : 5));
const repsLarge = Number(opt("--reps-large", quick ? reps : 3)); // at 256 MiB and above
const sizesMiB = opt("--sizes", quick ? "4,16" : "4,16,64,256").split(",").map(Number);
const only = new Set(opt("--only", "put,file,blocks,get,dtb,stream,python,rss,range,queue,table").split(","));
if (flag("--no-python")) only.delete("python");
const RSS_SIZES = quick ? [32 * MiB, 128 * MiB] : [256 * MiB, 1024 * MiB];
const RANGE_BLOB = quick ? 64 * MiB : 1024 * MiB;
const PY_SIZES = quick ? [16] : [64, 256];
const PY_REPS = quick ? 2 : 3;
const Q = quick ? { seq: 40, conc: 96, reps: 3, warm: 16 } : { seq: 200, conc: 480, reps: 5, warm: 64 };
const BLOCK = 4 * MiB;
const CONCURRENCY = 5;

const { core, blob, queue, tables, blobSdk, queueSdk, tablesSdk, versions } = await loadPackages();
const { BlobServiceClient } = blobSdk;
const { QueueServiceClient } = queueSdk;
const { EncryptedBlobClient } = blob;
const { EncryptedQueueClient } = queue;

const kekBytes = Buffer.from(createHash("sha256").update("azcse-bench-kek").digest());
const kek = new core.AesKeyWrapKey("local:bench-kek", kekBytes);
const policy = { keyEncryptionKey: kek };
const policyV1 = { keyEncryptionKey: kek, encryptionVersion: "1.0", allowDeprecatedV1Encryption: true };

const log = (s) => console.log(`[service-bench] ${s}`);
const report = {
  machine: {
    node: process.version,
    cpu: os.cpus()[0]?.model,
    cpus: os.cpus().length,
    quick,
    reps,
    repsLarge,
    date: new Date().toISOString(),
    sdk: versions,
    azurite: { version: azuriteVersion ?? "pinned devDependency", persistence: azuritePersistence },
  },
  notes: [],
  sections: {},
};
const rows = [];
function row(section, figure, values, target, digits) {
  const s = Array.isArray(values) ? summary(values) : values;
  rows.push({ section, figure, median: s.median, min: s.min, max: s.max, n: s.n, target: target ?? "", digits });
  return s;
}

/** Median client / Azurite CPU ms per operation of each variant of a paired() result. */
function cpuOf(r) {
  return Object.fromEntries(Object.entries(r.cpu).map(([k, v]) => [k, { client: summary(v.client), server: summary(v.server.filter(Number.isFinite)) }]));
}
/** Summaries of a plain / raw floor / encrypted paired() result; `base` names the plain variant compared with. */
function withFloor(r, bytes, base = "plain") {
  return {
    bytes,
    plain: summary(r.plain),
    raw: summary(r.raw),
    enc: summary(r.enc),
    ratio: summary(ratios(r.enc, r.plain)),
    ratioRaw: summary(ratios(r.enc, r.raw)),
    rawVsPlain: summary(ratios(r.raw, r[base])),
    cpu: cpuOf(r),
  };
}
function cpuRows(section, label, cpu, names) {
  for (const [key, name] of Object.entries(names)) {
    if (!cpu?.[key]) continue;
    row(section, `${name} ${label}: client CPU per operation (ms)`, cpu[key].client);
    if (cpu[key].server.n) row(section, `${name} ${label}: Azurite CPU per operation (ms)`, cpu[key].server);
  }
}

// ------------------------------------------------------------------------------------------- Azurite
// The in-memory Azurite frees overwritten blobs only in its 10-minute garbage collection, so the run
// restarts it (stop, then a fresh instance: never two at once) when the bytes stored since start would
// exceed STORE_BUDGET; otherwise one instance serves the whole run.
const STORE_BUDGET = 5 * 1024 * MiB;
let az;
let stored = 0;
let restarts = 0;
let ctx;
/** dist/src/azurite.js of Azurite `version`, installed into ~/.cache/azcse-bench on first use. */
function azuriteBin(version) {
  if (!/^\d+\.\d+\.\d+$/.test(version)) throw new Error(`--azurite-version must look like 3.37.0, not ${version}`);
  const dir = path.join(os.homedir(), ".cache", "azcse-bench", `azurite-${version}`);
  const bin = path.join(dir, "node_modules", "azurite", "dist", "src", "azurite.js");
  if (!existsSync(bin)) {
    log(`installing azurite@${version} into ${dir}`);
    mkdirSync(dir, { recursive: true });
    const r = spawnSync("npm", ["install", "--no-save", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", dir, `azurite@${version}`], { stdio: "inherit" });
    if (r.status !== 0 || !existsSync(bin)) throw new Error(`npm could not install azurite@${version}`);
  }
  return bin;
}
const azuriteBinPath = azuriteVersion ? azuriteBin(azuriteVersion) : undefined;

async function startAzurite() {
  az = await testkit.startAzurite({ persistence: azuritePersistence, bin: azuriteBinPath });
  stored = 0;
  const service = BlobServiceClient.fromConnectionString(az.connectionString);
  const container = service.getContainerClient(`bench-${Date.now()}`);
  await container.create();
  ctx = { service, container, rangeLog: [] };
}
async function headroom(bytes) {
  if (stored + bytes > STORE_BUDGET) {
    await az.stop();
    restarts++;
    await startAzurite();
  }
  stored += bytes;
}

// ------------------------------------------------------------------------------------------- blob
const plainBuf = Buffer.allocUnsafe(Math.max(...sizesMiB, ...PY_SIZES) * MiB);
{
  const pat = pattern("payload");
  for (let i = 0; i < plainBuf.length; i += CHUNK) pat.copy(plainBuf, i);
  // Make every 64 KiB different (no accidental dedup anywhere).
  for (let i = 0; i < plainBuf.length; i += CHUNK) plainBuf.writeUInt32BE(i / CHUNK, i);
}

/** Plain staged blocks with Content-MD5 per block: the encrypted client's exact request shape, no encryption. */
async function plainStagedMd5(bbc, data, blockSize, concurrency) {
  const ids = [];
  const inFlight = new Set();
  for (let i = 0, n = 0; i < data.length; i += blockSize, n++) {
    const part = data.subarray(i, i + blockSize);
    const id = Buffer.from(`block-${String(n).padStart(6, "0")}`).toString("base64");
    ids.push(id);
    const p = bbc.stageBlock(id, part, part.length, { transactionalContentMD5: createHash("md5").update(part).digest() }).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= concurrency) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  await bbc.commitBlockList(ids);
  return data.length;
}

const blobResults = {};
async function blobSizes() {
  const want = ["put", "file", "blocks", "get", "dtb", "stream"].filter((s) => only.has(s));
  if (!want.length) return;
  // Warm-up (not recorded): one of every operation at 1 MiB.
  {
    const w = plainBuf.subarray(0, MiB);
    const c = ctx.container;
    const e = new EncryptedBlobClient(c.getBlobClient("warm-enc"), policy);
    await c.getBlockBlobClient("warm-plain").uploadData(w);
    await e.uploadData(w);
    await drain((await c.getBlobClient("warm-plain").download()).readableStreamBody);
    await drain((await e.download()).readableStreamBody);
    await e.uploadData(w, { maxSingleShotSize: 0, blockSize: 256 * KiB });
    await c.getBlockBlobClient("warm-plain").uploadStream(Readable.from(chunksOf(w)), 256 * KiB, 2);
  }
  for (const sMiB of sizesMiB) {
    const n = sizesMiB.length && sMiB >= 256 ? repsLarge : reps;
    const size = sMiB * MiB;
    const res = (blobResults[sMiB] = {});
    // Upper bound of the bytes this size stores (put, blocks, stream).
    const uploadsPerRep = (only.has("put") ? 3 : 0) + (only.has("file") ? 2 : 0) + (only.has("blocks") ? 4 : 0) + (only.has("stream") ? 3 : 0);
    await headroom(uploadsPerRep * size * n + 2 * size);
    const c = ctx.container;
    const tag = `${sMiB}m`;
    const plainBlob = c.getBlockBlobClient(`put-plain-${tag}`);
    const encBlob = new EncryptedBlobClient(c.getBlobClient(`put-enc-${tag}`), policy);
    const floor = rawFloor();
    const rawBlob = c.getBlockBlobClient(`put-raw-${tag}`);
    const serverPid = az.pid;
    const progress = (name) => (rep, v) => log(`  ${name} ${sMiB} MiB rep ${rep + 1}/${n}: ${Object.entries(v).map(([k, x]) => `${k} ${fmt(x)} MB/s`).join(", ")}`);

    // 1. Single Put Blob vs single Put Blob (the encrypted client keeps the plain SDK's rule: one Put
    // Blob while the plaintext is <= 256 MiB; its body is 28 bytes per 4 MiB region larger).
    const putSize = size;
    const putData = plainBuf.subarray(0, putSize);
    if (only.has("put") || only.has("get") || only.has("dtb")) {
      let encPath;
      const r = await paired(
        only.has("put") ? n : 1,
        {
          plain: async () => (await plainBlob.uploadData(putData), putSize),
          raw: () => floor.put(rawBlob, putData),
          enc: async () => {
            const u = await encBlob.uploadData(putData);
            encPath = u.uploadPath;
            return u.plaintextLength;
          },
        },
        putSize,
        { log: progress("put"), serverPid },
      );
      if (encPath !== "single-put") throw new Error(`encrypted upload of ${putSize} bytes used ${encPath}, not a single Put Blob`);
      if (only.has("put")) {
        res.put = withFloor(r, putSize);
      }
    }
    // 2. Streaming GET vs streaming GET (the blobs just written).
    if (only.has("get")) {
      const r = await paired(
        n,
        {
          plain: async () => drain((await plainBlob.download()).readableStreamBody),
          raw: async () => drain(await floor.download(rawBlob)),
          enc: async () => drain((await encBlob.download()).readableStreamBody),
        },
        putSize,
        { log: progress("get"), serverPid },
      );
      res.get = withFloor(r, putSize);
    }
    // 3. Parallel ranged download into a buffer: 4 MiB ranges, 5 in flight on both sides.
    if (only.has("dtb")) {
      const r = await paired(
        n,
        {
          plain: async () => (await plainBlob.downloadToBuffer(0, undefined, { blockSize: BLOCK, concurrency: CONCURRENCY })).length,
          enc: async () => (await encBlob.downloadToBuffer(0, undefined, { blockSize: BLOCK, concurrency: CONCURRENCY })).length,
        },
        putSize,
        { log: progress("downloadToBuffer") },
      );
      res.dtb = { bytes: putSize, plain: summary(r.plain), enc: summary(r.enc), ratio: summary(ratios(r.enc, r.plain)) };
    }
    // 4. Staged blocks vs staged blocks: 4 MiB blocks, 5 in flight. "plain" = the SDK's uploadData
    // (no Content-MD5: Azurite computes a CRC64 in JavaScript); "plainMd5" = the same blocks with
    // Content-MD5 (our request shape exactly); "enc" = the encrypted client (sends Content-MD5).
    if (only.has("blocks")) {
      const data = plainBuf.subarray(0, size);
      const bb = c.getBlockBlobClient(`blocks-plain-${tag}`);
      const bm = c.getBlockBlobClient(`blocks-md5-${tag}`);
      const be = new EncryptedBlobClient(c.getBlobClient(`blocks-enc-${tag}`), policy);
      const br = c.getBlockBlobClient(`blocks-raw-${tag}`);
      const r = await paired(
        n,
        {
          plain: async () => (await bb.uploadData(data, { maxSingleShotSize: 0, blockSize: BLOCK, concurrency: CONCURRENCY }), size),
          plainMd5: () => plainStagedMd5(bm, data, BLOCK, CONCURRENCY),
          raw: () => floor.staged(br, [data], BLOCK, CONCURRENCY),
          enc: async () => {
            const u = await be.uploadData(data, { maxSingleShotSize: 0, blockSize: BLOCK, concurrency: CONCURRENCY });
            if (u.uploadPath !== "blocks") throw new Error("expected staged blocks");
            return u.plaintextLength;
          },
        },
        size,
        { log: progress("blocks"), serverPid },
      );
      const f = withFloor(r, size, "plainMd5");
      res.blocks = { ...f, plainMd5: summary(r.plainMd5), ratioMd5: summary(ratios(r.enc, r.plainMd5)), ratioSdk: f.ratio };
    }
    // 4b. uploadFile vs uploadFile while the file fits one Put Blob: both stream the body from the file (what
    // `azcse blob upload` does); the encrypted client encrypts while it reads.
    if (only.has("file") && size <= 256 * MiB) {
      const dir = mkdtempSync(path.join(os.tmpdir(), "azcse-bench-upfile-"));
      const file = path.join(dir, "source.bin");
      writeFileSync(file, plainBuf.subarray(0, size));
      try {
        const fp = c.getBlockBlobClient(`file-plain-${tag}`);
        const fe = new EncryptedBlobClient(c.getBlobClient(`file-enc-${tag}`), policy);
        const r = await paired(
          n,
          {
            plain: async () => (await fp.uploadFile(file), size),
            enc: async () => {
              const u = await fe.uploadFile(file);
              if (u.uploadPath !== "single-put") throw new Error(`encrypted uploadFile used ${u.uploadPath}, not a single Put Blob`);
              return u.plaintextLength;
            },
          },
          size,
          { log: progress("uploadFile"), serverPid },
        );
        res.file = { bytes: size, plain: summary(r.plain), enc: summary(r.enc), ratio: summary(ratios(r.enc, r.plain)), cpu: cpuOf(r) };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    // 5. uploadStream vs uploadStream: a Readable of 64 KiB chunks, both with 8 MiB blocks, 5 in flight.
    if (only.has("stream")) {
      const data = plainBuf.subarray(0, size);
      const sp = c.getBlockBlobClient(`stream-plain-${tag}`);
      const se = new EncryptedBlobClient(c.getBlobClient(`stream-enc-${tag}`), policy);
      const sr = c.getBlockBlobClient(`stream-raw-${tag}`);
      const r = await paired(
        n,
        {
          plain: async () => (await sp.uploadStream(Readable.from(chunksOf(data)), 8 * MiB, CONCURRENCY), size),
          raw: () => floor.staged(sr, Readable.from(chunksOf(data)), 8 * MiB, CONCURRENCY),
          enc: async () => (await se.uploadStream(Readable.from(chunksOf(data)), { blockSize: 8 * MiB, concurrency: CONCURRENCY })).plaintextLength,
        },
        size,
        { log: progress("uploadStream"), serverPid },
      );
      res.stream = withFloor(r, size);
    }
  }
  report.sections.blob = blobResults;
  for (const [sMiB, res] of Object.entries(blobResults)) {
    const mb = () => `${sMiB} MiB`;
    if (res.put) {
      const note = res.put.bytes !== Number(sMiB) * MiB ? ` (${res.put.bytes} B)` : "";
      row("put", `plain Put Blob ${mb()}${note} (MB/s)`, res.put.plain);
      row("put", `raw node:crypto floor Put Blob ${mb()}${note} (MB/s)`, res.put.raw);
      row("put", `encrypted Put Blob ${mb()}${note} (MB/s)`, res.put.enc);
      row("put", `ratio encrypted/plain Put Blob ${mb()}`, res.put.ratio, ">= 0.95", 2);
      row("put", `ratio raw floor/plain Put Blob ${mb()} (what AES-GCM costs here)`, res.put.rawVsPlain, "", 2);
      row("put", `ratio encrypted/raw floor Put Blob ${mb()} (what the library costs)`, res.put.ratioRaw, ">= 0.95", 2);
      cpuRows("put", `Put Blob ${mb()}`, res.put.cpu, { plain: "plain", raw: "raw floor", enc: "encrypted" });
    }
    if (res.blocks) {
      row("blocks", `plain SDK staged 4 MiB, no MD5 ${mb()} (MB/s)`, res.blocks.plain);
      row("blocks", `plain staged 4 MiB + Content-MD5 ${mb()} (MB/s)`, res.blocks.plainMd5);
      row("blocks", `raw node:crypto floor staged 4 MiB (+ MD5) ${mb()} (MB/s)`, res.blocks.raw);
      row("blocks", `encrypted staged 4 MiB (+ MD5) ${mb()} (MB/s)`, res.blocks.enc);
      row("blocks", `ratio encrypted/plain+MD5 (same requests) ${mb()}`, res.blocks.ratioMd5, ">= 0.95", 2);
      row("blocks", `ratio encrypted/plain SDK staged ${mb()}`, res.blocks.ratioSdk, ">= 0.95", 2);
      row("blocks", `ratio raw floor/plain+MD5 staged ${mb()} (what AES-GCM costs here)`, res.blocks.rawVsPlain, "", 2);
      row("blocks", `ratio encrypted/raw floor staged ${mb()} (what the library costs)`, res.blocks.ratioRaw, ">= 0.95", 2);
      cpuRows("blocks", `staged ${mb()}`, res.blocks.cpu, { plainMd5: "plain + MD5", raw: "raw floor", enc: "encrypted" });
    }
    if (res.get) {
      row("get", `plain streaming GET ${mb()} (MB/s)`, res.get.plain);
      row("get", `raw node:crypto floor streaming GET ${mb()} (MB/s)`, res.get.raw);
      row("get", `encrypted streaming GET ${mb()} (MB/s)`, res.get.enc);
      row("get", `ratio encrypted/plain streaming GET ${mb()}`, res.get.ratio, ">= 0.95", 2);
      row("get", `ratio raw floor/plain streaming GET ${mb()} (what AES-GCM costs here)`, res.get.rawVsPlain, "", 2);
      row("get", `ratio encrypted/raw floor streaming GET ${mb()} (what the library costs)`, res.get.ratioRaw, ">= 0.95", 2);
      cpuRows("get", `streaming GET ${mb()}`, res.get.cpu, { plain: "plain", raw: "raw floor", enc: "encrypted" });
    }
    if (res.dtb) {
      row("dtb", `plain downloadToBuffer ${mb()} (MB/s)`, res.dtb.plain);
      row("dtb", `encrypted downloadToBuffer ${mb()} (MB/s)`, res.dtb.enc);
      row("dtb", `ratio encrypted/plain downloadToBuffer ${mb()}`, res.dtb.ratio, "", 2);
    }
    if (res.file) {
      row("file", `plain uploadFile (one Put Blob) ${mb()} (MB/s)`, res.file.plain);
      row("file", `encrypted uploadFile (one Put Blob) ${mb()} (MB/s)`, res.file.enc);
      row("file", `ratio encrypted/plain uploadFile ${mb()}`, res.file.ratio, ">= 0.95", 2);
      cpuRows("file", `uploadFile ${mb()}`, res.file.cpu, { plain: "plain", enc: "encrypted" });
    }
    if (res.stream) {
      row("stream", `plain uploadStream ${mb()} (MB/s)`, res.stream.plain);
      row("stream", `raw node:crypto floor staged from the stream ${mb()} (MB/s)`, res.stream.raw);
      row("stream", `encrypted uploadStream ${mb()} (MB/s)`, res.stream.enc);
      row("stream", `ratio encrypted/plain uploadStream ${mb()}`, res.stream.ratio, ">= 1.0", 2);
      row("stream", `ratio raw floor/plain uploadStream ${mb()} (what AES-GCM costs here)`, res.stream.rawVsPlain, "", 2);
      row("stream", `ratio encrypted/raw floor uploadStream ${mb()} (what the library costs)`, res.stream.ratioRaw, ">= 0.95", 2);
      cpuRows("stream", `uploadStream ${mb()}`, res.stream.cpu, { plain: "plain", raw: "raw floor", enc: "encrypted" });
    }
  }
}

// ------------------------------------------------------------------------------------------- Python
async function python() {
  if (!only.has("python")) return;
  testkit.assertPythonPeer();
  const script =
    testkit.PYTHON_KEK_PRELUDE +
    `
import time, warnings
warnings.simplefilter("ignore")
from azure.storage.blob import BlobClient
req = json.loads(sys.stdin.read())
kek = AesKek(req["kid"], bytes.fromhex(req["kek"]))
client = BlobClient.from_connection_string(req["cs"], req["container"], req["blob"], key_encryption_key=kek, require_encryption=True, encryption_version="2.0")
warm = BlobClient.from_connection_string(req["cs"], req["container"], req["blob"] + "-warm", key_encryption_key=kek, require_encryption=True, encryption_version="2.0")
warm.upload_blob(os.urandom(1 << 20), overwrite=True); warm.download_blob().readall()
data = os.urandom(req["size"])
t0 = time.perf_counter(); client.upload_blob(data, overwrite=True); t1 = time.perf_counter()
out = client.download_blob().readall(); t2 = time.perf_counter()
assert out == data
print(json.dumps({"up_s": t1 - t0, "down_s": t2 - t1}))
`;
  report.sections.python = {};
  for (const sMiB of PY_SIZES) {
    const size = sMiB * MiB;
    await headroom(2 * size * PY_REPS);
    const c = ctx.container;
    const ours = new EncryptedBlobClient(c.getBlobClient(`py-ours-${sMiB}m`), policy);
    const data = plainBuf.subarray(0, size);
    const r = { pythonUp: [], pythonDown: [], oursUp: [], oursDown: [], oursDtb: [] };
    for (let rep = 0; rep < PY_REPS; rep++) {
      const runPy = async () => {
        const p = await testkit.runPython(script, { cs: az.connectionString, container: c.containerName, blob: `py-${sMiB}m`, size, kek: kekBytes.toString("hex"), kid: "local:bench-kek" }, { timeoutMs: 600000 });
        r.pythonUp.push(mbps(size, p.up_s * 1000));
        r.pythonDown.push(mbps(size, p.down_s * 1000));
      };
      const runOurs = async () => {
        let t = performance.now();
        const u = await ours.uploadData(data);
        r.oursUp.push(mbps(size, performance.now() - t));
        t = performance.now();
        const got = await drain((await ours.download()).readableStreamBody);
        r.oursDown.push(mbps(size, performance.now() - t));
        t = performance.now();
        const buf = await ours.downloadToBuffer(0, undefined, { blockSize: BLOCK, concurrency: CONCURRENCY });
        r.oursDtb.push(mbps(size, performance.now() - t));
        if (got !== size || buf.length !== size || u.plaintextLength !== size) throw new Error("python section: size mismatch");
      };
      if (rep % 2) {
        await runOurs();
        await runPy();
      } else {
        await runPy();
        await runOurs();
      }
      log(`  python ${sMiB} MiB rep ${rep + 1}/${PY_REPS}: python up ${fmt(r.pythonUp[rep])} down ${fmt(r.pythonDown[rep])}; ours up ${fmt(r.oursUp[rep])} down ${fmt(r.oursDown[rep])} dtb ${fmt(r.oursDtb[rep])} MB/s`);
    }
    const s = Object.fromEntries(Object.entries(r).map(([k, v]) => [k, summary(v)]));
    s.ratioUp = summary(ratios(r.oursUp, r.pythonUp));
    s.ratioDown = summary(ratios(r.oursDown, r.pythonDown));
    s.ratioDtb = summary(ratios(r.oursDtb, r.pythonDown));
    report.sections.python[sMiB] = s;
    row("python", `Python SDK 2.0 upload_blob ${sMiB} MiB (MB/s)`, s.pythonUp);
    row("python", `ours uploadData ${sMiB} MiB (MB/s)`, s.oursUp);
    row("python", `ratio ours/Python upload ${sMiB} MiB`, s.ratioUp, ">= 2", 2);
    row("python", `Python SDK 2.0 download_blob().readall() ${sMiB} MiB (MB/s)`, s.pythonDown);
    row("python", `ours download() streamed ${sMiB} MiB (MB/s)`, s.oursDown);
    row("python", `ours downloadToBuffer ${sMiB} MiB (MB/s)`, s.oursDtb);
    row("python", `ratio ours streamed/Python download ${sMiB} MiB`, s.ratioDown, ">= 2", 2);
    row("python", `ratio ours downloadToBuffer/Python download ${sMiB} MiB`, s.ratioDtb, ">= 2", 2);
  }
}

// ------------------------------------------------------------------------------------------- RSS
function child(job) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [path.join(here, "service", "rss-child.mjs"), JSON.stringify(job)], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    p.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out.trim().split("\n").pop())) : reject(new Error(`rss child ${job.mode}/${job.variant} exited ${code}`))));
  });
}
async function rss() {
  if (!only.has("rss")) return;
  const rssReps = quick ? 1 : 2;
  await headroom(RSS_SIZES.reduce((a, b) => a + b, 0) * 2 * rssReps);
  const base = { connectionString: az.connectionString, container: ctx.container.containerName, kekHex: kekBytes.toString("hex") };
  const res = {};
  const idle = [];
  for (let rep = 0; rep < rssReps; rep++) {
    idle.push((await child({ ...base, mode: "idle", variant: "plain", bytes: 0 })).peakMiB);
    for (const bytes of RSS_SIZES) {
      const sMiB = bytes / MiB;
      for (const mode of ["up", "down"]) {
        const order = rep % 2 ? ["enc", "plain"] : ["plain", "enc"];
        for (const variant of order) {
          const r = await child({ ...base, mode, variant, bytes, blob: `rss-${variant}-${sMiB}m` });
          const key = `${mode}-${variant}-${sMiB}`;
          (res[key] ??= { peak: [], mbps: [] }).peak.push(r.peakMiB);
          res[key].mbps.push(r.mbps);
          log(`  rss ${mode} ${variant} ${sMiB} MiB: peak ${fmt(r.peakMiB, 1)} MiB, ${fmt(r.mbps)} MB/s${r.uploadPath ? ` (${r.uploadPath})` : ""}`);
        }
      }
    }
  }
  // uploadFile of a file that fits one Put Blob: the body is streamed from the file on both sides (the
  // encrypted client encrypts each attempt afresh instead of keeping the ciphertext for retries).
  const fileBytes = RSS_SIZES[0];
  const fileDir = mkdtempSync(path.join(os.tmpdir(), "azcse-bench-file-"));
  const file = path.join(fileDir, "source.bin");
  {
    const fd = openSync(file, "w");
    for (const c of patternChunks(pattern(), fileBytes)) writeSync(fd, c);
    closeSync(fd);
  }
  const fileRes = { plain: [], enc: [] };
  try {
    for (let rep = 0; rep < rssReps; rep++) {
      for (const variant of rep % 2 ? ["enc", "plain"] : ["plain", "enc"]) {
        const r = await child({ ...base, mode: "file", variant, bytes: fileBytes, file, blob: `rss-file-${variant}` });
        if (variant === "enc" && r.uploadPath !== "single-put") throw new Error(`encrypted uploadFile used ${r.uploadPath}, not a single Put Blob`);
        fileRes[variant].push(r.peakMiB);
        log(`  rss uploadFile ${variant} ${fileBytes / MiB} MiB: peak ${fmt(r.peakMiB, 1)} MiB, ${fmt(r.mbps)} MB/s`);
      }
    }
  } finally {
    rmSync(fileDir, { recursive: true, force: true });
  }
  const out = { idleMiB: summary(idle), sizesMiB: RSS_SIZES.map((b) => b / MiB) };
  row("rss", "idle process with all packages loaded (MiB)", idle, "", 1);
  out.file = { bytes: fileBytes, plain: summary(fileRes.plain), enc: summary(fileRes.enc) };
  row("rss", `plain uploadFile (one Put Blob) ${fileBytes / MiB} MiB: peak RSS (MiB)`, fileRes.plain, "", 1);
  row("rss", `encrypted uploadFile (one Put Blob) ${fileBytes / MiB} MiB: peak RSS (MiB)`, fileRes.enc, "", 1);
  row("rss", `encrypted - plain peak RSS, uploadFile ${fileBytes / MiB} MiB (MiB)`, fileRes.enc.map((x, i) => x - fileRes.plain[i]), "<= 4 MiB", 1);
  for (const mode of ["up", "down"]) {
    for (const bytes of RSS_SIZES) {
      const sMiB = bytes / MiB;
      const p = res[`${mode}-plain-${sMiB}`];
      const e = res[`${mode}-enc-${sMiB}`];
      const delta = e.peak.map((x, i) => x - p.peak[i]);
      out[`${mode}-${sMiB}`] = { plain: summary(p.peak), enc: summary(e.peak), deltaMiB: summary(delta), plainMbps: summary(p.mbps), encMbps: summary(e.mbps) };
      const what = mode === "up" ? "uploadStream (8 MiB blocks, 5 in flight)" : "download() streamed";
      const budget = mode === "up" ? `<= ${CONCURRENCY} x 4 MiB` : "<= 4 MiB";
      row("rss", `plain ${what} ${sMiB} MiB: peak RSS (MiB)`, p.peak, "", 1);
      row("rss", `encrypted ${what} ${sMiB} MiB: peak RSS (MiB)`, e.peak, "", 1);
      row("rss", `encrypted - plain peak RSS, ${mode} ${sMiB} MiB (MiB)`, delta, budget, 1);
    }
    const [a, b] = RSS_SIZES.map((x) => x / MiB);
    const growth = res[`${mode}-enc-${b}`].peak.map((x, i) => x - res[`${mode}-enc-${a}`].peak[i]);
    const growthPlain = res[`${mode}-plain-${b}`].peak.map((x, i) => x - res[`${mode}-plain-${a}`].peak[i]);
    out[`${mode}-growth`] = { enc: summary(growth), plain: summary(growthPlain) };
    row("rss", `encrypted peak RSS growth ${b} MiB - ${a} MiB, ${mode} (MiB)`, growth, "~ 0 (size-independent)", 1);
    row("rss", `plain peak RSS growth ${b} MiB - ${a} MiB, ${mode} (MiB)`, growthPlain, "", 1);
  }
  report.sections.rss = out;
}

// ------------------------------------------------------------------------------------------- ranges
async function ranges() {
  if (!only.has("range")) return;
  const pat = pattern();
  const size = RANGE_BLOB;
  const sMiB = size / MiB;
  const COUNT = KiB;
  const out = {};
  for (const protocol of ["2.0", "1.0"]) {
    const name = `range-${protocol}-${sMiB}m`;
    const pol = protocol === "1.0" ? policyV1 : policy;
    // The 2.0 blob of the RSS section has exactly this content; reuse it when it is there.
    let blobName = name;
    const rssName = `rss-enc-${sMiB}m`;
    if (protocol === "2.0" && only.has("rss") && RSS_SIZES.includes(size) && (await ctx.container.getBlobClient(rssName).exists())) blobName = rssName;
    else {
      await headroom(size);
      const t = performance.now();
      await new EncryptedBlobClient(ctx.container.getBlobClient(blobName), pol).uploadStream(Readable.from(patternChunks(pat, size)), { blockSize: 8 * MiB, concurrency: CONCURRENCY });
      log(`  range: uploaded a ${sMiB} MiB ${protocol} blob in ${fmt((performance.now() - t) / 1000, 1)} s`);
    }
    const client = new EncryptedBlobClient(countingBlobClient(ctx.container.getBlobClient(blobName), ctx.rangeLog), pol);
    const cases =
      protocol === "2.0"
        ? [
            { label: "inside one region (middle of the blob)", offset: size / 2 + 12345, bound: REGION + 28 },
            { label: "across a region boundary", offset: size / 2 - 512, bound: 2 * (REGION + 28) },
            { label: "last 1 KiB", offset: size - COUNT, bound: REGION + 28 },
          ]
        : [
            { label: "unaligned (middle of the blob)", offset: size / 2 + 12345, bound: COUNT + 32 },
            { label: "16-byte aligned", offset: size / 2, bound: COUNT + 32 },
            { label: "last 1 KiB (plaintext length needs the last 32 bytes)", offset: size - COUNT, bound: COUNT + 32 + 32 },
          ];
    out[protocol] = [];
    for (const cs of cases) {
      ctx.rangeLog.length = 0;
      const r = await client.download(cs.offset, COUNT);
      const chunks = [];
      for await (const ch of r.readableStreamBody) chunks.push(ch);
      const got = Buffer.concat(chunks);
      if (!got.equals(patternSlice(pat, cs.offset, COUNT))) throw new Error(`range ${protocol} ${cs.label}: wrong plaintext`);
      const gets = ctx.rangeLog.filter((e) => e.method === "GET");
      const fetched = gets.reduce((a, e) => a + e.bodyBytes, 0);
      const item = { ...cs, count: COUNT, requests: ctx.rangeLog.map((e) => `${e.method}${e.range ? ` ${e.range}` : ""}${e.method === "GET" ? ` -> ${e.bodyBytes} B` : ""}`), fetched, ok: fetched <= cs.bound };
      out[protocol].push(item);
      rows.push({ section: "range", figure: `${protocol} 1 KiB ${cs.label}, ${sMiB} MiB blob: bytes fetched`, median: fetched, min: fetched, max: fetched, n: 1, target: `<= ${cs.bound}${item.ok ? "" : " MISSED"}`, digits: 0 });
      log(`  range ${protocol} ${cs.label}: ${fetched} bytes in ${gets.length} GET(s) (${item.requests.join("; ")})`);
    }
  }
  report.sections.range = out;
}

// ------------------------------------------------------------------------------------------- queue
async function queues() {
  if (!only.has("queue")) return;
  const qs = QueueServiceClient.fromConnectionString(az.connectionString);
  const plainQ = qs.getQueueClient(`benchplain${Date.now()}`);
  const encQ = qs.getQueueClient(`benchenc${Date.now()}`);
  await plainQ.create();
  await encQ.create();
  const enc = new EncryptedQueueClient(encQ, policy);
  const out = {};
  const text = (bytes) => pattern("queue").toString("base64").repeat(Math.ceil(bytes / 87382) + 1).slice(0, bytes);
  for (const bytes of [KiB, 40 * KiB]) {
    const msg = text(bytes);
    const plainTrip = async () => {
      await plainQ.sendMessage(msg);
      for (;;) {
        const r = await plainQ.receiveMessages({ numberOfMessages: 1 });
        const m = r.receivedMessageItems[0];
        if (!m) continue;
        if (m.messageText.length !== bytes) throw new Error("queue: plain message changed");
        await plainQ.deleteMessage(m.messageId, m.popReceipt);
        return;
      }
    };
    const encTrip = async () => {
      await enc.sendMessage(msg);
      for (;;) {
        const r = await enc.receiveMessages({ numberOfMessages: 1 });
        if (r.failures.length) throw r.failures[0].error;
        const m = r.receivedMessageItems[0];
        if (!m) continue;
        if (m.messageText !== msg) throw new Error("queue: decrypted message differs");
        await enc.deleteMessage(m.messageId, m.popReceipt);
        return;
      }
    };
    for (const [mode, total, inflight] of [
      ["sequential", Q.seq, 1],
      ["16 in flight", Q.conc, 16],
    ]) {
      const run = (trip) => async () => {
        let next = 0;
        await Promise.all(
          Array.from({ length: inflight }, async () => {
            while (next < total) {
              next++;
              await trip();
            }
          }),
        );
        return total;
      };
      // Warm-up (also opens the connections).
      const warm = (trip) => async () => {
        for (let i = 0; i < Q.warm; i += inflight) await Promise.all(Array.from({ length: inflight }, trip));
      };
      await warm(plainTrip)();
      await warm(encTrip)();
      // paired() reports "MB/s" of `total / 1e6` bytes; scale to round trips per second.
      const r = await paired(Q.reps, { plain: run(plainTrip), enc: run(encTrip) }, total, { expectBytes: total });
      const perSec = (xs) => xs.map((x) => x * 1e6);
      const p = perSec(r.plain);
      const e = perSec(r.enc);
      out[`${bytes / KiB}KiB-${mode}`] = { plain: summary(p), enc: summary(e), ratio: summary(ratios(e, p)) };
      row("queue", `plain round trips/s, ${bytes / KiB} KiB, ${mode}`, p);
      row("queue", `encrypted round trips/s, ${bytes / KiB} KiB, ${mode}`, e);
      row("queue", `ratio encrypted/plain, ${bytes / KiB} KiB, ${mode}`, ratios(e, p), ">= 0.9", 2);
      log(`  queue ${bytes / KiB} KiB ${mode}: plain ${fmt(summary(p).median)}/s, encrypted ${fmt(summary(e).median)}/s`);
    }
  }
  report.sections.queue = out;
  await plainQ.delete();
  await encQ.delete();
}

// ------------------------------------------------------------------------------------------- table
// Issue 5: encrypted vs plain createEntity / getEntity per second (one encrypted 100-character string
// property next to four plain ones), sequential and 16 in flight. Target >= 0.9: the service dominates.
async function tableOps() {
  if (!only.has("table")) return;
  const { TableClient } = tablesSdk;
  const name = (p) => `bench${p}${Date.now()}`;
  const plainT = TableClient.fromConnectionString(az.connectionString, name("plain"), { allowInsecureConnection: true });
  const encT = TableClient.fromConnectionString(az.connectionString, name("enc"), { allowInsecureConnection: true });
  await plainT.createTable();
  await encT.createTable();
  const enc = new tables.EncryptedTableClient(encT, policy, { encryptedProperties: ["Secret"] });
  const secret = pattern("table").toString("base64").slice(0, 100);
  const entity = (pk, rk) => ({ partitionKey: pk, rowKey: rk, Secret: secret, Name: "bench", Count: 42, Flag: true, Note: "plain text" });
  const T = quick ? { seq: 60, conc: 160, reps: 3 } : { seq: 300, conc: 800, reps: 5 };
  const out = {};
  let seq = 0;
  for (const [mode, total, inflight] of [
    ["sequential", T.seq, 1],
    ["16 in flight", T.conc, 16],
  ]) {
    for (const op of ["createEntity", "getEntity"]) {
      const keys = { plain: [], enc: [] };
      const run = (variant) => async () => {
        const client = variant === "plain" ? plainT : enc;
        const pk = `p${seq++}`;
        let next = 0;
        if (op === "getEntity" && keys[variant].length === 0) {
          for (let i = 0; i < Math.min(total, 200); i++) {
            const rk = `r${i}`;
            await client.createEntity(entity(pk, rk));
            keys[variant].push([pk, rk]);
          }
        }
        await Promise.all(
          Array.from({ length: inflight }, async () => {
            while (next < total) {
              const i = next++;
              if (op === "createEntity") await client.createEntity(entity(pk, `r${i}`));
              else {
                const [kp, kr] = keys[variant][i % keys[variant].length];
                const got = await client.getEntity(kp, kr);
                if (got.Secret !== secret) throw new Error(`table: ${variant} getEntity returned a different value`);
              }
            }
          }),
        );
        return total;
      };
      await run("plain")();
      await run("enc")();
      const r = await paired(T.reps, { plain: run("plain"), enc: run("enc") }, total, { expectBytes: total });
      const perSec = (xs) => xs.map((x) => x * 1e6);
      const p = perSec(r.plain);
      const e = perSec(r.enc);
      out[`${op}-${mode}`] = { plain: summary(p), enc: summary(e), ratio: summary(ratios(e, p)) };
      row("table", `plain ${op}/s, ${mode}`, p);
      row("table", `encrypted ${op}/s, ${mode}`, e);
      row("table", `ratio encrypted/plain ${op}, ${mode}`, ratios(e, p), ">= 0.9", 2);
      log(`  table ${op} ${mode}: plain ${fmt(summary(p).median)}/s, encrypted ${fmt(summary(e).median)}/s`);
    }
  }
  report.sections.table = out;
  await plainT.deleteTable();
  await encT.deleteTable();
}

// ------------------------------------------------------------------------------------------- main
const t0 = performance.now();
const stamp = new Date().toISOString().replace(/[:.]/g, "-");
const outFile = opt("--out", path.join(root, "bench-results", `service-${quick ? "quick-" : ""}${stamp}.json`));
const partialFile = outFile.replace(/\.json$/, "") + ".partial.json";
mkdirSync(path.dirname(outFile), { recursive: true });
log(`${quick ? "quick" : "full"} run: sizes ${sizesMiB.join(", ")} MiB, ${reps} pairs (${repsLarge} at >= 256 MiB); node ${process.version}, @azure/storage-blob ${versions.storageBlob}, @azure/storage-queue ${versions.storageQueue}; Azurite ${azuriteVersion ?? "(pinned)"} ${azuritePersistence}`);
await startAzurite();
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.once(sig, () => {
    // Never leave the embedded Azurite behind.
    void az.stop().finally(() => process.exit(130));
  });
}
try {
  // Partial results are written after every section, so an interrupted run keeps what it measured.
  for (const section of [blobSizes, python, queues, tableOps, rss, ranges]) {
    await section();
    writeFileSync(partialFile, JSON.stringify({ ...report, rows }, null, 2));
  }
} finally {
  await az.stop();
}
report.machine.seconds = (performance.now() - t0) / 1000;
report.machine.azuriteRestarts = restarts;
if (restarts) report.notes.push(`Azurite was restarted ${restarts} time(s) between sections (in-memory data budget ${STORE_BUDGET / MiB} MiB).`);

const w = [7, 74, 9, 9, 9, 3, 24];
const line = (cells) => cells.map((c, i) => String(c).padEnd(w[i])).join(" ");
console.log("\n" + line(["section", "figure", "median", "min", "max", "n", "target"]));
console.log("-".repeat(w.reduce((a, b) => a + b + 1, 0)));
for (const r of rows) {
  const d = r.digits ?? 0;
  console.log(line([r.section, r.figure, fmt(r.median, d), fmt(r.min, d), fmt(r.max, d), r.n, r.target]));
}
for (const n of report.notes) console.log(`note: ${n}`);
report.rows = rows;
writeFileSync(outFile, JSON.stringify(report, null, 2));
rmSync(partialFile, { force: true });
log(`results written to ${path.relative(process.cwd(), outFile)} (${fmt(report.machine.seconds)} s)`);
const svg = opt("--svg", undefined);
if (svg) {
  mkdirSync(path.dirname(svg), { recursive: true });
  writeFileSync(svg, throughputChart(report));
  log(`chart written to ${svg}`);
}
const md = opt("--md", undefined);
if (md) {
  const lines = ["| Section | Figure | Median | [min..max] | n | Target |", "|---|---|---|---|---|---|"];
  for (const r of rows) {
    const d = r.digits ?? 0;
    lines.push(`| ${r.section} | ${r.figure} | **${fmt(r.median, d)}** | ${fmt(r.min, d)}..${fmt(r.max, d)} | ${r.n} | ${r.target} |`);
  }
  writeFileSync(md, lines.join("\n") + "\n");
  log(`markdown table written to ${md}`);
}
