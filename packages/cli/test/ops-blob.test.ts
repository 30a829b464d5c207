// azcse scan / migrate / rotate-key on blobs the official Python SDK wrote (1.0 and 2.0, with user
// metadata, content headers, tags and tiers), through Azurite; results read back with the Python SDK.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { parseEncryptionData, type KeyEncryptionKey } from "@azure-cse/core-envelope";
import { EncryptedContainerClient } from "@azure-cse/storage-blob";
import { assertPythonPeer, runPython, startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { runMigrate, type OpsReport, type ScanReport } from "../src/ops/index.js";
import { azcse, KiB, makeKey, MiB, OPS_PEER, payload, pyRead, pyWrite, sha256, type KeyFile, type PyBlobSpec } from "./ops-helpers.js";

let az: AzuriteHandle;
let service: BlobServiceClient;
let dir: string;
let k1: KeyFile; // old key
let k2: KeyFile; // new key
let k3: KeyFile; // a key nobody offers
let k4: KeyFile; // rotation target
let ctr: ContainerClient;
const written = new Map<string, string>(); // name → sha256 of the plaintext

const HEADERS = { content_type: "application/x-report", content_language: "fr-CA", content_disposition: "attachment; filename=r.bin", cache_control: "max-age=60", content_encoding: "identity" };

function corpus(): PyBlobSpec[] {
  return [
    { name: "v1/small-with-everything", protocol: "1.0", size: 1000, seed: "a", kek: k1.jwk, metadata: { Origin: "python", Team: "data" }, content_settings: HEADERS, tags: { project: "atlas", stage: "raw" }, tier: "Cool" },
    { name: "v1/blocks", protocol: "1.0", size: 300 * KiB + 5, seed: "b", kek: k1.jwk, metadata: { n: "2" }, max_single_put_size: 64 * KiB, max_block_size: 64 * KiB },
    { name: "v1/exact-16", protocol: "1.0", size: 32, seed: "c", kek: k1.jwk },
    { name: "v1/empty", protocol: "1.0", size: 0, seed: "d", kek: k1.jwk },
    { name: "v1/multi-block-4m", protocol: "1.0", size: 4 * MiB + 100, seed: "e", kek: k1.jwk, content_settings: { content_type: "text/plain" }, max_single_put_size: MiB, max_block_size: MiB },
    { name: "v2/old-key", protocol: "2.0", size: 70 * KiB, seed: "f", kek: k1.jwk, metadata: { Kind: "v2-old" } },
    { name: "v2/new-key", protocol: "2.0", size: 10 * KiB, seed: "g", kek: k2.jwk },
    { name: "v2/other-key", protocol: "2.0", size: 10 * KiB, seed: "h", kek: k3.jwk },
  ];
}

beforeAll(async () => {
  assertPythonPeer();
  az = await startAzurite();
  process.env.AZURE_STORAGE_CONNECTION_STRING = az.connectionString;
  service = BlobServiceClient.fromConnectionString(az.connectionString);
  dir = mkdtempSync(path.join(tmpdir(), "azcse-ops-blob-"));
  [k1, k2, k3, k4] = ["ops-old-1", "ops-new-2", "ops-other-3", "ops-rot-4"].map((kid) => makeKey(dir, kid)) as [KeyFile, KeyFile, KeyFile, KeyFile];
  ctr = service.getContainerClient("mig");
  await ctr.create();
  for (const b of await pyWrite(az.connectionString, "mig", corpus())) written.set(b.name, b.sha256);
  await ctr.getBlockBlobClient("plain/unencrypted.txt").upload("hello", 5, { metadata: { plain: "yes" } });
}, 180_000);
afterAll(async () => {
  delete process.env.AZURE_STORAGE_CONNECTION_STRING;
  rmSync(dir, { recursive: true, force: true });
  await az?.stop();
});

/** `good` decrypts every blob (checked against the Python SDK's plaintext hashes); `bad` alone fails on every one. */
async function expectOnlyKeyOpens(c: ContainerClient, names: string[], bad: KeyEncryptionKey, good: KeyEncryptionKey): Promise<void> {
  const withBad = new EncryptedContainerClient(c, { keyEncryptionKey: bad });
  const withGood = new EncryptedContainerClient(c, { keyEncryptionKey: good });
  for (const n of names) {
    const err = await withBad.getBlobClient(n).downloadToBuffer().then(() => undefined, (e: { code?: string }) => e);
    // An empty blob has nothing to decrypt, so no key is used; its metadata must still name only the new key.
    const data = parseEncryptionData((await c.getBlobClient(n).getProperties()).metadata!.encryptiondata!);
    expect(data.wrappedContentKey.keyId, n).toBe(good.keyId);
    if (written.has(n) && (await c.getBlobClient(n).getProperties()).contentLength! > 0) expect(err?.code, n).toMatch(/^(KID_MISMATCH|KEY_NOT_FOUND|DECRYPTION_FAILED)$/);
    expect(sha256(await withGood.getBlobClient(n).downloadToBuffer()), n).toBe(written.get(n));
  }
}

async function etags(c: ContainerClient): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const b of c.listBlobsFlat()) out[b.name] = b.properties.etag;
  return out;
}

describe("azcse scan (inventory from the listing alone)", () => {
  it("counts objects and bytes per protocol, key id and writer library, plaintext vs stored, and the unencrypted ones", async () => {
    const r = await azcse("scan", "mig", "--json");
    expect(r.code, r.err).toBe(0);
    const s = JSON.parse(r.out) as ScanReport;
    expect(s.total.objects).toBe(9);
    expect(s.unencrypted).toMatchObject({ objects: 1, storedBytes: 5, plaintextBytes: 5 });
    expect(s.byProtocol["1.0"]!.objects).toBe(5);
    expect(s.byProtocol["2.0"]!.objects).toBe(3);
    // 1.0 stored sizes: PKCS#7 pads to the next 16-byte multiple (an empty body is one block).
    const v1Stored = [1000, 300 * KiB + 5, 32, 0, 4 * MiB + 100].reduce((n, x) => n + (Math.floor(x / 16) + 1) * 16, 0);
    expect(s.byProtocol["1.0"]).toMatchObject({ storedBytes: v1Stored, plaintextExact: false });
    // 2.0: 4 MiB regions, 28 bytes of nonce + tag per region; plaintext is exact.
    expect(s.byProtocol["2.0"]).toMatchObject({ plaintextBytes: 90 * KiB, storedBytes: 90 * KiB + 3 * 28, plaintextExact: true });
    expect(s.byKeyId["ops-old-1"]!.objects).toBe(6);
    expect(s.byKeyId["ops-new-2"]!.objects).toBe(1);
    expect(s.byKeyId["ops-other-3"]!.objects).toBe(1);
    const libs = Object.keys(s.byLibrary);
    expect(libs.length).toBeGreaterThan(0);
    expect(libs.every((l) => l.startsWith("Python "))).toBe(true);
    expect(s.needsMigration.objects).toBe(5);
    const human = await azcse("scan", "mig", "--prefix", "v2/");
    expect(human.code).toBe(0);
    expect(human.out).toMatch(/protocol 2\.0\s+3\s/);
    expect(human.out).toMatch(/key ops-other-3\s+1\s/);
    expect(human.out).not.toMatch(/^protocol 1\.0\s+\d/m);
  });
});

describe("azcse migrate (1.0 → 2.0 in place)", () => {
  it("--dry-run plans every 1.0 blob and every 2.x blob under an offered old key, and writes nothing", async () => {
    const before = await etags(ctr);
    const r = await azcse("migrate", "mig", "--key", k1.file, "--new-key", k2.file, "--dry-run", "--progress", "none");
    expect(r.code, r.err).toBe(0);
    const rep = JSON.parse(r.out) as OpsReport;
    expect(rep.planned!.map((p) => p.name).sort()).toEqual(["v1/blocks", "v1/empty", "v1/exact-16", "v1/multi-block-4m", "v1/small-with-everything", "v2/old-key"]);
    expect(rep.skipped.map((s) => [s.name, s.reason]).sort()).toEqual([
      ["plain/unencrypted.txt", "not-encrypted"],
      ["v2/new-key", "already-current"],
      ["v2/other-key", "other-key"],
    ]);
    expect(rep.migrated).toBeUndefined();
    expect(await etags(ctr)).toEqual(before);
  });

  it("re-encrypts as 2.0 under the new key, keeps user metadata (with its case), content headers, tags and tier; the Python SDK reads every blob", async () => {
    const r = await azcse("migrate", "mig", "--key", k1.file, "--new-key", k2.file, "--concurrency", "3", "--progress", "lines");
    expect(r.code, r.err).toBe(0);
    const rep = JSON.parse(r.out) as OpsReport;
    expect(rep.complete).toBe(true);
    expect(rep.failed).toEqual([]);
    expect(rep.migrated!.map((m) => m.name).sort()).toEqual(["v1/blocks", "v1/empty", "v1/exact-16", "v1/multi-block-4m", "v1/small-with-everything", "v2/old-key"]);
    for (const m of rep.migrated!) expect(m.to).toEqual({ protocol: "2.0", keyId: "ops-new-2" });
    expect(rep.migrated!.find((m) => m.name === "v1/multi-block-4m")).toMatchObject({ from: { protocol: "1.0", keyId: "ops-old-1" }, plaintextBytes: 4 * MiB + 100, newStoredBytes: 4 * MiB + 100 + 56 });
    expect(r.err).toMatch(/migrated v1\/blocks 1\.0 ops-old-1 -> 2\.0 ops-new-2/);

    const names = [...written.keys()];
    const py = await pyRead(az.connectionString, "mig", names, [k2.jwk, k3.jwk]);
    for (const n of names) {
      expect(py[n]!.error, n).toBeUndefined();
      expect(py[n]!.sha256, n).toBe(written.get(n));
    }
    for (const n of rep.migrated!.map((m) => m.name!)) expect(py[n]).toMatchObject({ protocol: "2.0", kid: "ops-new-2" });
    const full = py["v1/small-with-everything"]!;
    expect(full.metadata).toEqual({ Origin: "python", Team: "data" });
    expect(full.content_settings).toMatchObject(HEADERS);
    expect(full.tags).toEqual({ project: "atlas", stage: "raw" });
    expect(full.tier).toBe("Cool");
    expect(py["v2/old-key"]!.metadata).toEqual({ Kind: "v2-old" });
    expect(py["v1/multi-block-4m"]!.content_settings.content_type).toBe("text/plain");
    // The old key alone opens none of them any more.
    await expectOnlyKeyOpens(ctr, rep.migrated!.map((m) => m.name!), k1.kek, k2.kek);
  });

  it("a second run finds nothing left to do (idempotent): every blob is already current or skipped", async () => {
    const before = await etags(ctr);
    const r = await azcse("migrate", "mig", "--key", k1.file, "--new-key", k2.file, "--progress", "none");
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.out) as OpsReport;
    expect(rep.migrated).toEqual([]);
    expect(rep.skippedByReason).toEqual({ "already-current": 7, "not-encrypted": 1, "other-key": 1 });
    expect(await etags(ctr)).toEqual(before);
  });
});

function racingKek(inner: KeyEncryptionKey, onWrap: (n: number) => Promise<void>): KeyEncryptionKey {
  let n = 0;
  return {
    keyId: inner.keyId,
    defaultWrapAlgorithm: inner.defaultWrapAlgorithm,
    async wrapKey(alg, key, opts) {
      await onWrap(++n);
      return inner.wrapKey(alg, key, opts);
    },
    unwrapKey: (alg, key, opts) => inner.unwrapKey(alg, key, opts),
  };
}

describe("migrate never overwrites a blob that changed meanwhile", () => {
  it("a blob rewritten by the Python SDK during its migration fails the If-Match commit and is reported skipped (changed), keeping the new content — staged-blocks and single-put paths", async () => {
    const race = service.getContainerClient("race");
    await race.create();
    const specs: PyBlobSpec[] = [
      { name: "r/a-staged", protocol: "1.0", size: 100 * KiB, seed: "ra", kek: k1.jwk },
      { name: "r/b-untouched", protocol: "1.0", size: 50 * KiB, seed: "rb", kek: k1.jwk },
      { name: "r/c-single-put", protocol: "1.0", size: 1000, seed: "rc", kek: k1.jwk },
    ];
    const original = new Map((await pyWrite(az.connectionString, "race", specs)).map((b) => [b.name, b.sha256]));
    const replacement = new Map<string, string>();
    // Listing order with concurrency 1: wrap #1 is r/a (re-encrypted in 16 KiB staged blocks), #3 is r/c (one Put Blob).
    const victims: Record<number, string> = { 1: "r/a-staged", 3: "r/c-single-put" };
    const kek = racingKek(k2.kek, async (n) => {
      const name = victims[n];
      if (!name) return;
      const data = payload(`overwrite-${name}`, 2000);
      const r = await runPython<{ sha256: string }>(OPS_PEER, { op: "overwrite", cs: az.connectionString, container: "race", name, kek: k1.jwk, data_b64: data.toString("base64") });
      replacement.set(name, r.sha256);
    });
    const rep = await runMigrate({ container: race, keys: [k1.kek], newKey: kek, concurrency: 1, blockSize: { minBlockSize: 16 * KiB } });
    expect(rep.skipped.map((s) => [s.name, s.reason])).toEqual([
      ["r/a-staged", "changed"],
      ["r/c-single-put", "changed"],
    ]);
    expect(rep.migrated!.map((m) => m.name)).toEqual(["r/b-untouched"]);
    expect(rep.failed).toEqual([]);
    const py = await pyRead(az.connectionString, "race", [...original.keys()], [k1.jwk, k2.jwk]);
    for (const name of ["r/a-staged", "r/c-single-put"]) {
      expect(py[name]).toMatchObject({ sha256: replacement.get(name), protocol: "2.0", kid: "ops-old-1", metadata: { writer: "python-overwrite" } });
    }
    expect(py["r/b-untouched"]).toMatchObject({ sha256: original.get("r/b-untouched"), protocol: "2.0", kid: "ops-new-2" });
    // The blocks staged for r/a were never committed: the committed list is the Python writer's.
    const blocks = await race.getBlockBlobClient("r/a-staged").getBlockList("committed");
    expect(blocks.committedBlocks?.length ?? 0).toBe(0); // Python wrote 2000 bytes with one Put Blob
  });

  it("the block size follows the blob size so the 50,000-block limit is never hit (block limit lowered to 4 for a 300 KiB blob)", async () => {
    const bs = service.getContainerClient("blocks");
    await bs.create();
    const [w] = await pyWrite(az.connectionString, "blocks", [{ name: "big", protocol: "1.0", size: 300 * KiB, seed: "big", kek: k1.jwk, max_single_put_size: 64 * KiB, max_block_size: 64 * KiB }]);
    const rep = await runMigrate({ container: bs, keys: [k1.kek], newKey: k2.kek, blockSize: { minBlockSize: 16 * KiB, maxBlocks: 4 } });
    expect(rep.migrated!.length).toBe(1);
    const list = await bs.getBlockBlobClient("big").getBlockList("committed");
    expect(list.committedBlocks!.length).toBeGreaterThan(1);
    expect(list.committedBlocks!.length).toBeLessThanOrEqual(4);
    const py = await pyRead(az.connectionString, "blocks", ["big"], [k2.jwk]);
    expect(py.big).toMatchObject({ sha256: w!.sha256, protocol: "2.0", kid: "ops-new-2" });
  });
});

describe("azcse rotate-key (container)", () => {
  it("re-wraps every blob under the old key (metadata only) with a state file; --verify passes; the old key opens nothing, the new key (and the Python SDK) opens all", async () => {
    const state = path.join(dir, "rotate.state.json");
    const before = await ctr.getBlobClient("v1/blocks").getProperties();
    const r = await azcse("rotate-key", "mig", "--prefix", "v1/", "--key", k2.file, "--new-key", k4.file, "--resume", state, "--verify", "--progress", "none");
    expect(r.code, r.err).toBe(0);
    const rep = JSON.parse(r.out) as OpsReport;
    expect(rep.rotated!.map((x) => x.name).sort()).toEqual(["v1/blocks", "v1/empty", "v1/exact-16", "v1/multi-block-4m", "v1/small-with-everything"]);
    for (const x of rep.rotated!) expect(x).toMatchObject({ from: { keyId: "ops-new-2" }, to: { keyId: "ops-rot-4" } });
    expect(rep.verify).toMatchObject({ checked: 5, ok: 5, stillOldKey: [], failed: [], passed: true });
    expect(rep.stateFile).toBe(state);
    // Metadata only: the stored bytes did not change, user metadata kept.
    const after = await ctr.getBlobClient("v1/blocks").getProperties();
    expect(after.contentLength).toBe(before.contentLength);
    expect(after.metadata?.n).toBe("2");
    const names = rep.rotated!.map((x) => x.name!);
    await expectOnlyKeyOpens(ctr, names, k2.kek, k4.kek);
    const py = await pyRead(az.connectionString, "mig", names, [k4.jwk]);
    for (const n of names) expect(py[n], n).toMatchObject({ sha256: written.get(n), kid: "ops-rot-4" });
    const pyOld = await pyRead(az.connectionString, "mig", ["v1/small-with-everything"], [k2.jwk]);
    expect(pyOld["v1/small-with-everything"]!.error).toBeDefined();
    // Resuming a finished state file does nothing more and reports the same outcome.
    const again = await azcse("rotate-key", "mig", "--prefix", "v1/", "--key", k2.file, "--new-key", k4.file, "--resume", state, "--progress", "none");
    expect(again.code).toBe(0);
    expect((JSON.parse(again.out) as OpsReport).rotated!.length).toBe(5);
    expect((JSON.parse(again.out) as OpsReport).runs).toBe(2);
  });

  it("--verify fails (exit 2) when an object in scope does not open with the new key, naming it", async () => {
    const r = await azcse("rotate-key", "mig", "--prefix", "v2/", "--key", k2.file, "--new-key", k4.file, "--verify", "--progress", "none");
    expect(r.code).toBe(2);
    const rep = JSON.parse(r.out) as OpsReport;
    expect(rep.rotated!.map((x) => x.name).sort()).toEqual(["v2/new-key", "v2/old-key"]);
    expect(rep.skipped).toEqual([{ name: "v2/other-key", reason: "other-key", from: { protocol: "2.0", keyId: "ops-other-3" }, storedBytes: 10 * KiB + 28 }]);
    expect(rep.verify!.passed).toBe(false);
    expect(rep.verify!.failed).toEqual([{ key: "v2/other-key", code: "KID_MISMATCH", keyId: "ops-other-3" }]);
    expect(r.err).toMatch(/verify failed/);
  });

  it("a state file is only resumed by the same operation on the same scope (exit 1 otherwise); usage errors exit 1", async () => {
    const state = path.join(dir, "rotate.state.json");
    const wrong = await azcse("rotate-key", "mig", "--prefix", "v2/", "--key", k2.file, "--new-key", k4.file, "--resume", state);
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(/belongs to another run/);
    expect((await azcse("migrate", "mig", "--key", k1.file, "--to", "1.0")).code).toBe(1);
    expect((await azcse("migrate", "mig", "--key", k1.file, "--dry-run", "--resume", state)).code).toBe(1);
    expect((await azcse("rotate-key", "mig", "--key", k1.file, "--new-key", k1.file)).code).toBe(1);
    expect((await azcse("rotate-key", "--table", "t", "mig", "--key", k1.file, "--new-key", k2.file)).code).toBe(1);
  });
});

describe("migrate --to 2.1", () => {
  it("writes protocol 2.1 with the requested region size; the content is unchanged", async () => {
    const c = service.getContainerClient("to21");
    await c.create();
    const [w] = await pyWrite(az.connectionString, "to21", [{ name: "x", protocol: "1.0", size: 5000, seed: "x21", kek: k1.jwk }]);
    const r = await azcse("migrate", "to21", "--key", k1.file, "--new-key", k2.file, "--to", "2.1", "--region-size", "1024", "--progress", "none");
    expect(r.code, r.err).toBe(0);
    expect((JSON.parse(r.out) as OpsReport).migrated![0]).toMatchObject({ to: { protocol: "2.1", keyId: "ops-new-2" }, plaintextBytes: 5000, newStoredBytes: 5000 + 5 * 28 });
    const data = parseEncryptionData((await c.getBlobClient("x").getProperties()).metadata!.encryptiondata!);
    expect(data.protocol === "2.1" && data.encryptedRegionInfo.dataLength).toBe(1024);
    expect(sha256(await new EncryptedContainerClient(c, { keyEncryptionKey: k2.kek }).getBlobClient("x").downloadToBuffer())).toBe(w!.sha256);
  });
});
