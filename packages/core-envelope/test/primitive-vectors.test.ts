// Published known-answer tests for the two primitives the format is built on:
// RFC 3394 AES key wrap (through AesKeyWrapKey) and AES-256-GCM with 96-bit IVs (through the
// one-region helpers, whose layout is nonce ‖ ciphertext ‖ tag).
import { describe, expect, it } from "vitest";
import { AesKeyWrapKey } from "@azure-cse/core-envelope";
import { decryptGcmBuffer, encryptGcmBuffer } from "@azure-cse/core-envelope/internal";
import { expectCode } from "./helpers.js";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");
const kek = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => i));

// RFC 3394 §4.1–4.6
const rfc3394 = [
  { section: "4.1", alg: "A128KW", kekLen: 16, data: "00112233445566778899AABBCCDDEEFF", wrapped: "1FA68B0A8112B447 AEF34BD8FB5A7B82 9D3E862371D2CFE5" },
  { section: "4.2", alg: "A192KW", kekLen: 24, data: "00112233445566778899AABBCCDDEEFF", wrapped: "96778B25AE6CA435 F92B5B97C050AED2 468AB8A17AD84E5D" },
  { section: "4.3", alg: "A256KW", kekLen: 32, data: "00112233445566778899AABBCCDDEEFF", wrapped: "64E8C3F9CE0F5BA2 63E9777905818A2A 93C8191E7D6E8AE7" },
  { section: "4.4", alg: "A192KW", kekLen: 24, data: "00112233445566778899AABBCCDDEEFF0001020304050607", wrapped: "031D33264E15D332 68F24EC260743EDC E1C6C7DDEE725A93 6BA814915C6762D2" },
  { section: "4.5", alg: "A256KW", kekLen: 32, data: "00112233445566778899AABBCCDDEEFF0001020304050607", wrapped: "A8F9BC1612C68B3F F6E6F4FBE30E71E4 769C8B80A32CB895 8CD5D17D6B254DA1" },
  {
    section: "4.6",
    alg: "A256KW",
    kekLen: 32,
    data: "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
    wrapped: "28C9F404C4B810F4 CBCCB35CFB87F826 3F5786E2D80ED326 CBC7F0E71A99F43B FB988B9B7A02DD21",
  },
] as const;

describe("RFC 3394 AES key wrap (AesKeyWrapKey)", () => {
  for (const v of rfc3394) {
    it(`§${v.section}: ${v.alg} wraps ${v.data.length * 4}-bit key data to the published value and unwraps it back`, async () => {
      const key = new AesKeyWrapKey("rfc3394", kek(v.kekLen));
      expect(key.defaultWrapAlgorithm).toBe(v.alg);
      const { encryptedKey, keyId } = await key.wrapKey(v.alg, hex(v.data));
      expect(keyId).toBe("rfc3394");
      expect(Buffer.from(encryptedKey).toString("hex")).toBe(hex(v.wrapped).toString("hex"));
      expect(Buffer.from(await key.unwrapKey(v.alg, hex(v.wrapped))).toString("hex")).toBe(hex(v.data).toString("hex"));
    });
  }

  it("§2.2.3 integrity check: a wrapped key with any flipped bit fails to unwrap with DECRYPTION_FAILED", async () => {
    const key = new AesKeyWrapKey("rfc3394", kek(32));
    const wrapped = hex(rfc3394[5].wrapped);
    for (let byte = 0; byte < wrapped.length; byte += 7) {
      const bad = Buffer.from(wrapped);
      bad[byte]! ^= 0x01;
      await expectCode(() => key.unwrapKey("A256KW", bad), "DECRYPTION_FAILED");
    }
  });

  it("the algorithm name must match the key size (A128KW key refuses A256KW)", async () => {
    const key = new AesKeyWrapKey("k", kek(16));
    await expectCode(() => key.wrapKey("A256KW", hex(rfc3394[0].data)), "INVALID_ARGUMENT");
  });
});

// McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 13–15 (AES-256, no AAD),
// and NIST CAVP gcmEncryptExtIV256 (Keylen 256, IVlen 96, AADlen 0, Taglen 128), Count 0.
const gcm = [
  { name: "McGrew-Viega test case 13 (empty plaintext)", key: "00".repeat(32), iv: "00".repeat(12), pt: "", ct: "", tag: "530f8afbc74536b9a963b4f1c4cb738b" },
  {
    name: "McGrew-Viega test case 14 (one zero block)",
    key: "00".repeat(32),
    iv: "00".repeat(12),
    pt: "00".repeat(16),
    ct: "cea7403d4d606b6e074ec5d3baf39d18",
    tag: "d0d1c8a799996bf0265b98b5d48ab919",
  },
  {
    name: "McGrew-Viega test case 15 (64 bytes)",
    key: "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
    iv: "cafebabefacedbaddecaf888",
    pt: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
    ct: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
    tag: "b094dac5d93471bdec1a502270e3cc6c",
  },
  { name: "NIST CAVP gcmEncryptExtIV256 PTlen=0 Count=0", key: "b52c505a37d78eda5dd34f20c22540ea1b58963cf8e5bf8ffa85f9f2492505b4", iv: "516c33929df5a3284ff463d7", pt: "", ct: "", tag: "bdc1ac884d332457a1d2664f168c76f0" },
  {
    name: "NIST CAVP gcmEncryptExtIV256 PTlen=128 Count=0",
    key: "31bdadd96698c204aa9ce1448ea94ae1fb4a9a0b3c9d773b51bb1822666b8f22",
    iv: "0d18e06c7c725ac9e362e1ce",
    pt: "2db5168e932556f8089a0622981d017d",
    ct: "fa4362189661d163fcd6a56d8bf0405a",
    tag: "d636ac1bbedd5cc3ee727dc2ab4a9489",
  },
] as const;

describe("AES-256-GCM, 96-bit IV, empty AAD (encryptGcmBuffer / decryptGcmBuffer region layout nonce ‖ ct ‖ tag)", () => {
  for (const v of gcm) {
    it(`${v.name}: encrypt gives iv ‖ C ‖ T and decrypt returns P`, () => {
      const region = encryptGcmBuffer(hex(v.key), hex(v.iv), hex(v.pt));
      expect(region.toString("hex")).toBe(v.iv + v.ct + v.tag);
      expect(decryptGcmBuffer(hex(v.key), region).toString("hex")).toBe(v.pt);
    });

    it(`${v.name}: a flipped tag bit is DECRYPTION_FAILED`, async () => {
      const region = hex(v.iv + v.ct + v.tag);
      region[region.length - 1]! ^= 0x80;
      await expectCode(() => decryptGcmBuffer(hex(v.key), region), "DECRYPTION_FAILED");
    });
  }

  it("a region shorter than nonce + tag (28 bytes) is DECRYPTION_FAILED, and a 12-byte nonce is required to encrypt", async () => {
    await expectCode(() => decryptGcmBuffer(Buffer.alloc(32), Buffer.alloc(27)), "DECRYPTION_FAILED");
    await expectCode(() => encryptGcmBuffer(Buffer.alloc(32), Buffer.alloc(16), Buffer.alloc(1)), "INVALID_ARGUMENT");
  });
});
