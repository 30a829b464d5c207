// Concurrency (ETag conditions): overwrite during multi-range downloads, racing key rotations, setMetadata
// racing rotation. The loser always fails with CONDITION_NOT_MET; no version is spliced, no key metadata lost.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { AesKeyWrapKey, ClientSideEncryptionError, createLocalKeyResolver, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { EncryptedBlobClient } from "@azure-cse/storage-blob";
import { startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { describe as describeError } from "@azure-cse/testkit/reliability";

const KiB = 1024;
const kekA = new AesKeyWrapKey("local:race-a", Buffer.alloc(32, 0xa1));
const kekB = new AesKeyWrapKey("local:race-b", Buffer.alloc(32, 0xb2));
const kekC = new AesKeyWrapKey("local:race-c", Buffer.alloc(32, 0xc3));
const all: ClientSideEncryptionPolicy = { keyEncryptionKey: kekA, keyResolver: createLocalKeyResolver([kekA, kekB, kekC]) };

let azurite: AzuriteHandle;
let container: ContainerClient;
let tmp: string;
let counter = 0;
const fresh = (p: string): string => `${p}-${counter++}`;

beforeAll(async () => {
  azurite = await startAzurite();
  container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient("races");
  await container.create();
  tmp = mkdtempSync(path.join(tmpdir(), "azcse-race-"));
});
afterAll(async () => {
  rmSync(tmp, { recursive: true, force: true });
  await azurite?.stop();
});

function fill(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 17 + (i >> 8)) & 0xff;
  return b;
}

const client = (name: string, policy: ClientSideEncryptionPolicy = all): EncryptedBlobClient => new EncryptedBlobClient(container.getBlobClient(name), policy);

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

function expectCode(e: unknown, code: string): void {
  expect(ClientSideEncryptionError.is(e) ? e.code : `untyped ${describeError(e)}`, describeError(e)).toBe(code);
}

/** Runs `beforeCall` (awaited) right before the n-th (1-based) GET the client makes. */
function beforeNthGet(c: EncryptedBlobClient, n: number, beforeCall: () => Promise<void>): void {
  const original = c.blobClient.download.bind(c.blobClient);
  let calls = 0;
  vi.spyOn(c.blobClient, "download").mockImplementation(async (offset, count, options) => {
    if (++calls === n) await beforeCall();
    return original(offset, count, options);
  });
}

describe("overwrite during a download (every ranged GET is If-Match the first ETag)", () => {
  const L = KiB;
  const P = 16 * L + 7;
  const v1 = fill(P, 1);
  const v2 = fill(P + 3, 2);
  const policy21: ClientSideEncryptionPolicy = { ...all, encryptionVersion: "2.1", regionSize: L };

  it.each([1, 3])("downloadToBuffer with %i ranged GET(s) in flight: an overwrite before the 3rd GET → CONDITION_NOT_MET, no spliced bytes", async (concurrency) => {
    const name = fresh("ow");
    await client(name, policy21).uploadData(v1);
    const reader = client(name);
    beforeNthGet(reader, 3, async () => {
      await client(name, policy21).uploadData(v2);
    });
    const e = await failure(reader.downloadToBuffer(0, undefined, { blockSize: 2 * L, concurrency }));
    expectCode(e, "CONDITION_NOT_MET");
    // The blob is the complete new version, and a fresh read gets exactly it.
    expect((await client(name).downloadToBuffer(0, undefined, { blockSize: 2 * L, concurrency: 4 })).equals(v2)).toBe(true);
  });

  it("downloadToFile: an overwrite mid-download → CONDITION_NOT_MET and no file (not even a partial one)", async () => {
    const name = fresh("owf");
    await client(name, policy21).uploadData(v1);
    const reader = client(name);
    beforeNthGet(reader, 2, async () => {
      await client(name, policy21).uploadData(v2);
    });
    const file = path.join(tmp, `${name}.bin`);
    expectCode(await failure(reader.downloadToFile(file, 0, undefined, { blockSize: 4 * L, concurrency: 2 })), "CONDITION_NOT_MET");
    expect(existsSync(file)).toBe(false);
  });

  it("a ranged stream download: an overwrite between the properties read and the GET → CONDITION_NOT_MET", async () => {
    const name = fresh("owr");
    await client(name, policy21).uploadData(v1);
    const reader = client(name);
    beforeNthGet(reader, 1, async () => {
      await client(name, policy21).uploadData(v2);
    });
    expectCode(await failure(reader.download(3 * L + 5, 4 * L)), "CONDITION_NOT_MET");
  });

  it("free-running races (parallel GETs vs. overwrites): each read is exactly the old or the new version, or CONDITION_NOT_MET", async () => {
    const outcomes = { old: 0, new: 0, conflict: 0 };
    for (let i = 0; i < 8; i++) {
      const name = fresh("free");
      await client(name, policy21).uploadData(v1);
      const [read, write] = await Promise.allSettled([
        client(name).downloadToBuffer(0, undefined, { blockSize: L, concurrency: 4 }),
        new Promise((r) => setTimeout(r, i)).then(() => client(name, policy21).uploadData(v2)),
      ]);
      expect(write.status).toBe("fulfilled");
      if (read.status === "fulfilled") {
        if (read.value.equals(v1)) outcomes.old++;
        else if (read.value.equals(v2)) outcomes.new++;
        else expect.fail("a download returned bytes that are neither version");
      } else {
        expectCode(read.reason, "CONDITION_NOT_MET");
        outcomes.conflict++;
      }
    }
    expect(outcomes.old + outcomes.new + outcomes.conflict).toBe(8);
  });
});

/**
 * Holds each racer's metadata write until every racer has read the blob (so all of them hold the same
 * ETag), then releases them in the given order, each after the previous write finished.
 */
function raceAtWrite(racers: EncryptedBlobClient[], order: number[]): void {
  let arrived = 0;
  let releaseAll!: () => void;
  const allArrived = new Promise<void>((r) => (releaseAll = r));
  const done: Array<Promise<void>> = [];
  const finish: Array<() => void> = [];
  for (let i = 0; i < racers.length; i++) done.push(new Promise<void>((r) => finish.push(r)));
  racers.forEach((c, i) => {
    const original = c.blobClient.setMetadata.bind(c.blobClient);
    vi.spyOn(c.blobClient, "setMetadata").mockImplementation(async (metadata, options) => {
      if (++arrived === racers.length) releaseAll();
      await allArrived;
      const pos = order.indexOf(i);
      if (pos > 0) await done[order[pos - 1]!];
      try {
        return await original(metadata, options);
      } finally {
        finish[i]!();
      }
    });
  });
}

async function storedKeyId(name: string): Promise<string> {
  const props = await container.getBlobClient(name).getProperties();
  return JSON.parse(props.metadata!.encryptiondata!).WrappedContentKey.KeyId as string;
}

describe("two key rotations racing on one blob (both read the same ETag)", () => {
  it.each([
    [[0, 1]],
    [[1, 0]],
  ])("release order %j: one wins, the loser gets CONDITION_NOT_MET, the blob decrypts with the winner's key only", async (order) => {
    const name = fresh("rot");
    const plaintext = fill(9 * KiB + 1, 3);
    await client(name).uploadData(plaintext, { metadata: { owner: "ada", Project: "x" } });
    const racers = [client(name), client(name)];
    raceAtWrite(racers, order);
    const kinds = [kekB, kekC];
    const results = await Promise.allSettled(racers.map((c, i) => c.updateKeyEncryptionKey(kinds[i]!)));
    const winner = order[0]!;
    const loser = order[1]!;
    expect(results[winner]!.status).toBe("fulfilled");
    expect(results[loser]!.status).toBe("rejected");
    expectCode((results[loser] as PromiseRejectedResult).reason, "CONDITION_NOT_MET");
    expect(await storedKeyId(name)).toBe(kinds[winner]!.keyId);
    expect((await client(name, { keyEncryptionKey: kinds[winner]! }).downloadToBuffer()).equals(plaintext)).toBe(true);
    expectCode(await failure(client(name, { keyEncryptionKey: kinds[loser]! }).downloadToBuffer()), "KID_MISMATCH");
    // User metadata survives the rotation.
    expect((await container.getBlobClient(name).getProperties()).metadata).toMatchObject({ owner: "ada", project: "x" });
  });

  it("free-running rotations (no barrier), repeated: every attempt either wins or fails CONDITION_NOT_MET; the final key id is a winner's and decrypts", async () => {
    for (let i = 0; i < 6; i++) {
      const name = fresh("rotfree");
      const plaintext = fill(3 * KiB, i);
      await client(name).uploadData(plaintext);
      const keys = [kekB, kekC];
      const results = await Promise.allSettled(keys.map((k) => client(name).updateKeyEncryptionKey(k)));
      const winners = keys.filter((_, j) => results[j]!.status === "fulfilled");
      expect(winners.length).toBeGreaterThanOrEqual(1);
      for (const r of results) if (r.status === "rejected") expectCode(r.reason, "CONDITION_NOT_MET");
      const kid = await storedKeyId(name);
      expect(winners.map((k) => k.keyId)).toContain(kid);
      const key = keys.find((k) => k.keyId === kid)!;
      expect((await client(name, { keyEncryptionKey: key }).downloadToBuffer()).equals(plaintext)).toBe(true);
    }
  });
});

describe("setMetadata racing a key rotation (both read the same ETag)", () => {
  it.each([
    ["setMetadata first", [0, 1]],
    ["rotation first", [1, 0]],
  ])("%s: the loser gets CONDITION_NOT_MET; encryptiondata is never lost and the blob decrypts", async (_label, order) => {
    const name = fresh("meta");
    const plaintext = fill(5 * KiB, 4);
    await client(name).uploadData(plaintext, { metadata: { stage: "draft" } });
    const setter = client(name);
    const rotator = client(name);
    raceAtWrite([setter, rotator], order);
    const [set, rot] = await Promise.allSettled([setter.setMetadata({ stage: "final", reviewer: "grace" }), rotator.updateKeyEncryptionKey(kekB)]);
    const props = await container.getBlobClient(name).getProperties();
    expect(props.metadata?.encryptiondata).toBeDefined();
    if (order[0] === 0) {
      expect(set.status).toBe("fulfilled");
      expectCode((rot as PromiseRejectedResult).reason, "CONDITION_NOT_MET");
      expect(props.metadata).toMatchObject({ stage: "final", reviewer: "grace" });
      expect(await storedKeyId(name)).toBe(kekA.keyId);
      expect((await client(name, { keyEncryptionKey: kekA }).downloadToBuffer()).equals(plaintext)).toBe(true);
    } else {
      expect(rot.status).toBe("fulfilled");
      expectCode((set as PromiseRejectedResult).reason, "CONDITION_NOT_MET");
      expect(props.metadata).toMatchObject({ stage: "draft" });
      expect(await storedKeyId(name)).toBe(kekB.keyId);
      expect((await client(name, { keyEncryptionKey: kekB }).downloadToBuffer()).equals(plaintext)).toBe(true);
    }
  });

  it("free-running setMetadata/rotation pairs, repeated: encryptiondata always present and decrypting; losers typed", async () => {
    for (let i = 0; i < 6; i++) {
      const name = fresh("metafree");
      const plaintext = fill(2 * KiB + i, 5);
      await client(name).uploadData(plaintext);
      const results = await Promise.allSettled([client(name).setMetadata({ n: String(i) }), client(name).updateKeyEncryptionKey(kekC)]);
      for (const r of results) if (r.status === "rejected") expectCode(r.reason, "CONDITION_NOT_MET");
      expect((await client(name).downloadToBuffer()).equals(plaintext)).toBe(true);
      const kid = await storedKeyId(name);
      expect(kid).toBe(results[1].status === "fulfilled" ? kekC.keyId : kekA.keyId);
    }
  });
});
