// Key rotation in core (rewrapContentKey): the one re-wrap + check + JSON rule every service package uses.
import { describe, expect, it } from "vitest";
import { typedErrorAssertions } from "@azure-cse/testkit/assertions";
import {
  AesKeyWrapKey,
  ClientSideEncryptionError,
  createContentEncryption,
  parseEncryptionData,
  rewrapContentKey,
  serializeEncryptionData,
  unwrapContentKey,
  type KeyEncryptionKey,
} from "../src/index.js";
import { replaceWrappedContentKey } from "../src/internal.js";

async function written(protocol: "2.0" | "2.1" | "1.0") {
  const kek = AesKeyWrapKey.generate("local:old");
  const enc = await createContentEncryption({ keyEncryptionKey: kek, encryptionVersion: protocol, allowDeprecatedV1Encryption: true });
  const json = enc.toJson(true);
  enc.dispose();
  const data = parseEncryptionData(json);
  const cek = await unwrapContentKey(data, { keyEncryptionKey: kek });
  return { kek, json, data, cek };
}

const { codeOf } = typedErrorAssertions(ClientSideEncryptionError);

describe("rewrapContentKey", () => {
  for (const protocol of ["1.0", "2.0", "2.1"] as const) {
    it(`protocol ${protocol}: the new key unwraps the result; for this library's metadata the JSON is exactly the re-serialized EncryptionData`, async () => {
      const { json, data, cek } = await written(protocol);
      const next = AesKeyWrapKey.generate("local:new");
      const r = await rewrapContentKey(json, data.protocol, cek, next);
      expect(r).toMatchObject({ previousKeyId: "local:old", keyId: "local:new", keyWrapAlgorithm: "A256KW" });
      const after = parseEncryptionData(r.encryptionDataJson);
      expect(r.encryptionDataJson).toBe(serializeEncryptionData(after, { includeEncryptionMode: true }));
      expect(Buffer.from(await unwrapContentKey(after, { keyEncryptionKey: next })).equals(Buffer.from(cek))).toBe(true);
      await expect(unwrapContentKey(after, { keyEncryptionKey: AesKeyWrapKey.generate("local:old") })).rejects.toMatchObject({ code: "KID_MISMATCH" });
    });
  }

  it("keeps every other field as stored (order, case, unknown fields); only KeyId, EncryptedKey and Algorithm change", () => {
    const stored = '{"wrappedcontentkey":{"algorithm":"A256KW","KeyId":"old","EncryptedKey":"AAAA","Extra":1},"EncryptionAgent":{"Protocol":"1.0"},"ContentEncryptionIV":"AAAAAAAAAAAAAAAAAAAAAA==","X":"é"}';
    const out = replaceWrappedContentKey(stored, { keyId: "new", encryptedKey: Buffer.from([1, 2, 3]), algorithm: "RSA-OAEP" });
    expect(out).toBe('{"wrappedcontentkey":{"algorithm":"RSA-OAEP","KeyId":"new","EncryptedKey":"AQID","Extra":1},"EncryptionAgent":{"Protocol":"1.0"},"ContentEncryptionIV":"AAAAAAAAAAAAAAAAAAAAAA==","X":"\\u00e9"}');
  });

  it("the same failure gives the same code: wrap throws / unwrap disagrees → KEY_OPERATION_FAILED; bad shapes → INVALID_ARGUMENT; typed errors pass", async () => {
    const { json, data, cek } = await written("2.0");
    const good = AesKeyWrapKey.generate("local:g");
    const throwsOnWrap: KeyEncryptionKey = { keyId: "k", defaultWrapAlgorithm: "A256KW", wrapKey: async () => Promise.reject(new Error("boom")), unwrapKey: (a, k, o) => good.unwrapKey(a, k, o) };
    const liar: KeyEncryptionKey = { keyId: "k", defaultWrapAlgorithm: "A256KW", wrapKey: (a, k, o) => good.wrapKey(a, k, o), unwrapKey: async () => Buffer.alloc(40, 7) };
    const failsUnwrap: KeyEncryptionKey = { keyId: "k", defaultWrapAlgorithm: "A256KW", wrapKey: (a, k, o) => good.wrapKey(a, k, o), unwrapKey: async () => Promise.reject(new Error("no")) };
    const badShape = { keyId: "k", defaultWrapAlgorithm: "A256KW", wrapKey: async () => ({ encryptedKey: "x" }), unwrapKey: async () => Buffer.alloc(0) } as unknown as KeyEncryptionKey;
    const badUnwrap = { keyId: "k", defaultWrapAlgorithm: "A256KW", wrapKey: (a: string, k: Uint8Array) => good.wrapKey(a, k), unwrapKey: async () => "key" } as unknown as KeyEncryptionKey;
    const typed: KeyEncryptionKey = { keyId: "k", defaultWrapAlgorithm: "A256KW", wrapKey: async () => Promise.reject(new ClientSideEncryptionError("ABORTED", "a")), unwrapKey: (a, k, o) => good.unwrapKey(a, k, o) };
    expect(await codeOf(rewrapContentKey(json, data.protocol, cek, throwsOnWrap))).toBe("KEY_OPERATION_FAILED");
    expect(await codeOf(rewrapContentKey(json, data.protocol, cek, liar))).toBe("KEY_OPERATION_FAILED");
    expect(await codeOf(rewrapContentKey(json, data.protocol, cek, failsUnwrap))).toBe("KEY_OPERATION_FAILED");
    expect(await codeOf(rewrapContentKey(json, data.protocol, cek, badShape))).toBe("INVALID_ARGUMENT");
    expect(await codeOf(rewrapContentKey(json, data.protocol, cek, badUnwrap))).toBe("INVALID_ARGUMENT");
    expect(await codeOf(rewrapContentKey(json, data.protocol, cek, typed))).toBe("ABORTED");
    expect(await codeOf(rewrapContentKey(json, data.protocol, cek, {} as KeyEncryptionKey))).toBe("INVALID_ARGUMENT");
    expect(await codeOf(rewrapContentKey(json, data.protocol, cek, good, { keyWrapAlgorithm: "" }))).toBe("INVALID_ARGUMENT");
    expect(await codeOf(rewrapContentKey("[1]", data.protocol, cek, good))).toBe("INVALID_ENCRYPTION_DATA");
  });
});
