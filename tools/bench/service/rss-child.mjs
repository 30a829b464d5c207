// One streamed transfer per process, for peak-RSS measurement (service-bench.mjs spawns this).
// argv[2] = JSON {mode: "up" | "file" | "down" | "idle", variant: "plain" | "enc", bytes, connectionString,
// container, blob, kekHex, protocol?, file?}. Prints one JSON line: {peakMiB, startMiB, seconds, bytes, path}.
import { Readable } from "node:stream";
import { performance } from "node:perf_hooks";
import { drain, loadPackages, mbps, pattern, patternChunks, peakRssMiB } from "./util.mjs";

const job = JSON.parse(process.argv[2]);
// Everything is imported by both variants, so the module memory is the same on both sides.
const { core, blob, blobSdk } = await loadPackages();
const service = blobSdk.BlobServiceClient.fromConnectionString(job.connectionString);
const container = service.getContainerClient(job.container);
const policy = {
  keyEncryptionKey: new core.AesKeyWrapKey("local:bench-kek", Buffer.from(job.kekHex, "hex")),
  ...(job.protocol === "1.0" ? { encryptionVersion: "1.0", allowDeprecatedV1Encryption: true } : {}),
};
const pat = pattern();
const startMiB = process.memoryUsage().rss / (1024 * 1024);
let moved = 0;
let uploadPath;
const t0 = performance.now();
if (job.mode === "up") {
  const source = Readable.from(patternChunks(pat, job.bytes), { objectMode: false });
  if (job.variant === "plain") {
    // The plain SDK's defaults: 8 MiB buffers, 5 in flight.
    await container.getBlockBlobClient(job.blob).uploadStream(source, 8 * 1024 * 1024, 5);
  } else {
    const r = await new blob.EncryptedBlobClient(container.getBlobClient(job.blob), policy).uploadStream(source, { blockSize: 8 * 1024 * 1024, concurrency: 5 });
    uploadPath = r.uploadPath;
    if (r.plaintextLength !== job.bytes) throw new Error(`uploaded ${r.plaintextLength} of ${job.bytes}`);
  }
  moved = job.bytes;
} else if (job.mode === "file") {
  // uploadFile of a file the parent wrote: one Put Blob on both sides (the file is at most 256 MiB).
  if (job.variant === "plain") {
    await container.getBlockBlobClient(job.blob).uploadFile(job.file);
  } else {
    const r = await new blob.EncryptedBlobClient(container.getBlobClient(job.blob), policy).uploadFile(job.file);
    uploadPath = r.uploadPath;
    if (r.plaintextLength !== job.bytes) throw new Error(`uploaded ${r.plaintextLength} of ${job.bytes}`);
  }
  moved = job.bytes;
} else if (job.mode === "down") {
  const client = container.getBlobClient(job.blob);
  const res = job.variant === "plain" ? await client.download() : await new blob.EncryptedBlobClient(client, policy).download();
  moved = await drain(res.readableStreamBody);
  if (moved !== job.bytes) throw new Error(`downloaded ${moved} of ${job.bytes}`);
}
const seconds = (performance.now() - t0) / 1000;
process.stdout.write(JSON.stringify({ peakMiB: peakRssMiB(), startMiB, seconds, bytes: moved, mbps: moved ? mbps(moved, seconds * 1000) : 0, uploadPath }) + "\n");
process.exit(0);
