// Metadata-safe operations: properties, setMetadata, snapshots, copies, listing, key rotation (spec §7, §8).
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { AesKeyWrapKey, createLocalKeyResolver, parseEncryptionData, type KeyEncryptionKey } from "@azure-cse/core-envelope";
import { EncryptedBlobClient } from "@azure-cse/storage-blob";
import { plaintext, rawBytes, rejection, startEnv, streamToBuffer, uniqueName, type Env } from "./helpers.js";

let env: Env;
beforeAll(async () => {
  env = await startEnv();
});
afterAll(async () => {
  await env?.stop();
});

function client(name = uniqueName()): EncryptedBlobClient {
  return env.encrypted.getBlobClient(name);
}

describe("getProperties", () => {
  it("2.0: isClientSideEncrypted, protocol, key id, writer and the exact plaintext length from the stored length (§5)", async () => {
    const c = client();
    await c.uploadData(plaintext(4 * 1024 * 1024 + 1));
    const p = await c.getProperties();
    expect(p.isClientSideEncrypted).toBe(true);
    expect(p.encryption).toMatchObject({ protocol: "2.0", keyId: env.kek.keyId, keyWrapAlgorithm: "A256KW", regionSize: 4194304 });
    expect(p.encryption?.encryptionLibrary).toMatch(/^azsdk-js-azure-cse\//);
    expect(p.plaintextLength).toBe(4 * 1024 * 1024 + 1);
    expect(p.storedContentLength).toBe(4 * 1024 * 1024 + 1 + 56);
  });

  it("1.0: the plaintext length comes from the padding of the last block, only when asked (needs the key)", async () => {
    const c = new EncryptedBlobClient(env.container.getBlobClient(uniqueName()), { ...env.policy, encryptionVersion: "1.0", allowDeprecatedV1Encryption: true });
    for (const n of [0, 15, 16, 1000]) {
      await c.uploadData(plaintext(n));
      const p = await c.getProperties({ computeV1PlaintextLength: true });
      expect(p.encryption?.protocol).toBe("1.0");
      expect(p.plaintextLength).toBe(n);
    }
    const keyless = new EncryptedBlobClient(c.blobClient, {});
    expect((await keyless.getProperties()).plaintextLength).toBeUndefined();
  });

  it("security: getProperties on a 1.0 blob decrypts nothing unless asked (no padding oracle without a download), and honours allowedReadProtocols", async () => {
    const writer = new EncryptedBlobClient(env.container.getBlobClient(uniqueName()), { ...env.policy, encryptionVersion: "1.0", allowDeprecatedV1Encryption: true });
    await writer.uploadData(plaintext(100));
    // Corrupt the padding block: a default getProperties must still succeed (it fetched and decrypted nothing).
    const stored = await env.container.getBlobClient(writer.name).downloadToBuffer();
    stored[stored.length - 1]! ^= 0xff;
    const props = await env.container.getBlobClient(writer.name).getProperties();
    await env.container.getBlockBlobClient(writer.name).upload(stored, stored.length, { metadata: props.metadata });
    let unwraps = 0;
    const counting = { ...env.policy.keyEncryptionKey!, keyId: env.policy.keyEncryptionKey!.keyId, defaultWrapAlgorithm: env.policy.keyEncryptionKey!.defaultWrapAlgorithm, wrapKey: env.policy.keyEncryptionKey!.wrapKey.bind(env.policy.keyEncryptionKey), unwrapKey: (...a: Parameters<KeyEncryptionKey["unwrapKey"]>) => ((unwraps += 1), env.policy.keyEncryptionKey!.unwrapKey(...a)) };
    const reader = new EncryptedBlobClient(writer.blobClient, { keyEncryptionKey: counting });
    const p = await reader.getProperties();
    expect(p.encryption?.protocol).toBe("1.0");
    expect(p.plaintextLength).toBeUndefined();
    expect(unwraps).toBe(0);
    expect((await rejection(reader.getProperties({ computeV1PlaintextLength: true }))).code).toBe("DECRYPTION_FAILED");
    const migrated = new EncryptedBlobClient(writer.blobClient, { keyEncryptionKey: counting, allowedReadProtocols: ["2.0", "2.1"] });
    unwraps = 0;
    expect((await rejection(migrated.getProperties({ computeV1PlaintextLength: true }))).code).toBe("UNSUPPORTED_PROTOCOL");
    expect((await rejection(migrated.download())).code).toBe("UNSUPPORTED_PROTOCOL");
    expect((await rejection(migrated.downloadToBuffer())).code).toBe("UNSUPPORTED_PROTOCOL");
    expect((await rejection(migrated.download(0, 0))).code).toBe("UNSUPPORTED_PROTOCOL");
    expect(unwraps).toBe(0);
  });

  it("an unencrypted blob reports isClientSideEncrypted: false", async () => {
    const name = uniqueName();
    await env.container.getBlockBlobClient(name).upload("abc", 3);
    expect((await client(name).getProperties()).isClientSideEncrypted).toBe(false);
  });
});

describe("setMetadata keeps encryptiondata", () => {
  it("replacing user metadata keeps the blob decryptable; the old user keys are gone", async () => {
    const c = client();
    const p = plaintext(500);
    await c.uploadData(p, { metadata: { old: "1" } });
    const before = (await c.blobClient.getProperties()).metadata!.encryptiondata;
    await c.setMetadata({ fresh: "2" });
    const meta = (await c.blobClient.getProperties()).metadata!;
    expect(meta.old).toBeUndefined();
    expect(meta.fresh).toBe("2");
    expect(meta.encryptiondata).toBe(before);
    expect((await c.downloadToBuffer()).equals(p)).toBe(true);
    await c.setMetadata();
    expect((await c.downloadToBuffer()).equals(p)).toBe(true);
  });

  it("a caller key encryptiondata is refused (INVALID_ARGUMENT); a stale ifMatch → CONDITION_NOT_MET", async () => {
    const c = client();
    const { etag } = await c.uploadData(plaintext(10));
    expect((await rejection(c.setMetadata({ EncryptionData: "{}" }))).code).toBe("INVALID_ARGUMENT");
    await c.setMetadata({ a: "b" });
    expect((await rejection(c.setMetadata({ c: "d" }, { conditions: { ifMatch: etag } }))).code).toBe("CONDITION_NOT_MET");
  });

  it("the write is If-Match the ETag read: a change in between → CONDITION_NOT_MET, nothing overwritten", async () => {
    const c = client();
    await c.uploadData(plaintext(10));
    const original = c.blobClient.getProperties.bind(c.blobClient);
    vi.spyOn(c.blobClient, "getProperties").mockImplementationOnce(async (o) => {
      const r = await original(o);
      await env.container.getBlobClient(c.name).setMetadata({ ...r.metadata, other: "writer" });
      return r;
    });
    expect((await rejection(c.setMetadata({ mine: "1" }))).code).toBe("CONDITION_NOT_MET");
    expect((await env.container.getBlobClient(c.name).getProperties()).metadata?.other).toBe("writer");
  });
});

describe("snapshots, copies and listing keep the key metadata", () => {
  it("createSnapshot with new metadata carries encryptiondata over; the snapshot decrypts", async () => {
    const c = client();
    const p = plaintext(3000);
    await c.uploadData(p);
    const { snapshot } = await c.createSnapshot({ metadata: { snap: "yes" } });
    const snap = c.withSnapshot(snapshot!);
    expect((await snap.downloadToBuffer()).equals(p)).toBe(true);
    expect((await snap.getProperties()).metadata?.snap).toBe("yes");
    const plainSnap = await c.createSnapshot();
    expect((await c.withSnapshot(plainSnap.snapshot!).downloadToBuffer()).equals(p)).toBe(true);
    expect((await rejection(c.createSnapshot({ metadata: { encryptiondata: "x" } }))).code).toBe("INVALID_ARGUMENT");
  });

  it("copyFromBlob with new metadata keeps the source's encryptiondata; the copy decrypts", async () => {
    const src = client();
    const p = plaintext(70_000);
    await src.uploadData(p, { metadata: { from: "source" } });
    const dst = client();
    const r = await dst.copyFromBlob(src, { metadata: { copied: "1" }, pollIntervalInMs: 50 });
    expect(r.isClientSideEncrypted).toBe(true);
    expect((await dst.downloadToBuffer()).equals(p)).toBe(true);
    const meta = (await dst.getProperties()).metadata!;
    expect(meta.copied).toBe("1");
    expect(meta.from).toBeUndefined();
    const dst2 = client();
    await dst2.copyFromBlob(src.blobClient, { pollIntervalInMs: 50 });
    expect((await dst2.getProperties()).metadata?.from).toBe("source");
    expect((await dst2.downloadToBuffer()).equals(p)).toBe(true);
  });

  it("copyFromBlob of an unencrypted source is refused under requireEncryption (no plaintext is created)", async () => {
    const name = uniqueName();
    await env.container.getBlockBlobClient(name).upload("plain", 5);
    const dst = client();
    expect((await rejection(dst.copyFromBlob(env.container.getBlobClient(name)))).code).toBe("ENCRYPTION_REQUIRED");
    expect(await dst.exists()).toBe(false);
  });

  it("listBlobs reports encryption state and 2.x plaintext lengths from the listing alone", async () => {
    const prefix = uniqueName("list");
    await client(`${prefix}/enc`).uploadData(plaintext(1234));
    await env.container.getBlockBlobClient(`${prefix}/plain`).upload("abc", 3);
    const items = [];
    for await (const item of env.encrypted.listBlobs({ prefix })) items.push(item);
    expect(items.map((i) => [i.name, i.isClientSideEncrypted, i.plaintextLength, i.encryption?.protocol])).toEqual([
      [`${prefix}/enc`, true, 1234, "2.0"],
      [`${prefix}/plain`, false, undefined, undefined],
    ]);
  });
});

describe("key rotation: updateKeyEncryptionKey re-wraps only the content key (§8)", () => {
  it("after rotation the new key reads, the old key alone does not, the stored bytes and user metadata (case kept) are unchanged", async () => {
    const c = client();
    const p = plaintext(10_000);
    await c.uploadData(p, { metadata: { Project: "CSE" } });
    const storedBefore = await rawBytes(env.container, c.name);
    const newKek = AesKeyWrapKey.generate("local:rotated-kek");
    const r = await c.updateKeyEncryptionKey(newKek);
    expect(r).toMatchObject({ previousKeyId: env.kek.keyId, keyId: "local:rotated-kek", keyWrapAlgorithm: "A256KW" });
    expect((await rawBytes(env.container, c.name)).equals(storedBefore)).toBe(true);
    const newReader = new EncryptedBlobClient(c.blobClient, { keyEncryptionKey: newKek });
    expect((await newReader.downloadToBuffer()).equals(p)).toBe(true);
    expect((await rejection(new EncryptedBlobClient(c.blobClient, { keyEncryptionKey: env.kek }).download())).code).toBe("KID_MISMATCH");
    let listed: Record<string, string> | undefined;
    for await (const item of env.container.listBlobsFlat({ prefix: c.name, includeMetadata: true })) listed = item.metadata;
    expect(listed?.Project).toBe("CSE");
    const data = parseEncryptionData(listed!.encryptiondata!);
    expect(data.wrappedContentKey.keyId).toBe("local:rotated-kek");
    expect(data.keyWrappingMetadata?.EncryptionLibrary).toMatch(/^azsdk-js-azure-cse\//);
    // And back, finding the old key through a resolver.
    const back = new EncryptedBlobClient(c.blobClient, { keyResolver: createLocalKeyResolver([newKek]) });
    await back.updateKeyEncryptionKey(env.kek);
    expect((await c.downloadToBuffer()).equals(p)).toBe(true);
  });

  it("a new key whose wrap does not unwrap is detected before writing (KEY_OPERATION_FAILED); the blob is unchanged", async () => {
    const c = client();
    await c.uploadData(plaintext(100));
    const before = (await c.blobClient.getProperties()).metadata!.encryptiondata;
    const good = AesKeyWrapKey.generate("local:broken");
    const broken: KeyEncryptionKey = {
      keyId: "local:broken",
      defaultWrapAlgorithm: "A256KW",
      wrapKey: (alg, key, o) => good.wrapKey(alg, key, o),
      unwrapKey: async () => Buffer.alloc(40, 7),
    };
    expect((await rejection(c.updateKeyEncryptionKey(broken))).code).toBe("KEY_OPERATION_FAILED");
    expect((await c.blobClient.getProperties()).metadata!.encryptiondata).toBe(before);
  });

  it("a concurrent change between read and write → CONDITION_NOT_MET; the blob still decrypts with the old key", async () => {
    const c = client();
    const p = plaintext(100);
    await c.uploadData(p);
    const original = c.blobClient.getProperties.bind(c.blobClient);
    vi.spyOn(c.blobClient, "getProperties").mockImplementationOnce(async (o) => {
      const r = await original(o);
      await env.container.getBlobClient(c.name).setMetadata({ ...r.metadata, touched: "1" });
      return r;
    });
    expect((await rejection(c.updateKeyEncryptionKey(AesKeyWrapKey.generate("local:new")))).code).toBe("CONDITION_NOT_MET");
    expect((await c.downloadToBuffer()).equals(p)).toBe(true);
  });

  it("rotating an unencrypted blob → ENCRYPTION_REQUIRED; without the old key → KEY_NOT_FOUND", async () => {
    const name = uniqueName();
    await env.container.getBlockBlobClient(name).upload("abc", 3);
    expect((await rejection(client(name).updateKeyEncryptionKey(AesKeyWrapKey.generate("local:x")))).code).toBe("ENCRYPTION_REQUIRED");
    const c = client();
    await c.uploadData(plaintext(10));
    expect((await rejection(new EncryptedBlobClient(c.blobClient, { keyResolver: () => undefined }).updateKeyEncryptionKey(AesKeyWrapKey.generate("local:x")))).code).toBe("KEY_NOT_FOUND");
  });

  it("streams report plaintext lengths after rotation too", async () => {
    const c = client();
    const p = plaintext(321);
    await c.uploadData(p);
    const k2 = AesKeyWrapKey.generate("local:k2");
    await c.updateKeyEncryptionKey(k2);
    const d = await new EncryptedBlobClient(c.blobClient, { keyEncryptionKey: k2 }).download(300);
    expect(d.contentLength).toBe(21);
    expect((await streamToBuffer(d.readableStreamBody)).equals(p.subarray(300))).toBe(true);
  });
});
