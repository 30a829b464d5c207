#!/usr/bin/env node
// Why AES costs its whole CPU time in wall time on this machine (docs/performance.md, "Where the service
// targets stand"): a plain 64 MiB Put Blob against a disk-backed Azurite, alone and with side work of the
// same size as the encryption (bursts on the main thread, on a worker thread, a continuous spin, another
// process), next to a pre-encrypted body and the encrypted client. Paired round robin; medians of wall
// time, this process's CPU and the Azurite process's CPU. Not a test: the figures depend on the machine.
//
//   node tools/bench/burst-experiment.mjs [--size-mib 64] [--reps 9]
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { performance } from "node:perf_hooks";
import path from "node:path";
import { Readable } from "node:stream";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { cliOptions, loadPackages, median, processCpuMs, root } from "./service/util.mjs";

const { opt } = cliOptions();
const MiB = 1024 * 1024;
const size = Number(opt("--size-mib", 64)) * MiB;
const reps = Number(opt("--reps", 9));

const testkit = await import(pathToFileURL(path.join(root, "tools", "testkit", "index.mjs")).href);
const { core, blob, blobSdk } = await loadPackages();
const az = await testkit.startAzurite({ persistence: "disk" });
const container = blobSdk.BlobServiceClient.fromConnectionString(az.connectionString).getContainerClient(`burst-${Date.now()}`);
await container.create();
const kek = new core.AesKeyWrapKey("local:burst", createHash("sha256").update("burst").digest());
const data = Buffer.allocUnsafe(size);
for (let i = 0; i + 4 <= size; i += 4) data.writeUInt32LE((i * 2654435761) >>> 0, i);
const plain = container.getBlockBlobClient("plain");
const encrypted = new blob.EncryptedBlobClient(container.getBlobClient("enc"), { keyEncryptionKey: kek });

// The ciphertext of `data` (protocol 2.0 regions), made outside the timed part.
const enc = await core.createContentEncryption({ keyEncryptionKey: kek });
const regions = [];
for await (const c of enc.encrypt([data])) regions.push(c);
const stored = regions.reduce((n, c) => n + c.length, 0);

const busy = (ms) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};
const BURSTS = 20;
const BURST_MS = 2;
const worker = new Worker(
  `const { parentPort } = require("node:worker_threads");
   const busy = (ms) => { const end = performance.now() + ms; while (performance.now() < end); };
   parentPort.on("message", async (m) => {
     if (m.spin) busy(m.spin);
     else for (let i = 0; i < m.bursts; i++) { busy(m.ms); await new Promise((r) => setTimeout(r, 10)); }
     parentPort.postMessage(0);
   });`,
  { eval: true },
);
worker.unref();
const onWorker = (msg, op) => async () => {
  const done = new Promise((r) => worker.once("message", r));
  worker.postMessage(msg);
  await op();
  await done;
};

const variants = {
  "plain Put Blob": () => plain.uploadData(data),
  [`plain + ${BURSTS} bursts of ${BURST_MS} ms on the main thread`]: async () => {
    let stop = false;
    const bursts = (async () => {
      for (let i = 0; i < BURSTS && !stop; i++) {
        busy(BURST_MS);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    await plain.uploadData(data);
    stop = true;
    await bursts;
  },
  [`plain + ${BURSTS} bursts of ${BURST_MS} ms on a worker thread`]: onWorker({ bursts: BURSTS, ms: BURST_MS }, () => plain.uploadData(data)),
  "plain + one continuous 230 ms spin on a worker thread": onWorker({ spin: 230 }, () => plain.uploadData(data)),
  "pre-encrypted body streamed in region-sized chunks": () => plain.upload(() => Readable.from(regions, { objectMode: false }), stored),
  "encrypted uploadData": () => encrypted.uploadData(data),
};

async function measure(names) {
  const out = Object.fromEntries(names.map((n) => [n, { wall: [], client: [], server: [] }]));
  for (let rep = 0; rep < reps; rep++) {
    for (const name of rep % 2 ? [...names].reverse() : names) {
      globalThis.gc?.();
      const c0 = process.cpuUsage();
      const s0 = processCpuMs(az.pid);
      const t0 = performance.now();
      await variants[name]();
      const wall = performance.now() - t0;
      const c = process.cpuUsage(c0);
      out[name].wall.push(wall);
      out[name].client.push((c.user + c.system) / 1000);
      out[name].server.push(processCpuMs(az.pid) - s0);
    }
  }
  return out;
}
function print(label, res) {
  console.log(`\n${label}`);
  console.log("| Variant | Wall (ms) | Client CPU (ms) | Azurite CPU (ms) |\n|---|---|---|---|");
  for (const [name, r] of Object.entries(res)) {
    console.log(`| ${name} | ${median(r.wall).toFixed(0)} | ${median(r.client).toFixed(0)} | ${median(r.server).toFixed(0)} |`);
  }
}

await plain.uploadData(data);
await encrypted.uploadData(data);
console.log(`[burst-experiment] ${size / MiB} MiB Put Blob, disk-backed Azurite, ${reps} pairs, medians`);
print("In-process side work", await measure(Object.keys(variants)));

// Another process burning 2 ms of every ~12 ms while the plain Put Blob runs.
const burner = spawn(process.execPath, ["-e", "for(;;){const e=performance.now()+2;while(performance.now()<e);Atomics.wait(new Int32Array(new SharedArrayBuffer(4)),0,0,10)}"], { stdio: "ignore" });
try {
  print("With another process burning 2 ms of every ~12 ms", await measure(["plain Put Blob", "encrypted uploadData"]));
} finally {
  burner.kill("SIGKILL");
}
await az.stop();
process.exit(0);
