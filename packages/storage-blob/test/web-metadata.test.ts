// @azure-cse/storage-blob/web against Azurite (Web Crypto in Node, the official SDK's Node build): getProperties
// with the encryption summary, setMetadata that keeps `encryptiondata`, and key rotation (metadata only, If-Match).
// Cross-checks with the Node client both ways; stale ETags and concurrent writers are CONDITION_NOT_MET.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BlobClient } from "@azure/storage-blob";
import { AesKeyWrapKey, RsaKey, createLocalKeyResolver, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { EncryptedBlobClient } from "@azure-cse/storage-blob";
import { WebEncryptedBlobClient, getEncryptedBlobProperties, setEncryptedBlobMetadata, updateBlobKeyEncryptionKey, type WebBlobClientLike } from "@azure-cse/storage-blob/web";
import { plaintext, rawBytes, rejection, startEnv, uniqueName, type Env } from "./helpers.js";

let env: Env;
beforeAll(async () => {
  env = await startEnv();
});
afterAll(async () => {
  await env?.stop();
});

const newKek = RsaKey.generate("local:web-rot-new", 2048, "RSA-OAEP-256");
const web = (name: string, policy: ClientSideEncryptionPolicy = env.policy) => new WebEncryptedBlobClient(env.container.getBlockBlobClient(name), policy);
const node = (name: string, policy: ClientSideEncryptionPolicy = env.policy) => new EncryptedBlobClient(env.container.getBlobClient(name), policy);
const storedData = async (name: string) => (await env.container.getBlobClient(name).getProperties()).metadata!.encryptiondata!;

/** The official client, with a writer that changes the blob's metadata right after the first Get Properties. */
function racing(client: BlobClient): WebBlobClientLike {
  let raced = false;
  return {
    url: client.url,
    download: (o, c, opts) => client.download(o, c, opts as never),
    getProperties: async (opts) => {
      const p = await client.getProperties(opts as never);
      if (!raced) {
        raced = true;
        await client.setMetadata({ ...p.metadata, other: "writer" });
      }
      return p;
    },
    setMetadata: (m, opts) => client.setMetadata(m, opts as never),
  };
}

describe("web getProperties", () => {
  it("reports protocol, key, region size and plaintext length like the Node client, without a key; plaintext and broken metadata are reported", async () => {
    for (const policy of [env.policy, { ...env.policy, encryptionVersion: "2.1" as const, regionSize: 65536 }]) {
      const name = uniqueName("wp");
      const body = plaintext(200_003);
      await web(name, policy).upload(body, { metadata: { origin: "web" } });
      const noKey = new WebEncryptedBlobClient(env.container.getBlockBlobClient(name), {});
      const p = await noKey.getProperties();
      const n = await node(name).getProperties();
      expect(p).toMatchObject({ isClientSideEncrypted: true, plaintextLength: body.length, storedContentLength: n.contentLength, metadata: { origin: "web" }, etag: n.etag });
      expect(p.encryption).toEqual(n.encryption);
      expect(p.metadata).not.toHaveProperty("encryptiondata");
    }
    const plain = uniqueName("wp-plain");
    await env.container.getBlockBlobClient(plain).upload("hello", 5);
    expect(await getEncryptedBlobProperties(env.container.getBlobClient(plain))).toMatchObject({ isClientSideEncrypted: false, plaintextLength: 5, storedContentLength: 5 });
    await env.container.getBlobClient(plain).setMetadata({ encryptiondata: "{not json" });
    const broken = await getEncryptedBlobProperties(env.container.getBlobClient(plain));
    expect(broken).toMatchObject({ isClientSideEncrypted: true, plaintextLength: undefined, encryptionDataError: { code: "INVALID_ENCRYPTION_DATA" } });
    expect((await rejection(getEncryptedBlobProperties(env.container.getBlobClient(uniqueName("missing"))))).code).toBe("NOT_FOUND");
  });
});

describe("web setMetadata", () => {
  it("replaces the user metadata and keeps encryptiondata byte for byte; the Node client still decrypts", async () => {
    const name = uniqueName("wm");
    const body = plaintext(5000);
    await web(name).upload(body, { metadata: { a: "1", b: "2" } });
    const before = await storedData(name);
    const r = await web(name).setMetadata({ c: "3" });
    expect(r.etag).toBeTruthy();
    const props = await env.container.getBlobClient(name).getProperties();
    expect(props.metadata).toEqual({ c: "3", encryptiondata: before });
    expect(props.etag).toBe(r.etag);
    expect(Buffer.compare(await node(name).downloadToBuffer(), body)).toBe(0);
    expect((await rejection(web(name).setMetadata({ EncryptionData: "x" }))).code).toBe("INVALID_ARGUMENT");
  });

  it("a stale ETag condition and a concurrent writer are CONDITION_NOT_MET with nothing overwritten", async () => {
    const name = uniqueName("wm-race");
    const up = await web(name).upload(plaintext(100));
    await web(name).setMetadata({ v: "2" });
    expect((await rejection(web(name).setMetadata({ v: "3" }, { conditions: { ifMatch: up.etag! } }))).code).toBe("CONDITION_NOT_MET");
    expect((await rejection(setEncryptedBlobMetadata(racing(env.container.getBlobClient(name)), { v: "4" }))).code).toBe("CONDITION_NOT_MET");
    expect((await env.container.getBlobClient(name).getProperties()).metadata).toMatchObject({ v: "2", other: "writer" });
  });
});

describe("web updateKeyEncryptionKey", () => {
  it("re-wraps a web-written blob: body untouched, only the wrapped key changes; the Node client with only the new key reads it", async () => {
    const name = uniqueName("wr");
    const body = plaintext(4 * 1024 * 1024 + 77);
    await web(name).upload(body, { metadata: { keep: "me" } });
    const storedBefore = await rawBytes(env.container, name);
    const jsonBefore = JSON.parse(await storedData(name));
    const r = await web(name).updateKeyEncryptionKey(newKek);
    expect(r).toMatchObject({ previousKeyId: env.kek.keyId, keyId: newKek.keyId, keyWrapAlgorithm: "RSA-OAEP-256" });
    const props = await env.container.getBlobClient(name).getProperties();
    expect(props.etag).toBe(r.etag);
    expect(props.metadata?.keep).toBe("me");
    const jsonAfter = JSON.parse(props.metadata!.encryptiondata!);
    expect(Object.keys(jsonAfter)).toEqual(Object.keys(jsonBefore));
    expect({ ...jsonAfter, WrappedContentKey: undefined }).toEqual({ ...jsonBefore, WrappedContentKey: undefined });
    expect(jsonAfter.WrappedContentKey.KeyId).toBe(newKek.keyId);
    expect((await rawBytes(env.container, name)).equals(storedBefore)).toBe(true);
    expect((await node(name, { keyEncryptionKey: newKek }).downloadToBuffer()).equals(body)).toBe(true);
    expect((await rejection(node(name, { keyEncryptionKey: env.kek }).downloadToBuffer())).code).toBe("KID_MISMATCH");
    // And back again in the browser with the new key in the policy.
    const back = await updateBlobKeyEncryptionKey(env.container.getBlobClient(name), { keyEncryptionKey: newKek }, env.kek);
    expect(back.previousKeyId).toBe(newKek.keyId);
    const reread = Buffer.from(await new Response((await web(name).download({ transport: "sdk" })).body).arrayBuffer());
    expect(reread.equals(body)).toBe(true);
  });

  it("a Node-written 2.1 blob rotated in the browser reads in the Node client; wrong key, plaintext blob, stale ETag and a concurrent writer are refused with nothing changed", async () => {
    const name = uniqueName("wr-node");
    const body = plaintext(300_000);
    const nodePolicy: ClientSideEncryptionPolicy = { ...env.policy, encryptionVersion: "2.1", regionSize: 65536 };
    const up = await node(name, nodePolicy).uploadData(body);
    const before = await storedData(name);
    const other = AesKeyWrapKey.generate("local:not-the-key");
    expect((await rejection(web(name, { keyResolver: createLocalKeyResolver([other]) }).updateKeyEncryptionKey(newKek))).code).toBe("KEY_NOT_FOUND");
    const liar = { keyId: "local:liar", defaultWrapAlgorithm: "X", wrapKey: async () => ({ encryptedKey: new Uint8Array(40), keyId: "local:liar" }), unwrapKey: async () => new Uint8Array(40) };
    expect((await rejection(web(name).updateKeyEncryptionKey(liar))).code).toBe("KEY_OPERATION_FAILED");
    await env.container.getBlobClient(name).setMetadata({ encryptiondata: before, touched: "1" });
    expect((await rejection(web(name).updateKeyEncryptionKey(newKek, { conditions: { ifMatch: up.etag! } }))).code).toBe("CONDITION_NOT_MET");
    expect((await rejection(updateBlobKeyEncryptionKey(racing(env.container.getBlobClient(name)), env.policy, newKek))).code).toBe("CONDITION_NOT_MET");
    expect(await storedData(name)).toBe(before);
    const r = await web(name).updateKeyEncryptionKey(newKek);
    expect(r.previousKeyId).toBe(env.kek.keyId);
    expect((await node(name, { keyEncryptionKey: newKek }).downloadToBuffer()).equals(body)).toBe(true);
    const plain = uniqueName("wr-plain");
    await env.container.getBlockBlobClient(plain).upload("x", 1);
    expect((await rejection(web(plain).updateKeyEncryptionKey(newKek))).code).toBe("ENCRYPTION_REQUIRED");
  });

  it("a tampered wrapped key is refused before anything is written", async () => {
    const name = uniqueName("wr-tamper");
    await web(name).upload(plaintext(1000));
    const data = JSON.parse(await storedData(name));
    const k = Buffer.from(data.WrappedContentKey.EncryptedKey, "base64");
    k[3]! ^= 1;
    data.WrappedContentKey.EncryptedKey = k.toString("base64");
    const tampered = JSON.stringify(data);
    await env.container.getBlobClient(name).setMetadata({ encryptiondata: tampered });
    expect((await rejection(web(name).updateKeyEncryptionKey(newKek))).code).toBe("DECRYPTION_FAILED");
    expect(await storedData(name)).toBe(tampered);
  });
});
