// Reliability under faults (docs/security.md §8.3): uploads and downloads through the seeded fault proxy,
// every outcome checked against Azurite through a direct verifier client.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { AesKeyWrapKey, ClientSideEncryptionError, createLocalKeyResolver, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { EncryptedBlobClient, type EncryptedUploadOptions } from "@azure-cse/storage-blob";
import { startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { createPrng, proxiedConnectionString, startFaultProxy, type FaultProxy } from "../../../tools/fault-proxy/index.mjs";
import { FAST_RETRIES, FaultLedger, describe as describeError, faultSeed, typedWith, type SuiteReport } from "@azure-cse/testkit/reliability";

const KiB = 1024;
const SEED = faultSeed(20260);

const kekOld = new AesKeyWrapKey("local:rel-old", Buffer.alloc(32, 0x11));
const kekNew = new AesKeyWrapKey("local:rel-new", Buffer.alloc(32, 0x22));
const resolver = createLocalKeyResolver([kekOld, kekNew]);

let azurite: AzuriteHandle;
let proxy: FaultProxy;
let faulty: ContainerClient; // through the proxy
let fragile: ContainerClient; // through the proxy, no retries: every fault becomes a failure
let direct: ContainerClient; // verifier, straight to Azurite
const reports: SuiteReport[] = [];

beforeAll(async () => {
  azurite = await startAzurite();
  proxy = await startFaultProxy({ target: azurite.blobUrl, seed: SEED });
  const containerName = `rel-${SEED}`;
  direct = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(containerName);
  await direct.create();
  faulty = BlobServiceClient.fromConnectionString(proxiedConnectionString(azurite.connectionString, "blob", proxy.url), {
    retryOptions: FAST_RETRIES,
  }).getContainerClient(containerName);
  fragile = BlobServiceClient.fromConnectionString(proxiedConnectionString(azurite.connectionString, "blob", proxy.url), {
    retryOptions: { ...FAST_RETRIES, maxTries: 1 },
  }).getContainerClient(containerName);
});

afterAll(async () => {
  for (const r of reports) console.log(`[reliability] ${JSON.stringify(r)}`);
  await proxy?.stop();
  await azurite?.stop();
});

/** Deterministic plaintext from the seeded PRNG (so a seed reproduces the bytes too). */
function bytesFrom(rand: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

interface Variant {
  label: string;
  policy: ClientSideEncryptionPolicy;
  upload: EncryptedUploadOptions;
}

const base: ClientSideEncryptionPolicy = { keyEncryptionKey: kekOld, keyResolver: resolver };
const variants: Variant[] = [
  { label: "2.0 single put", policy: base, upload: {} },
  { label: "2.0 staged", policy: base, upload: { maxSingleShotSize: 0, blockSize: 16 * KiB, concurrency: 1 } },
  { label: "2.1/4KiB single put", policy: { ...base, encryptionVersion: "2.1", regionSize: 4 * KiB }, upload: {} },
  { label: "2.1/4KiB staged", policy: { ...base, encryptionVersion: "2.1", regionSize: 4 * KiB }, upload: { maxSingleShotSize: 0, blockSize: 10 * KiB, concurrency: 1 } },
  { label: "1.0 staged", policy: { ...base, encryptionVersion: "1.0", allowDeprecatedV1Encryption: true }, upload: { maxSingleShotSize: 0, blockSize: 8 * KiB, concurrency: 1 } },
];
const sizes = [0, 1, 4 * KiB, 4 * KiB + 1, 37 * KiB + 5];

/** What the verifier finds: absent, or the exact plaintext it decrypts to. Anything else is a violation. */
async function verify(name: string, ledger: FaultLedger, label: string): Promise<{ exists: false } | { exists: true; plaintext: Buffer }> {
  const raw = direct.getBlobClient(name);
  if (!(await raw.exists())) return { exists: false };
  const props = await raw.getProperties();
  const meta = Object.keys(props.metadata ?? {}).find((k) => k.toLowerCase() === "encryptiondata");
  if (!meta) {
    ledger.violation(`${label}: blob ${name} has ciphertext (${props.contentLength} bytes) but no encryptiondata`);
    return { exists: true, plaintext: Buffer.alloc(0) };
  }
  try {
    const plaintext = await new EncryptedBlobClient(raw, { keyResolver: resolver }).downloadToBuffer();
    return { exists: true, plaintext };
  } catch (e) {
    ledger.violation(`${label}: blob ${name}: metadata does not decrypt the body (${describeError(e)})`);
    return { exists: true, plaintext: Buffer.alloc(0) };
  }
}

/** Reads a plaintext stream to its end: the bytes, and the error if the stream did not end normally. */
async function consume(stream: NodeJS.ReadableStream): Promise<{ data: Buffer; error?: unknown }> {
  const parts: Buffer[] = [];
  try {
    for await (const c of stream as AsyncIterable<Buffer>) parts.push(Buffer.from(c));
    return { data: Buffer.concat(parts) };
  } catch (error) {
    return { data: Buffer.concat(parts), error };
  }
}

interface Stored {
  name: string;
  plaintext: Buffer;
  v1: boolean;
}
const stored: Stored[] = [];

describe("blob uploads under faults (resets before/after storage applied them, 500/503, delays)", () => {
  it("every upload completes after retries or fails typed; the verifier never finds ciphertext without encryptiondata or metadata that does not decrypt the body", async () => {
    const rand = createPrng(`${SEED}-upload-data`);
    proxy.setFaults({ reset: 0.07, resetAfterForward: 0.07, status500: 0.05, status503: 0.05, truncate: 0.04, delay: 0.1, delayMs: [1, 15] });
    proxy.resetStats();
    const ledger = new FaultLedger("blob-upload", proxy, SEED);
    const uploadTyped = typedWith(["SERVICE_ERROR"]);
    for (const v of variants) {
      for (const size of sizes) {
        const name = `u-${v.label.replace(/[^a-z0-9]/gi, "")}-${size}`;
        let previous: Buffer | undefined;
        // Two generations per blob: a fresh upload, then an overwrite with fewer retries (a failed overwrite must leave the previous version).
        for (let gen = 0; gen < 2; gen++) {
          const client = new EncryptedBlobClient((gen === 0 ? faulty : fragile).getBlobClient(name), v.policy);
          const plaintext = bytesFrom(rand, size + gen);
          const label = `${v.label} ${size}B gen${gen}`;
          const r = await ledger.run(label, () => client.uploadData(plaintext, { ...v.upload, metadata: { gen: String(gen) } }), uploadTyped);
          const truth = await verify(name, ledger, label);
          if (r.ok) {
            if (!truth.exists || !truth.plaintext.equals(plaintext)) ledger.violation(`${label}: upload reported success but the blob is ${truth.exists ? "different" : "absent"}`);
            else previous = plaintext;
          } else if (truth.exists) {
            // A failed upload may still have been applied (reset after storage answered): new or previous version, nothing else.
            if (truth.plaintext.equals(plaintext)) {
              ledger.count("failedButApplied");
              previous = plaintext;
            } else if (!(previous && truth.plaintext.equals(previous))) {
              ledger.violation(`${label}: failed upload left a blob that is neither the new nor the previous version`);
            }
          } else if (previous) {
            ledger.violation(`${label}: failed overwrite removed the previous version`);
          }
        }
        if (previous) stored.push({ name, plaintext: previous, v1: v.label.startsWith("1.0") });
      }
    }
    const report = ledger.report();
    reports.push(report);
    expect(ledger.violations).toEqual([]);
    expect(report.dataLost).toBe(0);
    expect(report.operations).toBe(variants.length * sizes.length * 2);
    // The run must actually have exercised faults, retries and typed failures.
    expect(report.recovered).toBeGreaterThan(5);
    expect(report.typedFailures).toBeGreaterThan(0);
    expect(proxy.stats().faults.resetAfterForward).toBeGreaterThan(0);
    expect(stored.length).toBeGreaterThan(variants.length * sizes.length * 0.8);
  });
});

describe("blob downloads under faults (also truncated and corrupted bodies)", () => {
  it("whole, ranged, streamed and parallel downloads return the exact plaintext or fail typed — never wrong or partial bytes presented as complete", async () => {
    expect(stored.length).toBeGreaterThan(0);
    const rand = createPrng(`${SEED}-ranges`);
    proxy.setFaults({
      reset: 0.05,
      resetAfterForward: 0.04,
      status500: 0.04,
      status503: 0.04,
      truncate: 0.1,
      corrupt: 0.1,
      delay: 0.1,
      delayMs: [1, 15],
    });
    proxy.resetStats();
    const ledger = new FaultLedger("blob-download", proxy, SEED);
    const downloadTyped = typedWith(["SERVICE_ERROR", "DECRYPTION_FAILED", "REGION_OUT_OF_ORDER"]);
    const controller = new AbortController(); // never fired: an ABORTED outcome would be a mislabelled transport failure
    for (let round = 0; round < 2; round++) {
      for (const s of stored) {
        const client = new EncryptedBlobClient(faulty.getBlobClient(s.name), { keyResolver: resolver });
        const P = s.plaintext.length;
        const offset = Math.floor(rand() * (P + 1));
        const count = Math.floor(rand() * (P - offset + 2));
        const cases: Array<[string, () => Promise<Buffer>, Buffer]> = [
          [
            "download() whole",
            async () => {
              const res = await client.download(0, undefined, { abortSignal: controller.signal });
              const out = await consume(res.readableStreamBody);
              if (out.error) throw out.error as Error;
              if (res.contentLength !== out.data.length) ledger.violation(`${s.name}: contentLength ${res.contentLength} but the stream ended normally after ${out.data.length} bytes`);
              return out.data;
            },
            s.plaintext,
          ],
          [
            `download(${offset}, ${count})`,
            async () => {
              const res = await client.download(offset, count, { abortSignal: controller.signal });
              const out = await consume(res.readableStreamBody);
              if (out.error) throw out.error as Error;
              if (res.contentLength !== out.data.length) ledger.violation(`${s.name}: ranged contentLength ${res.contentLength} but ${out.data.length} bytes`);
              return out.data;
            },
            s.plaintext.subarray(offset, offset + count),
          ],
          ["downloadToBuffer() multi-range", () => client.downloadToBuffer(0, undefined, { blockSize: 4 * KiB, concurrency: 1, abortSignal: controller.signal }), s.plaintext],
          [
            `downloadToBuffer(${offset}, ${count})`,
            () => client.downloadToBuffer(offset, count, { blockSize: 8 * KiB, concurrency: 1, abortSignal: controller.signal }),
            s.plaintext.subarray(offset, offset + count),
          ],
        ];
        for (const [what, op, expected] of cases) {
          const label = `${s.name} ${what}`;
          const before = proxy.stats().faults.corrupt;
          const r = await ledger.run(label, op, downloadTyped);
          const corrupted = proxy.stats().faults.corrupt - before;
          if (r.ok && !r.value.equals(expected)) {
            // 1.0 (CBC) has no integrity: a flipped bit can go unnoticed (docs/security.md §3). Nothing else may.
            if (s.v1 && corrupted > 0) ledger.documentedWeakness++;
            else ledger.violation(`${label}: returned ${r.value.length} bytes that differ from the ${expected.length}-byte plaintext`);
          }
          if (!r.ok && ClientSideEncryptionError.hasCode(r.error, "DECRYPTION_FAILED") && corrupted === 0 && r.faults === 0) {
            ledger.violation(`${label}: DECRYPTION_FAILED without any fault`);
          }
        }
      }
    }
    const report = ledger.report();
    reports.push(report);
    expect(ledger.violations).toEqual([]);
    expect(report.dataLost).toBe(0);
    expect(proxy.stats().faults.truncate).toBeGreaterThan(3);
    expect(proxy.stats().faults.corrupt).toBeGreaterThan(3);
    expect(report.recovered).toBeGreaterThan(5);
    expect(report.typedFailures).toBeGreaterThan(5);
    // Truncated bodies are transport failures (SERVICE_ERROR), not caller aborts.
    expect(report.extra?.["fail:ABORTED"]).toBeUndefined();
    expect(report.extra?.["fail:SERVICE_ERROR"]).toBeGreaterThan(0);
  });
});

describe("key rotation under faults", () => {
  it("after every updateKeyEncryptionKey attempt each blob decrypts with the old or the new key — never neither", async () => {
    proxy.setFaults({ reset: 0.1, resetAfterForward: 0.12, status500: 0.08, status503: 0.08, truncate: 0.05, delay: 0.1, delayMs: [1, 10] });
    proxy.resetStats();
    const ledger = new FaultLedger("blob-rotation", proxy, SEED);
    const rotateTyped = typedWith(["SERVICE_ERROR", "CONDITION_NOT_MET"]);
    const onlyOld = { keyEncryptionKey: kekOld };
    const onlyNew = { keyEncryptionKey: kekNew };
    for (const s of stored) {
      const client = new EncryptedBlobClient(faulty.getBlobClient(s.name), { keyResolver: resolver });
      const r = await ledger.run(`${s.name} rotate`, () => client.updateKeyEncryptionKey(kekNew), rotateTyped);
      const raw = direct.getBlobClient(s.name);
      let readable = 0;
      for (const p of [onlyOld, onlyNew]) {
        try {
          const got = await new EncryptedBlobClient(raw, p).downloadToBuffer();
          if (got.equals(s.plaintext)) readable++;
          else ledger.violation(`${s.name}: rotation changed the plaintext`);
        } catch (e) {
          if (!ClientSideEncryptionError.hasCode(e, "KEY_NOT_FOUND") && !ClientSideEncryptionError.hasCode(e, "KID_MISMATCH")) {
            ledger.violation(`${s.name}: after rotation: ${describeError(e)}`);
          }
        }
      }
      if (readable !== 1) ledger.violation(`${s.name}: readable with ${readable} of {old, new} keys after rotation`);
      if (r.ok) {
        const props = await raw.getProperties();
        if (!props.metadata?.encryptiondata?.includes(kekNew.keyId)) ledger.violation(`${s.name}: rotation reported success but the stored key id is not the new one`);
      } else {
        const props = await raw.getProperties();
        if (props.metadata?.encryptiondata?.includes(kekNew.keyId)) ledger.count("failedButApplied");
      }
    }
    const report = ledger.report();
    reports.push(report);
    expect(ledger.violations).toEqual([]);
    expect(report.dataLost).toBe(0);
    expect(report.operations).toBe(stored.length);
    expect(disruptiveSeen(report)).toBeGreaterThan(0);
  });
});

function disruptiveSeen(r: SuiteReport): number {
  return Object.entries(r.faults).reduce((n, [k, v]) => n + (k === "delay" ? 0 : v), 0);
}

describe("short bodies are never a shorter plaintext", () => {
  // A body that ends cleanly (no transport error) after whole regions is itself a valid 2.x body of a
  // shorter plaintext (docs/security.md §3): only comparing with the stored length catches it.
  const L = 1024;
  const P = 5 * L + 100;
  const plaintext = Buffer.alloc(P, 0x5a);
  let name: string;
  beforeAll(async () => {
    name = `short-${SEED}`;
    await new EncryptedBlobClient(direct.getBlobClient(name), { ...base, encryptionVersion: "2.1", regionSize: L }).uploadData(plaintext);
  });

  /** A client whose GETs deliver only the first `keepRegions` whole regions of what storage sent, then end normally. */
  async function cutClient(keepRegions: number): Promise<EncryptedBlobClient> {
    const { Readable } = await import("node:stream");
    const { vi } = await import("vitest");
    const client = new EncryptedBlobClient(direct.getBlobClient(name), { keyResolver: resolver });
    const original = client.blobClient.download.bind(client.blobClient);
    vi.spyOn(client.blobClient, "download").mockImplementation(async (offset, count, options) => {
      const res = await original(offset, count, options);
      const parts: Buffer[] = [];
      for await (const c of res.readableStreamBody as AsyncIterable<Buffer>) parts.push(c);
      const body = Buffer.concat(parts);
      const cut = body.subarray(0, Math.min(body.length, keepRegions * (L + 28)));
      // The response's fields are getters on its prototype: keep them, replace only the body.
      const out = Object.create(res) as typeof res;
      Object.defineProperty(out, "readableStreamBody", { value: Readable.from([cut]) });
      return out;
    });
    return client;
  }

  it.each([1, 3, 5])("download() of a body cut cleanly after %i whole 2.1 regions fails DECRYPTION_FAILED instead of ending early", async (keep) => {
    const client = await cutClient(keep);
    const res = await client.download();
    const out = await consume(res.readableStreamBody);
    expect(out.data.length).toBeLessThan(P);
    expect(ClientSideEncryptionError.hasCode(out.error, "DECRYPTION_FAILED"), describeError(out.error)).toBe(true);
  });

  it.each([1, 2, 3])("ranged and parallel downloads of bodies cut after %i whole regions fail DECRYPTION_FAILED", async (keep) => {
    const client = await cutClient(keep);
    const ranged = await client.download(10, P - 20);
    const out = await consume(ranged.readableStreamBody);
    expect(ClientSideEncryptionError.hasCode(out.error, "DECRYPTION_FAILED"), describeError(out.error)).toBe(true);
    const e = await client.downloadToBuffer(0, undefined, { blockSize: 4 * L, concurrency: 1 }).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(ClientSideEncryptionError.hasCode(e, "DECRYPTION_FAILED"), describeError(e)).toBe(true);
  });

  it("an intact body still decrypts exactly (the interception itself changes nothing)", async () => {
    const client = await cutClient(100);
    expect((await client.downloadToBuffer()).equals(plaintext)).toBe(true);
    expect((await consume((await client.download()).readableStreamBody)).data.equals(plaintext)).toBe(true);
  });
});

describe("aborts: ABORTED only when the caller's own signal fired", () => {
  it("a caller abort during a streamed download is ABORTED; a dropped connection is SERVICE_ERROR (ResponseIncomplete)", async () => {
    const name = stored.find((s) => s.plaintext.length > 30 * KiB)?.name;
    expect(name).toBeDefined();
    // Every response body through the proxy is cut short.
    proxy.setFaults({ truncate: 1, match: (r) => r.method === "GET" });
    const client = new EncryptedBlobClient(faulty.getBlobClient(name!), { keyResolver: resolver });
    const out = await consume((await client.download()).readableStreamBody);
    expect(ClientSideEncryptionError.hasCode(out.error, "SERVICE_ERROR"), describeError(out.error)).toBe(true);
    expect((out.error as ClientSideEncryptionError).details.errorCode).toBe("ResponseIncomplete");
    const e = await client.downloadToBuffer(0, undefined, { blockSize: 8 * KiB }).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(ClientSideEncryptionError.hasCode(e, "SERVICE_ERROR"), describeError(e)).toBe(true);
    proxy.setFaults({ delay: 1, delayMs: [200, 200] });
    const controller = new AbortController();
    const pending = client.downloadToBuffer(0, undefined, { abortSignal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    const aborted = await pending.then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(ClientSideEncryptionError.hasCode(aborted, "ABORTED"), describeError(aborted)).toBe(true);
    proxy.setFaults({});
  });
});

describe("single Put Blob retries re-encrypt instead of keeping the ciphertext (uploadData, uploadFile)", () => {
  const MiB = 1024 * 1024;
  /** The first PUT of the blob is answered 503 once its whole body arrived; every later request passes. */
  function failFirstPut(blobName: string): { attempts: () => number } {
    let puts = 0;
    proxy.setFaults({
      status503: 1,
      match: (r) => r.method === "PUT" && r.url.includes(`/${blobName}`) && ++puts === 1,
    });
    return { attempts: () => puts };
  }
  async function rawBytes(name: string): Promise<Buffer | undefined> {
    const c = direct.getBlobClient(name);
    return (await c.exists()) ? c.downloadToBuffer() : undefined;
  }

  it("a retried Put Blob sends byte-identical ciphertext (3 regions) and the blob decrypts; the SDK really retried", async () => {
    const name = "retry-identical";
    const plain = Buffer.alloc(8 * MiB + 5);
    for (let i = 0; i + 4 <= plain.length; i += 4) plain.writeUInt32LE((i * 2654435761) >>> 0, i);
    const f = failFirstPut(name);
    const client = new EncryptedBlobClient(faulty.getBlobClient(name), base);
    const r = await client.uploadData(plain);
    proxy.setFaults({});
    expect(r.uploadPath).toBe("single-put");
    expect(f.attempts()).toBe(2);
    expect((await new EncryptedBlobClient(direct.getBlobClient(name), { keyResolver: resolver }).downloadToBuffer()).equals(plain)).toBe(true);
  });

  it("a buffer changed between attempts fails INVALID_ARGUMENT and writes nothing (the previous version stays)", async () => {
    const name = "retry-changed-buffer";
    const before = Buffer.alloc(6 * MiB, 1);
    await new EncryptedBlobClient(direct.getBlobClient(name), base).uploadData(before);
    const storedBefore = await rawBytes(name);
    const plain = Buffer.alloc(9 * MiB, 2);
    const f = failFirstPut(name);
    let mutated = false;
    const client = new EncryptedBlobClient(faulty.getBlobClient(name), base);
    const e = await client
      .uploadData(plain, {
        // Once the first attempt's body is complete, region 1 of the source changes.
        onProgress: (p) => {
          if (!mutated && p.loadedBytes >= plain.length) {
            mutated = true;
            plain.writeUInt8(plain.readUInt8(5 * MiB) ^ 1, 5 * MiB);
          }
        },
      })
      .then(
        () => undefined,
        (x: unknown) => x,
      );
    proxy.setFaults({});
    expect(mutated).toBe(true);
    // The second attempt stops at region 1 before its request may even reach the proxy; the error itself
    // can only come from a repeat attempt.
    expect(f.attempts()).toBeGreaterThanOrEqual(1);
    expect(ClientSideEncryptionError.hasCode(e, "INVALID_ARGUMENT"), describeError(e)).toBe(true);
    expect((e as Error).message).toMatch(/source changed/);
    expect((await rawBytes(name))?.equals(storedBefore!)).toBe(true);
  });

  it("uploadFile: a retry reads the file again (identical bytes); a file rewritten between attempts fails INVALID_ARGUMENT", async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const path = await import("node:path");
    const dir = mkdtempSync(path.join(tmpdir(), "azcse-retry-"));
    try {
      const file = path.join(dir, "source.bin");
      const plain = Buffer.alloc(5 * MiB + 17);
      for (let i = 0; i < plain.length; i++) plain[i] = (i * 7) & 0xff;
      writeFileSync(file, plain);
      const f = failFirstPut("retry-file");
      await new EncryptedBlobClient(faulty.getBlobClient("retry-file"), base).uploadFile(file);
      expect(f.attempts()).toBe(2);
      expect((await new EncryptedBlobClient(direct.getBlobClient("retry-file"), { keyResolver: resolver }).downloadToBuffer()).equals(plain)).toBe(true);

      const g = failFirstPut("retry-file-changed");
      let rewritten = false;
      const e = await new EncryptedBlobClient(faulty.getBlobClient("retry-file-changed"), base)
        .uploadFile(file, {
          onProgress: (p) => {
            if (!rewritten && p.loadedBytes >= plain.length) {
              rewritten = true;
              const changed = Buffer.from(plain);
              changed.writeUInt8(changed.readUInt8(17) ^ 0x80, 17); // region 0
              writeFileSync(file, changed);
            }
          },
        })
        .then(
          () => undefined,
          (x: unknown) => x,
        );
      expect(rewritten).toBe(true);
      expect(g.attempts()).toBeGreaterThanOrEqual(1);
      expect(ClientSideEncryptionError.hasCode(e, "INVALID_ARGUMENT"), describeError(e)).toBe(true);
      expect(await rawBytes("retry-file-changed")).toBeUndefined();
    } finally {
      proxy.setFaults({});
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
