import { describe, expect, it } from "vitest";
import {
  AesKeyWrapKey,
  collectBytes,
  createContentEncryption,
  parseEncryptionData,
  unwrapContentKey,
  decryptPlanned,
  planRange,
  type EncryptionData,
} from "@azure-cse/core-envelope";
import { fixedRandom } from "./helpers.js";

const kek = new AesKeyWrapKey("local:kek-1", Buffer.from(Array.from({ length: 32 }, (_, i) => i)));
const cek = Buffer.from(Array.from({ length: 32 }, (_, i) => 0x20 + i));
const iv = Buffer.from(Array.from({ length: 16 }, (_, i) => 0x40 + i));
const hello = Buffer.from("Hello, Azure!");

async function encrypt(policy: Parameters<typeof createContentEncryption>[0], plaintext: Buffer) {
  const enc = await createContentEncryption(policy);
  const stored = await collectBytes(enc.encrypt([plaintext]));
  return { enc, stored };
}

async function decrypt(json: string, stored: Buffer) {
  const data: EncryptionData = parseEncryptionData(json);
  const key = await unwrapContentKey(data, { keyEncryptionKey: kek });
  return collectBytes(decryptPlanned(data, key, planRange(data, { offset: 0 }, stored.length), [stored]));
}

describe("spec blob-format §2.5 worked examples", () => {
  it("protocol 2.0: fixed CEK gives the exact Python body and EncryptedKey", async () => {
    const { enc, stored } = await encrypt({ keyEncryptionKey: kek, random: fixedRandom([cek]) }, hello);
    expect(stored.toString("hex")).toBe("000000000000000000000000ab4b8d35fb734418b22c962747de8f3c9dee104f20bfb0b89926ba189d");
    const json = JSON.parse(enc.toJson(true));
    expect(json.WrappedContentKey.EncryptedKey).toBe("J4GA/Bc2GgpqQCBmP0zJ7mcJaPAlAkxc1cWB1bgtNPjlDUOdugJt+/6kbqEpezbM");
    expect((await decrypt(enc.toJson(true), stored)).toString()).toBe("Hello, Azure!");
  });

  it("protocol 1.0: fixed CEK and IV give the exact Python body and EncryptedKey", async () => {
    const { enc, stored } = await encrypt(
      { keyEncryptionKey: kek, encryptionVersion: "1.0", allowDeprecatedV1Encryption: true, random: fixedRandom([cek, iv]) },
      hello,
    );
    expect(stored.toString("hex")).toBe("7bf487d9dfe846cc63c785da3cb566db");
    const json = JSON.parse(enc.toJson(true));
    expect(json.WrappedContentKey.EncryptedKey).toBe("BPijw8MC07C36UsU3Pha0dppzXQFbteQfTy0n7J3maQQTbBY8pAa2w==");
    expect(json.ContentEncryptionIV).toBe("QEFCQ0RFRkdISUpLTE1OTw==");
  });

  it("protocol 2.1 Java example decrypts (Java nonce scheme, DataLength 16)", async () => {
    const json = '{"EncryptionMode":"FullBlob","WrappedContentKey":{"KeyId":"local:kek-1","EncryptedKey":"cMwLfFHzWElK/jk3UCn383dDsHC/UDpYP9majZusVI+Mko1jjsI7eY5UOkzGi1Ol","Algorithm":"A256KW"},"EncryptionAgent":{"Protocol":"2.1","EncryptionAlgorithm":"AES_GCM_256"},"EncryptedRegionInfo":{"DataLength":16,"NonceLength":12},"KeyWrappingMetadata":{"EncryptionLibrary":"JavaTrack212.27.0"}}';
    const body = Buffer.from(
      "000000000000000000000000e32fe35a905a625ec050ee496ab2016fb195e30b69e9e0a1f99269ba2ad2f720" +
        "00000000000000010000000084f3d6707d28f1bc9e5d7852d722e6a6d239b1ed7200c6d9be2bc6778e9c6b58" +
        "0000000000000002000000009e38b9c0991d834356601389cbe96b3e78a614bfb5100534",
      "hex",
    );
    const out = await decrypt(json, body);
    expect(out).toEqual(Buffer.from(Array.from({ length: 40 }, (_, i) => i)));
  });
});
