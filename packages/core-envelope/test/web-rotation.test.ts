// Key rotation through @azure-cse/core-envelope/web: the same rewrapContentKey rule as the Node entry (one
// module, rotation.ts, Buffer-free), driven by Web Crypto keys. AES key wrap is deterministic, so the web entry
// with a Web Crypto key and the Node entry with the same key bytes must give the same stored JSON to the byte.
import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { typedErrorAssertions } from "@azure-cse/testkit/assertions";
import { AesKeyWrapKey, RsaKey, createContentEncryption, parseEncryptionData, rewrapContentKey as nodeRewrap, unwrapContentKey } from "@azure-cse/core-envelope";
import {
  ClientSideEncryptionError,
  WebAesKeyWrapKey,
  WebRsaKey,
  createWebContentEncryption,
  rewrapContentKey,
  unwrapWebContentKey,
  webContentKeyFromUnwrapped,
} from "../src/web/index.js";

const NEW_KEY = Uint8Array.from({ length: 32 }, (_, i) => 200 - i);

const { codeOf } = typedErrorAssertions(ClientSideEncryptionError);

describe("web entry: rewrapContentKey", () => {
  for (const protocol of ["1.0", "2.0", "2.1"] as const) {
    it(`protocol ${protocol}: byte-identical JSON to the Node entry for the same AES key; the Node entry unwraps the result`, async () => {
      const old = AesKeyWrapKey.generate("local:old");
      const enc = await createContentEncryption({ keyEncryptionKey: old, encryptionVersion: protocol, allowDeprecatedV1Encryption: true });
      const json = enc.toJson(true);
      enc.dispose();
      const cek = await unwrapContentKey(parseEncryptionData(json), { keyEncryptionKey: old });
      const web = await rewrapContentKey(json, protocol, cek, await WebAesKeyWrapKey.fromRaw("local:new", NEW_KEY));
      const node = await nodeRewrap(json, protocol, cek, new AesKeyWrapKey("local:new", Buffer.from(NEW_KEY)));
      expect(web).toEqual(node);
      expect(web).toMatchObject({ previousKeyId: "local:old", keyId: "local:new", keyWrapAlgorithm: "A256KW" });
      const back = await unwrapContentKey(parseEncryptionData(web.encryptionDataJson), { keyEncryptionKey: new AesKeyWrapKey("local:new", Buffer.from(NEW_KEY)) });
      expect(Buffer.from(back).equals(Buffer.from(cek))).toBe(true);
    });
  }

  it("a web-written 2.0 key rewrapped under a Web Crypto RSA key unwraps in both entries", async () => {
    const old = await WebAesKeyWrapKey.fromRaw("local:w-old", Uint8Array.from({ length: 32 }, (_, i) => i));
    const enc = await createWebContentEncryption({ keyEncryptionKey: old });
    const json = enc.toJson(true);
    enc.dispose();
    const cek = await unwrapWebContentKey(parseEncryptionData(json), { keyEncryptionKey: old });
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const rsa = new RsaKey("local:w-rsa", { privateKey }, "RSA-OAEP-256");
    const webRsa = await WebRsaKey.fromJwk("local:w-rsa", privateKey.export({ format: "jwk" }) as Record<string, unknown>, "RSA-OAEP-256");
    const r = await rewrapContentKey(json, "2.0", cek, webRsa);
    expect(r).toMatchObject({ previousKeyId: "local:w-old", keyId: "local:w-rsa", keyWrapAlgorithm: "RSA-OAEP-256" });
    const data = parseEncryptionData(r.encryptionDataJson);
    expect([...(await unwrapWebContentKey(data, { keyEncryptionKey: webRsa }))]).toEqual([...cek]);
    expect([...(await unwrapContentKey(data, { keyEncryptionKey: rsa }))]).toEqual([...cek]);
  });

  it("a key that does not give the content key back is KEY_OPERATION_FAILED; a non-key is INVALID_ARGUMENT; wrap input checks are shared", async () => {
    const old = await WebAesKeyWrapKey.fromRaw("local:o", NEW_KEY);
    const enc = await createWebContentEncryption({ keyEncryptionKey: old });
    const json = enc.toJson(true);
    enc.dispose();
    const cek = await unwrapWebContentKey(parseEncryptionData(json), { keyEncryptionKey: old });
    const liar = { keyId: "local:liar", defaultWrapAlgorithm: "X", wrapKey: async (_a: string, k: Uint8Array) => ({ encryptedKey: k.slice(), keyId: "local:liar" }), unwrapKey: async () => new Uint8Array(40) };
    expect(await codeOf(rewrapContentKey(json, "2.0", cek, liar))).toBe("KEY_OPERATION_FAILED");
    expect(await codeOf(rewrapContentKey(json, "2.0", cek, {} as never))).toBe("INVALID_ARGUMENT");
    expect(await codeOf(rewrapContentKey(json, "2.0", cek.subarray(1), old))).toBe("INVALID_ARGUMENT");
    // The shared unwrap check: a 2.1 prefix presented as 2.0 is a downgrade and fails.
    const prefixed = new Uint8Array(40);
    prefixed.set([50, 46, 49]);
    expect(() => webContentKeyFromUnwrapped("2.0", prefixed)).toThrow(expect.objectContaining({ code: "DECRYPTION_FAILED" }));
    expect(webContentKeyFromUnwrapped("2.1", prefixed).length).toBe(32);
  });
});
