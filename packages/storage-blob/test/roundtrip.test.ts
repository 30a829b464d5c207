// Round trips through Azurite: every upload path, sizes around region and block edges, every protocol.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parseEncryptionData, v1StoredLength, v2StoredLength, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { EncryptedBlobClient } from "@azure-cse/storage-blob";
import { KiB, MiB, plaintext, rawBytes, rejection, startEnv, streamToBuffer, uniqueName, type Env } from "./helpers.js";

let env: Env;
let dir: string;
beforeAll(async () => {
  env = await startEnv();
  dir = mkdtempSync(path.join(tmpdir(), "azcse-blob-rt-"));
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await env?.stop();
});

function client(policy: Partial<ClientSideEncryptionPolicy> = {}, name = uniqueName()): EncryptedBlobClient {
  return new EncryptedBlobClient(env.container.getBlobClient(name), { ...env.policy, ...policy });
}

const R = 4 * MiB;
const protocols: Array<{ label: string; policy: Partial<ClientSideEncryptionPolicy>; region: number }> = [
  { label: "2.0 (4 MiB regions)", policy: {}, region: R },
  { label: "2.1 (1 KiB regions)", policy: { encryptionVersion: "2.1", regionSize: 1024 }, region: 1024 },
  { label: "1.0 (opt-in, CBC)", policy: { encryptionVersion: "1.0", allowDeprecatedV1Encryption: true }, region: 16 },
];

function storedSize(label: string, region: number, n: number): number {
  return label.startsWith("1.0") ? v1StoredLength(n) : v2StoredLength(n, region);
}

describe.each(protocols)("protocol $label round trips", ({ label, policy, region }) => {
  const sizes = [0, 1, 15, 16, 17, region - 1, region, region + 1, 3 * region + 5];
  const unique = [...new Set(sizes.filter((s) => s >= 0))];

  it.each(unique)("uploadData single Put Blob of %i bytes stores the §5 ciphertext size and decrypts exactly", async (n) => {
    const c = client(policy);
    const p = plaintext(n);
    const up = await c.uploadData(p);
    expect(up.uploadPath).toBe("single-put");
    const stored = await rawBytes(env.container, c.name);
    expect(stored.length).toBe(storedSize(label, region, n));
    expect(up.storedLength).toBe(stored.length);
    if (n >= 32) expect(stored.includes(p.subarray(0, 32))).toBe(false);
    const d = await c.download();
    expect(d.contentLength).toBe(n);
    expect((await streamToBuffer(d.readableStreamBody)).equals(p)).toBe(true);
    expect((await c.downloadToBuffer(0, undefined, { blockSize: 1, concurrency: 3 })).equals(p)).toBe(true);
  });

  it.each(unique.filter((n) => n > 0))("staged blocks (Put Block + Put Block List) of %i bytes give the same format and decrypt", async (n) => {
    const c = client(policy);
    const p = plaintext(n);
    const up = await c.uploadData(p, { maxSingleShotSize: 0, blockSize: 7 * KiB + 3, concurrency: 3 });
    expect(up.uploadPath).toBe("blocks");
    const stored = await rawBytes(env.container, c.name);
    expect(stored.length).toBe(storedSize(label, region, n));
    expect(up.blockCount).toBe(Math.ceil(stored.length / (7 * KiB + 3)));
    expect((await c.downloadToBuffer()).equals(p)).toBe(true);
  });
});

describe("upload entry points", () => {
  it("uploadStream encrypts odd-sized chunks into exact regions (2.1, 100-byte regions) and stages blocks in parallel", async () => {
    const c = client({ encryptionVersion: "2.1", regionSize: 100 });
    const p = plaintext(50_000);
    const chunks: Buffer[] = [];
    for (let i = 0; i < p.length; ) {
      const n = 1 + ((i * 7919) % 3001);
      chunks.push(p.subarray(i, i + n));
      i += n;
    }
    const up = await c.uploadStream(Readable.from(chunks), { blockSize: 4096, concurrency: 4 });
    expect(up.uploadPath).toBe("blocks");
    expect(up.plaintextLength).toBe(p.length);
    expect((await rawBytes(env.container, c.name)).length).toBe(v2StoredLength(p.length, 100));
    expect((await c.downloadToBuffer()).equals(p)).toBe(true);
  });

  it("uploadStream that ends within the first block is sent as one Put Blob", async () => {
    const c = client();
    const p = plaintext(3000);
    const up = await c.uploadStream(Readable.from([p.subarray(0, 1000), p.subarray(1000)]));
    expect(up.uploadPath).toBe("single-put");
    expect((await c.downloadToBuffer()).equals(p)).toBe(true);
  });

  it("uploadFile streams a file (staged when larger than maxSingleShotSize) and downloadToFile writes it back", async () => {
    const c = client();
    const p = plaintext(R + 12345);
    const inFile = path.join(dir, "in.bin");
    writeFileSync(inFile, p);
    const up = await c.uploadFile(inFile, { maxSingleShotSize: MiB, blockSize: MiB });
    expect(up.uploadPath).toBe("blocks");
    const out = path.join(dir, "out.bin");
    const res = await c.downloadToFile(out, 0, undefined, { blockSize: MiB });
    expect(res.contentLength).toBe(p.length);
    expect(readFileSync(out).equals(p)).toBe(true);
  });

  it("onProgress reports plaintext bytes, ending at the plaintext length, for both upload paths", async () => {
    for (const opts of [{}, { maxSingleShotSize: 0, blockSize: 64 * KiB }]) {
      const c = client({ encryptionVersion: "2.1", regionSize: 4096 });
      const p = plaintext(300_001);
      const seen: number[] = [];
      await c.uploadData(p, { ...opts, onProgress: (e) => seen.push(e.loadedBytes) });
      expect(seen.at(-1)).toBe(p.length);
      expect(Math.max(...seen)).toBe(p.length);
      const down: number[] = [];
      await c.downloadToBuffer(0, undefined, { blockSize: 64 * KiB, onProgress: (e) => down.push(e.loadedBytes) });
      expect(down.at(-1)).toBe(p.length);
    }
  });

  it("uploadData accepts Uint8Array, ArrayBuffer and Blob", async () => {
    const p = plaintext(777);
    for (const input of [new Uint8Array(p), p.buffer.slice(p.byteOffset, p.byteOffset + p.length), new Blob([p])]) {
      const c = client();
      await c.uploadData(input as never);
      expect((await c.downloadToBuffer()).equals(p)).toBe(true);
    }
  });
});

describe("metadata, headers, tags and tier pass through", () => {
  it("user metadata is stored next to encryptiondata (copied, never mutated); headers, tags and tier apply", async () => {
    const c = client();
    const metadata = Object.freeze({ Project: "CSE", owner: "tests" });
    await c.uploadData(plaintext(100), {
      metadata,
      blobHTTPHeaders: { blobContentType: "text/plain", blobCacheControl: "no-cache" },
      tags: { team: "storage" },
      tier: "Cool",
    });
    expect(metadata).toEqual({ Project: "CSE", owner: "tests" });
    const raw = env.container.getBlobClient(c.name);
    const props = await raw.getProperties();
    expect(props.metadata?.project).toBe("CSE");
    expect(props.metadata?.owner).toBe("tests");
    expect(parseEncryptionData(props.metadata!.encryptiondata!).protocol).toBe("2.0");
    expect(props.contentType).toBe("text/plain");
    expect(props.cacheControl).toBe("no-cache");
    expect(props.accessTier).toBe("Cool");
    expect((await raw.getTags()).tags).toEqual({ team: "storage" });
    // Listing keeps the caller's key case.
    for await (const item of env.container.listBlobsFlat({ prefix: c.name, includeMetadata: true })) expect(item.metadata?.Project).toBe("CSE");
  });

  it("the same passthrough holds for staged uploads (metadata is set by the Put Block List)", async () => {
    const c = client();
    await c.uploadData(plaintext(200_000), { maxSingleShotSize: 0, blockSize: 64 * KiB, metadata: { a: "1" }, blobHTTPHeaders: { blobContentType: "application/x-test" } });
    const props = await env.container.getBlobClient(c.name).getProperties();
    expect(props.metadata?.a).toBe("1");
    expect(props.contentType).toBe("application/x-test");
    expect(props.metadata?.encryptiondata).toBeDefined();
  });

  it.each(["encryptiondata", "EncryptionData", "ENCRYPTIONDATA"])("a caller metadata key %s is refused with INVALID_ARGUMENT and nothing is written", async (key) => {
    const c = client();
    await expect(c.uploadData(plaintext(10), { metadata: { [key]: "x" } })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    expect(await env.container.getBlobClient(c.name).exists()).toBe(false);
  });

  it("access conditions apply to the write: a stale ifMatch fails with CONDITION_NOT_MET and the blob is unchanged (both paths)", async () => {
    const c = client();
    const first = plaintext(100);
    const { etag } = await c.uploadData(first);
    await c.setMetadata({ touched: "yes" });
    for (const opts of [{}, { maxSingleShotSize: 0, blockSize: 1024 }]) {
      const e = await rejection(c.uploadData(plaintext(5000), { ...opts, conditions: { ifMatch: etag } }));
      expect(e.code).toBe("CONDITION_NOT_MET");
      expect(e.details?.statusCode).toBe(412);
      expect((await c.downloadToBuffer()).equals(first)).toBe(true);
    }
    // Create-only (If-None-Match: *) is answered with 409 BlobAlreadyExists by the service: SERVICE_ERROR with the status.
    const e = await rejection(c.uploadData(plaintext(10), { conditions: { ifNoneMatch: "*" } }));
    expect(e.code).toBe("SERVICE_ERROR");
    expect(e.details).toMatchObject({ statusCode: 409, errorCode: "BlobAlreadyExists" });
  });

  it("the staged path sends Content-MD5 with every Put Block", async () => {
    const c = client();
    const block = c.blobClient.getBlockBlobClient();
    const proto = Object.getPrototypeOf(block) as { stageBlock: (...a: unknown[]) => Promise<unknown> };
    const spy = vi.spyOn(proto, "stageBlock");
    try {
      await c.uploadData(plaintext(10_000), { maxSingleShotSize: 0, blockSize: 4096 });
      expect(spy).toHaveBeenCalledTimes(3);
      for (const call of spy.mock.calls) expect((call[3] as { transactionalContentMD5?: Uint8Array }).transactionalContentMD5?.length).toBe(16);
    } finally {
      spy.mockRestore();
    }
  });
});

describe("downloadToFile leaves no partial file", () => {
  it("a failing download (wrong key) leaves neither the target nor a temporary file", async () => {
    const c = client();
    await c.uploadData(plaintext(5000));
    const other = new EncryptedBlobClient(c.blobClient, { keyResolver: () => undefined });
    const out = path.join(dir, "never.bin");
    await expect(other.downloadToFile(out)).rejects.toMatchObject({ code: "KEY_NOT_FOUND" });
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes("never"))).toEqual([]);
  });
});

