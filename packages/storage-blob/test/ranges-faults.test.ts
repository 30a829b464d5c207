// Ranged reads (spec §6), ETag pinning, aborts, tampering, requireEncryption (§9) and refused operations.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { AesKeyWrapKey, ALLOW_MISORDERED_ENV, V2_REGION_OVERHEAD, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { EncryptedBlobClient } from "@azure-cse/storage-blob";
import { KiB, MiB, plaintext, rawBytes, rejection, startEnv, streamToBuffer, uniqueName, type Env } from "./helpers.js";

let env: Env;
beforeAll(async () => {
  env = await startEnv();
});
afterAll(async () => {
  await env?.stop();
});

function client(policy: Partial<ClientSideEncryptionPolicy> = {}, name = uniqueName()): EncryptedBlobClient {
  return new EncryptedBlobClient(env.container.getBlobClient(name), { ...env.policy, ...policy });
}

/** Records the (offset, count) of every GET the encrypted client makes. */
function recordGets(c: EncryptedBlobClient): Array<[number, number | undefined]> {
  const calls: Array<[number, number | undefined]> = [];
  const original = c.blobClient.download.bind(c.blobClient);
  vi.spyOn(c.blobClient, "download").mockImplementation(async (offset, count, options) => {
    calls.push([offset ?? 0, count]);
    return original(offset, count, options);
  });
  return calls;
}

const L = 1024; // 2.1 region size used below
const RS = L + V2_REGION_OVERHEAD;

describe("ranges (2.1, 1 KiB regions, 5 regions + 100 bytes)", () => {
  const P = 5 * L + 100;
  const p = plaintext(P);
  let name: string;
  beforeAll(async () => {
    name = uniqueName();
    await client({ encryptionVersion: "2.1", regionSize: L }, name).uploadData(p);
  });
  const cases: Array<[number, number | undefined]> = [
    [0, 1], [0, L], [L - 1, 2], [L, 1], [L, L], [L + 1, 3 * L], [P - 1, 1], [P - 1, undefined], [3000, undefined],
    [0, P], [0, P + 500], [P - 10, 100], [P, 5], [P + 7, undefined], [10, 0], [5 * L, 100],
  ];
  it.each(cases)("download(%i, %s) returns the clamped plaintext slice and fetches only the covering regions (§6.2)", async (offset, count) => {
    const c = client({}, name);
    const gets = recordGets(c);
    const res = await c.download(offset, count);
    const got = await streamToBuffer(res.readableStreamBody);
    const end = count === undefined ? P : Math.min(P, offset + count);
    const expected = p.subarray(Math.min(offset, P), Math.max(offset, end));
    expect(got.equals(expected)).toBe(true);
    expect(res.contentLength).toBe(expected.length);
    const storedLen = 5 * RS + 100 + V2_REGION_OVERHEAD;
    if (expected.length === 0) {
      // Every read authenticates: one region (at the offset, else the last) is fetched and its tag verified.
      const index = Math.min(Math.floor(offset / L), Math.floor((P - 1) / L));
      expect(gets).toEqual([[index * RS, Math.min((index + 1) * RS, storedLen) - index * RS]]);
    } else {
      const first = Math.floor(offset / L);
      const last = Math.floor((end - 1) / L);
      expect(gets).toEqual([[first * RS, Math.min((last + 1) * RS, storedLen) - first * RS]]);
    }
    expect((await c.downloadToBuffer(offset, count, { blockSize: 2 * L, concurrency: 2 })).equals(expected)).toBe(true);
  });
});

describe("ranges (1.0 CBC, 1000 bytes)", () => {
  const P = 1000;
  const p = plaintext(P);
  let name: string;
  beforeAll(async () => {
    name = uniqueName();
    await client({ encryptionVersion: "1.0", allowDeprecatedV1Encryption: true }, name).uploadData(p);
  });
  const cases: Array<[number, number | undefined]> = [
    [0, 10], [5, 16], [16, 1], [20, 10], [39, 54], [0, 1000], [999, 1], [990, 100], [992, undefined], [984, 16], [500, undefined], [1000, 5],
  ];
  it.each(cases)("download(%i, %s) fetches whole CBC blocks plus the previous block as IV (§6.1) and returns the exact slice", async (offset, count) => {
    const c = client({}, name);
    const gets = recordGets(c);
    const res = await c.download(offset, count);
    const got = await streamToBuffer(res.readableStreamBody);
    const end = count === undefined ? P : Math.min(P, offset + count);
    const expected = p.subarray(Math.min(offset, P), Math.max(offset, end));
    expect(got.equals(expected)).toBe(true);
    expect(res.contentLength).toBe(expected.length);
    if (expected.length > 0) {
      // The data GET is the last one; a range reaching the last block first reads the last two blocks
      // (stored bytes 976..1007) to learn the exact plaintext length from the padding.
      const start = Math.max(0, offset - (offset % 16) - (offset >= 16 ? 16 : 0));
      const e = end - 1;
      const stop = Math.min(e + (15 - (e % 16)), 1007);
      expect(gets.at(-1)).toEqual([start, stop - start + 1]);
      expect(gets.slice(0, -1)).toEqual(stop === 1007 ? [[976, 32]] : []);
    } else {
      // Only the padding (last two blocks) may be read to learn that nothing is left.
      expect(gets.filter(([o, n]) => !(o === 976 && n === 32))).toEqual([]);
    }
    expect((await c.downloadToBuffer(offset, count, { blockSize: 64, concurrency: 3 })).equals(expected)).toBe(true);
  });
});

describe("ETag pinning: a blob replaced mid-download fails with CONDITION_NOT_MET, never a splice", () => {
  it("parallel downloadToBuffer: overwrite after the first ranged GET → CONDITION_NOT_MET", async () => {
    const c = client({ encryptionVersion: "2.1", regionSize: 4 * KiB });
    await c.uploadData(plaintext(64 * KiB));
    const original = c.blobClient.download.bind(c.blobClient);
    let n = 0;
    vi.spyOn(c.blobClient, "download").mockImplementation(async (offset, count, options) => {
      if (n++ === 1) await new EncryptedBlobClient(env.container.getBlobClient(c.name), env.policy).uploadData(plaintext(64 * KiB));
      return original(offset, count, options);
    });
    const e = await rejection(c.downloadToBuffer(0, undefined, { blockSize: 4 * KiB, concurrency: 1 }));
    expect(e.code).toBe("CONDITION_NOT_MET");
    expect(e.details?.statusCode).toBe(412);
  });

  it("ranged download(): overwrite between the properties read and the GET → CONDITION_NOT_MET", async () => {
    const c = client();
    await c.uploadData(plaintext(1000));
    const original = c.blobClient.getProperties.bind(c.blobClient);
    vi.spyOn(c.blobClient, "getProperties").mockImplementation(async (options) => {
      const r = await original(options);
      await env.container.getBlockBlobClient(c.name).upload("plain replacement", 17);
      return r;
    });
    expect((await rejection(c.download(10, 20))).code).toBe("CONDITION_NOT_MET");
  });

  it("1.0 whole download: the plaintext-length request is pinned too", async () => {
    const c = client({ encryptionVersion: "1.0", allowDeprecatedV1Encryption: true });
    await c.uploadData(plaintext(5000));
    const original = c.blobClient.download.bind(c.blobClient);
    let n = 0;
    vi.spyOn(c.blobClient, "download").mockImplementation(async (offset, count, options) => {
      if (n++ === 1) await env.container.getBlockBlobClient(c.name).upload("x".repeat(32), 32);
      return original(offset, count, options);
    });
    expect((await rejection(c.download())).code).toBe("CONDITION_NOT_MET");
  });
});

describe("aborted and failed uploads never leave a blob without its key metadata", () => {
  it("abort mid-upload (after the first staged block) → ABORTED; the previous blob is intact", async () => {
    const c = client();
    const first = plaintext(3000);
    await c.uploadData(first, { metadata: { version: "1" } });
    const ac = new AbortController();
    const e = await rejection(
      c.uploadData(plaintext(2 * MiB), { maxSingleShotSize: 0, blockSize: 64 * KiB, concurrency: 1, abortSignal: ac.signal, onProgress: () => ac.abort() }),
    );
    expect(e.code).toBe("ABORTED");
    expect((await c.downloadToBuffer()).equals(first)).toBe(true);
    expect((await c.getProperties()).metadata?.version).toBe("1");
  });

  it("abort of a first upload leaves no blob at all (NOT_FOUND), not a keyless one", async () => {
    const c = client();
    const ac = new AbortController();
    const e = await rejection(c.uploadData(plaintext(MiB), { maxSingleShotSize: 0, blockSize: 64 * KiB, concurrency: 2, abortSignal: ac.signal, onProgress: () => ac.abort() }));
    expect(e.code).toBe("ABORTED");
    expect((await rejection(c.download())).code).toBe("NOT_FOUND");
    expect(await c.exists()).toBe(false);
  });

  it("an already-aborted signal writes nothing", async () => {
    const c = client();
    const ac = new AbortController();
    ac.abort();
    expect((await rejection(c.uploadData(plaintext(10), { abortSignal: ac.signal }))).code).toBe("ABORTED");
    expect(await c.exists()).toBe(false);
  });

  it("a failing Put Block stops the upload with a typed error and commits nothing", async () => {
    const c = client();
    const block = c.blobClient.getBlockBlobClient();
    const proto = Object.getPrototypeOf(block) as { stageBlock: (...a: unknown[]) => Promise<unknown> };
    const orig = proto.stageBlock;
    let n = 0;
    const spy = vi.spyOn(proto, "stageBlock").mockImplementation(function (this: unknown, ...args: unknown[]) {
      if (n++ === 2) return Promise.reject(Object.assign(new Error("boom"), { name: "RestError", statusCode: 500, details: { errorCode: "InternalError" } }));
      return orig.apply(this, args);
    });
    try {
      const e = await rejection(c.uploadData(plaintext(MiB), { maxSingleShotSize: 0, blockSize: 64 * KiB, concurrency: 2 }));
      expect(e.code).toBe("SERVICE_ERROR");
      expect(e.details?.statusCode).toBe(500);
    } finally {
      spy.mockRestore();
    }
    expect(await c.exists()).toBe(false);
  });
});

describe("requireEncryption (§9) and unreadable metadata", () => {
  it("an unencrypted blob is refused with ENCRYPTION_REQUIRED by default (download, downloadToBuffer)", async () => {
    const name = uniqueName();
    await env.container.getBlockBlobClient(name).upload("plain text", 10);
    const c = client({}, name);
    expect((await rejection(c.download())).code).toBe("ENCRYPTION_REQUIRED");
    expect((await rejection(c.download(2, 3))).code).toBe("ENCRYPTION_REQUIRED");
    expect((await rejection(c.downloadToBuffer())).code).toBe("ENCRYPTION_REQUIRED");
  });

  it("requireEncryption: false reads an unencrypted blob as is (whole and ranged)", async () => {
    const name = uniqueName();
    await env.container.getBlockBlobClient(name).upload("plain text", 10);
    const c = client({ requireEncryption: false }, name);
    const d = await c.download();
    expect(d.isClientSideEncrypted).toBe(false);
    expect((await streamToBuffer(d.readableStreamBody)).toString()).toBe("plain text");
    expect((await streamToBuffer((await c.download(6, 4)).readableStreamBody)).toString()).toBe("text");
    expect((await c.downloadToBuffer(0, 5)).toString()).toBe("plain");
  });

  it("writes never fall back to plaintext: no keyEncryptionKey → KEY_NOT_FOUND and nothing is written", async () => {
    const c = client({ keyEncryptionKey: undefined, requireEncryption: false });
    expect((await rejection(c.uploadData(plaintext(10)))).code).toBe("KEY_NOT_FOUND");
    expect(await c.exists()).toBe(false);
  });

  it("1.0 writing needs the explicit deprecated opt-in (DEPRECATED_PROTOCOL)", async () => {
    expect((await rejection(client({ encryptionVersion: "1.0" }).uploadData(plaintext(10)))).code).toBe("DEPRECATED_PROTOCOL");
  });

  const badMetadata: Array<[string, string, string]> = [
    ["not JSON", "{nope", "INVALID_ENCRYPTION_DATA"],
    ["unknown protocol 3.0", JSON.stringify({ WrappedContentKey: { KeyId: "k", EncryptedKey: "AAAA", Algorithm: "A256KW" }, EncryptionAgent: { Protocol: "3.0", EncryptionAlgorithm: "AES_GCM_256" } }), "UNSUPPORTED_PROTOCOL"],
    ["2.0 without EncryptedRegionInfo", JSON.stringify({ WrappedContentKey: { KeyId: "k", EncryptedKey: "AAAA", Algorithm: "A256KW" }, EncryptionAgent: { Protocol: "2.0", EncryptionAlgorithm: "AES_GCM_256" } }), "INVALID_ENCRYPTION_DATA"],
  ];
  it.each(badMetadata)("present but unreadable metadata (%s) fails closed even with requireEncryption: false", async (_label, value, code) => {
    const name = uniqueName();
    await env.container.getBlockBlobClient(name).upload("ciphertext?", 11, { metadata: { encryptiondata: value } });
    const c = client({ requireEncryption: false }, name);
    expect((await rejection(c.download())).code).toBe(code);
    expect((await rejection(c.downloadToBuffer())).code).toBe(code);
    const props = await c.getProperties();
    expect(props.isClientSideEncrypted).toBe(true);
    expect(props.encryptionDataError?.code).toBe(code);
  });
});

describe("tampering and wrong keys give typed errors, never wrong plaintext", () => {
  async function tampered(mutate: (b: Buffer) => Buffer, policy: Partial<ClientSideEncryptionPolicy> = {}): Promise<EncryptedBlobClient> {
    const c = client({ encryptionVersion: "2.1", regionSize: 1024, ...policy });
    await c.uploadData(plaintext(4000));
    const stored = await rawBytes(env.container, c.name);
    const meta = (await c.blobClient.getProperties()).metadata!;
    const bad = mutate(Buffer.from(stored));
    await env.container.getBlockBlobClient(c.name).upload(bad, bad.length, { metadata: meta });
    return c;
  }

  it("a flipped ciphertext bit → DECRYPTION_FAILED (stream, buffer and the covering range)", async () => {
    const c = await tampered((b) => {
      b[2000] = b[2000]! ^ 1;
      return b;
    });
    await expect(streamToBuffer((await c.download()).readableStreamBody)).rejects.toMatchObject({ code: "DECRYPTION_FAILED" });
    expect((await rejection(c.downloadToBuffer())).code).toBe("DECRYPTION_FAILED");
    await expect(streamToBuffer((await c.download(1100, 10)).readableStreamBody)).rejects.toMatchObject({ code: "DECRYPTION_FAILED" });
    // A range in an untouched region still reads.
    expect((await c.downloadToBuffer(0, 100)).length).toBe(100);
  });

  it("a truncated body (partial region cut) → DECRYPTION_FAILED", async () => {
    const c = await tampered((b) => b.subarray(0, b.length - 5));
    expect((await rejection(c.downloadToBuffer())).code).toBe("DECRYPTION_FAILED");
  });

  it("swapped regions → REGION_OUT_OF_ORDER (the 2026 reorder check), readable with the recovery switch", async () => {
    const c = await tampered((b) => Buffer.concat([b.subarray(RS, 2 * RS), b.subarray(0, RS), b.subarray(2 * RS)]));
    expect((await rejection(c.downloadToBuffer())).code).toBe("REGION_OUT_OF_ORDER");
    const recovery = new EncryptedBlobClient(c.blobClient, { ...env.policy, allowMisorderedRegions: true });
    expect((await recovery.downloadToBuffer()).length).toBe(4000);
    expect(ALLOW_MISORDERED_ENV).toBe("AZURE_STORAGE_CSE_V2_ALLOW_MISORDERED_AUTH_REGIONS");
  });

  it("a wrong key: KID_MISMATCH for another configured key, KEY_NOT_FOUND from a resolver without it", async () => {
    const c = client();
    await c.uploadData(plaintext(100));
    const other = AesKeyWrapKey.generate("local:other");
    expect((await rejection(new EncryptedBlobClient(c.blobClient, { keyEncryptionKey: other }).download())).code).toBe("KID_MISMATCH");
    expect((await rejection(new EncryptedBlobClient(c.blobClient, { keyResolver: () => undefined }).download())).code).toBe("KEY_NOT_FOUND");
    // Same kid, different key material: the unwrap fails → DECRYPTION_FAILED.
    const impostor = AesKeyWrapKey.generate(env.kek.keyId);
    expect((await rejection(new EncryptedBlobClient(c.blobClient, { keyEncryptionKey: impostor }).download())).code).toBe("DECRYPTION_FAILED");
  });

  it("a missing blob → NOT_FOUND with statusCode 404", async () => {
    const e = await rejection(client().download());
    expect(e.code).toBe("NOT_FOUND");
    expect(e.details?.statusCode).toBe(404);
    expect((await rejection(client().downloadToBuffer(5, 5))).code).toBe("NOT_FOUND");
  });

  it("bad arguments → INVALID_ARGUMENT", async () => {
    expect((await rejection(client().download(-1))).code).toBe("INVALID_ARGUMENT");
    expect((await rejection(client().download(0, 1.5))).code).toBe("INVALID_ARGUMENT");
    expect((await rejection(client().uploadData(plaintext(1), { concurrency: 0 }))).code).toBe("INVALID_ARGUMENT");
  });
});

describe("page and append blob writes are not offered", () => {
  it("the encrypted clients have no getPageBlobClient / getAppendBlobClient / getBlockBlobClient / uploadPages / appendBlock (no public stubs); raw access stays on blobClient", () => {
    const c = client() as unknown as Record<string, unknown>;
    const container = env.encrypted as unknown as Record<string, unknown>;
    for (const name of ["getPageBlobClient", "getAppendBlobClient", "getBlockBlobClient", "uploadPages", "appendBlock"]) expect(name in c, name).toBe(false);
    for (const name of ["getPageBlobClient", "getAppendBlobClient", "getBlockBlobClient"]) expect(name in container, name).toBe(false);
    expect(typeof client().blobClient.getBlockBlobClient).toBe("function");
  });
});
