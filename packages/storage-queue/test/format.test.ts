// Wire-format rules of encrypted queue messages (spec queue-table-keys-format §1), each test named after its rule.
import { createCipheriv } from "node:crypto";
import { describe, expect, it } from "vitest";
import { AesKeyWrapKey, LIBRARY_ID, RsaKey, createContentEncryption, regionNonce, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { encryptGcmBuffer } from "@azure-cse/core-envelope/internal";
import {
  QUEUE_MESSAGE_MAX_LENGTH,
  QUEUE_V2_NONCE,
  decryptQueueMessage,
  encryptQueueMessage,
  isEncryptedMessageText,
  plaintextBudget,
} from "@azure-cse/storage-queue";
import { caught, expectCode, expectNoSecrets, fixedRandom } from "./helpers.js";

const kekBytes = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
const kek = new AesKeyWrapKey("local:kek-1", kekBytes);
const otherKek = new AesKeyWrapKey("local:kek-2", Buffer.alloc(32, 7));
const sameIdOtherBytes = new AesKeyWrapKey("local:kek-1", Buffer.alloc(32, 9));
const cek = Buffer.alloc(32, 0x11);
const iv = Buffer.alloc(16, 0x22);
const hello = "Hello, queue! é中";
const v2: ClientSideEncryptionPolicy = { keyEncryptionKey: kek };
const v1: ClientSideEncryptionPolicy = { keyEncryptionKey: kek, encryptionVersion: "1.0", allowDeprecatedV1Encryption: true };

// Spec §5: real Python 12.6.0b1 output with CEK 0x11…, IV 0x22…, nonce 0x33….
const PY_V1 =
  '{"EncryptedMessageContents": "qdmAKBC2H37gA1isIX5M1iV8D882hwmBR6ibrmYJ6dA=", "EncryptionData": {"WrappedContentKey": {"KeyId": "local:kek-1", "EncryptedKey": "gBtSHZV+WjYCvRijsRUSzJ+wgi3Q00lpEj2osdq36AcqW+Vuybf0yQ==", "Algorithm": "A256KW"}, "EncryptionAgent": {"Protocol": "1.0", "EncryptionAlgorithm": "AES_CBC_256"}, "ContentEncryptionIV": "IiIiIiIiIiIiIiIiIiIiIg==", "KeyWrappingMetadata": {"EncryptionLibrary": "Python 12.6.0b1"}}}';
const PY_V2 =
  '{"EncryptedMessageContents": "MzMzMzMzMzMzMzMzzOY+KqW+VV3H3Z4IhgsggeJwoiL1UIpZzsdfaz8eVh5tOws=", "EncryptionData": {"WrappedContentKey": {"KeyId": "local:kek-1", "EncryptedKey": "Y10mpREhuBOxrieJdFp/2/jW+jgjH2KFpGgseeWHHHLlq+azTVPS3dybi0VgH9gi", "Algorithm": "A256KW"}, "EncryptionAgent": {"Protocol": "2.0", "EncryptionAlgorithm": "AES_GCM_256"}, "EncryptedRegionInfo": {"DataLength": 4194304, "NonceLength": 12}, "KeyWrappingMetadata": {"EncryptionLibrary": "Python 12.6.0b1"}}}';

// Tests edit arbitrary nested metadata fields.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Envelope = { EncryptedMessageContents: string; EncryptionData: Record<string, any> };
const parse = (s: string) => JSON.parse(s) as Envelope;
const contents = (s: string) => Buffer.from(parse(s).EncryptedMessageContents, "base64");
const mutate = (s: string, f: (e: Envelope) => void) => {
  const e = parse(s);
  f(e);
  return JSON.stringify(e);
};

describe("spec §5 deterministic vectors", () => {
  it("1.0: CEK 0x11 and IV 0x22 reproduce Python's EncryptedMessageContents, EncryptedKey and IV byte for byte", async () => {
    const text = await encryptQueueMessage(hello, { ...v1, random: fixedRandom([cek, iv]) });
    const ours = parse(text);
    const py = parse(PY_V1);
    expect(ours.EncryptedMessageContents).toBe(py.EncryptedMessageContents);
    expect(ours.EncryptionData.WrappedContentKey).toEqual(py.EncryptionData.WrappedContentKey);
    expect(ours.EncryptionData.ContentEncryptionIV).toBe(py.EncryptionData.ContentEncryptionIV);
    expect(ours.EncryptionData.EncryptionAgent).toEqual(py.EncryptionData.EncryptionAgent);
  });

  it("2.0: CEK 0x11 reproduces Python's EncryptedKey; the body is .NET nonce ‖ AES-256-GCM(P) ‖ tag", async () => {
    const text = await encryptQueueMessage(hello, { ...v2, random: fixedRandom([cek]) });
    const ours = parse(text);
    expect(ours.EncryptionData.WrappedContentKey).toEqual(parse(PY_V2).EncryptionData.WrappedContentKey);
    // Independent computation with node:crypto.
    const nonce = Buffer.from("000000000100000000000000", "hex");
    const c = createCipheriv("aes-256-gcm", cek, nonce);
    const expected = Buffer.concat([nonce, c.update(Buffer.from(hello, "utf8")), c.final(), c.getAuthTag()]);
    expect(ours.EncryptedMessageContents).toBe(expected.toString("base64"));
  });

  it("the Python 1.0 and 2.0 spec messages decrypt (2.0 with Python's explicit 0x33 nonce)", async () => {
    for (const m of [PY_V1, PY_V2]) {
      const out = await decryptQueueMessage(m, { keyEncryptionKey: kek });
      expect(out.messageText).toBe(hello);
    }
    expect(contents(PY_V2).subarray(0, 12).equals(Buffer.alloc(12, 0x33))).toBe(true);
  });
});

describe("envelope format written", () => {
  it("the MessageText is a JSON object with exactly EncryptedMessageContents then EncryptionData", async () => {
    for (const p of [v1, v2]) {
      const text = await encryptQueueMessage("x", p);
      expect(Object.keys(JSON.parse(text))).toEqual(["EncryptedMessageContents", "EncryptionData"]);
      expect(text.startsWith('{"EncryptedMessageContents":"')).toBe(true);
    }
  });

  it("queue EncryptionData has no EncryptionMode (legacy Java rejects it); fields in .NET/Python order", async () => {
    const d1 = parse(await encryptQueueMessage("x", v1)).EncryptionData;
    const d2 = parse(await encryptQueueMessage("x", v2)).EncryptionData;
    expect(Object.keys(d1)).toEqual(["WrappedContentKey", "EncryptionAgent", "ContentEncryptionIV", "KeyWrappingMetadata"]);
    expect(Object.keys(d2)).toEqual(["WrappedContentKey", "EncryptionAgent", "EncryptedRegionInfo", "KeyWrappingMetadata"]);
    expect(JSON.stringify([d1, d2])).not.toMatch(/EncryptionMode/i);
  });

  it("2.0 has EncryptedRegionInfo {DataLength: 4194304, NonceLength: 12} and no ContentEncryptionIV", async () => {
    const d = parse(await encryptQueueMessage("x", v2)).EncryptionData;
    expect(d.EncryptedRegionInfo).toEqual({ DataLength: 4194304, NonceLength: 12 });
    expect(d.EncryptionAgent).toEqual({ Protocol: "2.0", EncryptionAlgorithm: "AES_GCM_256" });
    expect(d.ContentEncryptionIV).toBeUndefined();
  });

  it("1.0 has EncryptionAgent AES_CBC_256 and a 16-byte ContentEncryptionIV", async () => {
    const d = parse(await encryptQueueMessage("x", v1)).EncryptionData;
    expect(d.EncryptionAgent).toEqual({ Protocol: "1.0", EncryptionAlgorithm: "AES_CBC_256" });
    expect(Buffer.from(d.ContentEncryptionIV, "base64").length).toBe(16);
  });

  it("KeyWrappingMetadata.EncryptionLibrary is core's LIBRARY_ID, which never contains 'Java'", async () => {
    const d = parse(await encryptQueueMessage("x", v2)).EncryptionData;
    expect(d.KeyWrappingMetadata).toEqual({ EncryptionLibrary: LIBRARY_ID });
    expect(LIBRARY_ID).not.toContain("Java");
  });

  it("every 2.0 message uses the .NET nonce 000000000100000000000000 (accepted by every reader)", async () => {
    expect(QUEUE_V2_NONCE).toBe("000000000100000000000000");
    expect(regionNonce("dotnet", 0).toString("hex")).toBe(QUEUE_V2_NONCE);
    for (let i = 0; i < 5; i++) expect(contents(await encryptQueueMessage(`m${i}`, v2)).subarray(0, 12).toString("hex")).toBe("000000000100000000000000");
  });

  it("each message gets a fresh content key (and 1.0 a fresh IV): two encryptions of one text differ", async () => {
    for (const p of [v1, v2]) {
      const a = parse(await encryptQueueMessage("same", p));
      const b = parse(await encryptQueueMessage("same", p));
      expect(a.EncryptionData.WrappedContentKey.EncryptedKey).not.toBe(b.EncryptionData.WrappedContentKey.EncryptedKey);
      expect(a.EncryptedMessageContents).not.toBe(b.EncryptedMessageContents);
    }
  });

  it("ciphertext length: 1.0 is 16·(⌊n/16⌋+1), 2.0 is n+28, with no IV prefix", async () => {
    for (const n of [0, 1, 15, 16, 17, 100, 1000]) {
      const p = "a".repeat(n);
      expect(contents(await encryptQueueMessage(p, v1)).length).toBe(16 * (Math.floor(n / 16) + 1));
      expect(contents(await encryptQueueMessage(p, v2)).length).toBe(n + 28);
    }
  });

  it("the 2.0 wrapped key is '2.0' + five NUL bytes + the CEK; 1.0 wraps the bare CEK", async () => {
    const w2 = parse(await encryptQueueMessage("x", { ...v2, random: fixedRandom([cek]) })).EncryptionData.WrappedContentKey;
    const u2 = await kek.unwrapKey("A256KW", Buffer.from(w2.EncryptedKey, "base64"));
    expect(Buffer.from(u2).toString("hex")).toBe("322e300000000000" + cek.toString("hex"));
    const w1 = parse(await encryptQueueMessage("x", { ...v1, random: fixedRandom([cek, iv]) })).EncryptionData.WrappedContentKey;
    expect(Buffer.from(await kek.unwrapKey("A256KW", Buffer.from(w1.EncryptedKey, "base64"))).equals(cek)).toBe(true);
  });

  it("the MessageText is pure ASCII even with a non-ASCII key id", async () => {
    const k = new AesKeyWrapKey("ключ-é-中", kekBytes);
    const text = await encryptQueueMessage("é中😀", { keyEncryptionKey: k });
    expect(/^[\x20-\x7e]*$/.test(text)).toBe(true);
    expect((await decryptQueueMessage(text, { keyEncryptionKey: k })).messageText).toBe("é中😀");
  });

  it("an empty message is encrypted (not sent as plaintext like Python, Q4): 2.0 body 28 bytes, 1.0 16 bytes", async () => {
    const t2 = await encryptQueueMessage("", v2);
    const t1 = await encryptQueueMessage("", v1);
    expect(contents(t2).length).toBe(28);
    expect(contents(t1).length).toBe(16);
    for (const t of [t1, t2]) expect(await decryptQueueMessage(t, v2)).toMatchObject({ messageText: "", encrypted: true });
  });

  it("round trips ASCII, unicode with astral characters, and arbitrary bytes for both protocols", async () => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    for (const p of [v1, v2]) {
      for (const s of ["plain ascii", "ünïcødé 中文 😀𝄞", "<xml>&amp;</xml>", '{"json":true}']) {
        expect((await decryptQueueMessage(await encryptQueueMessage(s, p), p)).messageText).toBe(s);
      }
      expect((await decryptQueueMessage(await encryptQueueMessage(bytes, p), p)).messageBytes.equals(bytes)).toBe(true);
    }
  });
});

describe("message encoding", () => {
  it('messageEncoding "base64" encrypts base64(UTF-8 text) like Python TextBase64EncodePolicy (Q2)', async () => {
    const text = await encryptQueueMessage("hi", v2, { messageEncoding: "base64" });
    expect((await decryptQueueMessage(text, v2)).messageText).toBe("aGk=");
    expect((await decryptQueueMessage(text, v2, { messageEncoding: "base64" })).messageText).toBe("hi");
  });

  it('messageEncoding "base64" carries binary payloads like BinaryBase64EncodePolicy', async () => {
    const bytes = Buffer.from([0, 255, 128, 10, 13, 0xc3]);
    const text = await encryptQueueMessage(bytes, v1, { messageEncoding: "base64" });
    expect((await decryptQueueMessage(text, v2)).messageText).toBe(bytes.toString("base64"));
    expect((await decryptQueueMessage(text, v2, { messageEncoding: "base64" })).messageBytes.equals(bytes)).toBe(true);
  });

  it('the envelope itself is never base64-encoded: MessageText is raw JSON with either encoding (§1.3)', async () => {
    const text = await encryptQueueMessage("hi", v2, { messageEncoding: "base64" });
    expect(isEncryptedMessageText(text)).toBe(true);
  });

  it('reading a message that is not base64 inside with messageEncoding "base64" is the opaque DECRYPTION_FAILED (no format oracle; issue 14)', async () => {
    const text = await encryptQueueMessage("not base64!", v2);
    await expectCode(() => decryptQueueMessage(text, v2, { messageEncoding: "base64" }), "DECRYPTION_FAILED");
  });

  it("an unknown messageEncoding is refused", async () => {
    await expectCode(() => encryptQueueMessage("x", v2, { messageEncoding: "hex" as never }), "INVALID_ARGUMENT");
  });
});

describe("strict envelope detection (exactly two top-level keys, case-sensitive, as .NET v12)", () => {
  const plaintexts: [string, string][] = [
    ["non-JSON text", "hello world"],
    ["a JSON object", '{"a":1}'],
    ["a JSON number", "123"],
    ["JSON null", "null"],
    ["a JSON string", '"text"'],
    ["a JSON array", "[1,2]"],
    ["JSON true", "true"],
    ["the empty message", ""],
    ["only EncryptedMessageContents", '{"EncryptedMessageContents":"AAAA"}'],
    ["only EncryptionData", '{"EncryptionData":{}}'],
  ];

  it.each(plaintexts)("%s is plaintext: requireEncryption (default) gives ENCRYPTION_REQUIRED", async (_n, text) => {
    expect(isEncryptedMessageText(text)).toBe(false);
    const e = await expectCode(() => decryptQueueMessage(text, v2), "ENCRYPTION_REQUIRED");
    if (text.length > 3) expect(e.message).not.toContain(text);
  });

  it.each(plaintexts)("%s is plaintext: with requireEncryption false it is returned unchanged", async (_n, text) => {
    const out = await decryptQueueMessage(text, { ...v2, requireEncryption: false });
    expect(out).toMatchObject({ messageText: text, encrypted: false });
    expect(out.protocol).toBeUndefined();
  });

  it("an envelope with an extra top-level key is not an envelope (.NET returns it as text)", async () => {
    const real = await encryptQueueMessage("secret", v2);
    const extra = mutate(real, (e) => ((e as Record<string, unknown>).Extra = 1));
    expect(isEncryptedMessageText(extra)).toBe(false);
    await expectCode(() => decryptQueueMessage(extra, v2), "ENCRYPTION_REQUIRED");
    expect((await decryptQueueMessage(extra, { ...v2, requireEncryption: false })).messageText).toBe(extra);
  });

  it("top-level keys are case-sensitive: camelCased envelope keys are not an envelope", async () => {
    const real = await encryptQueueMessage("secret", v2);
    const e = parse(real);
    const camel = JSON.stringify({ encryptedMessageContents: e.EncryptedMessageContents, encryptionData: e.EncryptionData });
    expect(isEncryptedMessageText(camel)).toBe(false);
  });

  it("whitespace and Python's ', ' separators around a real envelope still detect it", async () => {
    expect(isEncryptedMessageText(`  \n${PY_V1}\n `)).toBe(true);
    expect((await decryptQueueMessage(`  ${PY_V1}  `, v2)).messageText).toBe(hello);
  });
});

describe("reading what other writers produce", () => {
  it('a .NET v12-shaped message (compact, "EncryptionMode":"FullBlob" first) is read', async () => {
    const ours = parse(await encryptQueueMessage(hello, v2));
    const net = `{"EncryptedMessageContents":"${ours.EncryptedMessageContents}","EncryptionData":${JSON.stringify({ EncryptionMode: "FullBlob", ...ours.EncryptionData, KeyWrappingMetadata: { EncryptionLibrary: "azsdk-net-Azure.Storage.Queues/12.17.0 (.NET 8.0; Linux)" } })}}`;
    expect((await decryptQueueMessage(net, v2)).messageText).toBe(hello);
  });

  it("EncryptionData sub-fields are matched case-insensitively (legacy .NET camelCase, read by .NET v12)", async () => {
    const ours = parse(await encryptQueueMessage(hello, v1));
    const d = ours.EncryptionData;
    const camel = JSON.stringify({
      EncryptedMessageContents: ours.EncryptedMessageContents,
      EncryptionData: {
        wrappedContentKey: { keyId: d.WrappedContentKey.KeyId, encryptedKey: d.WrappedContentKey.EncryptedKey, algorithm: "A256KW" },
        encryptionAgent: { protocol: "1.0", encryptionAlgorithm: "AES_CBC_256" },
        contentEncryptionIV: d.ContentEncryptionIV,
      },
    });
    expect((await decryptQueueMessage(camel, v2)).messageText).toBe(hello);
  });

  it("a 2.x message with several regions is split by DataLength and read in order (.NET reader behaviour)", async () => {
    // 2.0 is always 4 MiB regions, so a 16-byte DataLength is a 2.1 message (its wrapped key carries "2.1").
    const enc21 = await createContentEncryption({ ...v2, encryptionVersion: "2.1", regionSize: 16, random: fixedRandom([cek]) });
    const ours = { EncryptionData: JSON.parse(enc21.toJson(false)) as Record<string, unknown> };
    enc21.dispose();
    const p = Buffer.from("0123456789abcdef0123456789abcdefXYZ");
    const regions = [0, 1, 2].map((i) => encryptGcmBuffer(cek, regionNonce("python", i), p.subarray(i * 16, i * 16 + 16)));
    const msg = (rs: Buffer[]) =>
      JSON.stringify({ EncryptedMessageContents: Buffer.concat(rs).toString("base64"), EncryptionData: { ...ours.EncryptionData, EncryptedRegionInfo: { DataLength: 16, NonceLength: 12 } } });
    expect((await decryptQueueMessage(msg(regions), v2)).messageBytes.equals(p)).toBe(true);
    // Swapped regions: each authenticates alone, but their nonces are out of position.
    await expectCode(() => decryptQueueMessage(msg([regions[1]!, regions[0]!, regions[2]!]), v2), "REGION_OUT_OF_ORDER");
  });

  it("a 2.0 message with an empty body (zero regions) reads as the empty message", async () => {
    const msg = mutate(await encryptQueueMessage("x", v2), (e) => (e.EncryptedMessageContents = ""));
    expect(await decryptQueueMessage(msg, v2)).toMatchObject({ messageText: "", encrypted: true });
  });
});

describe("faults: tampered, truncated, wrong key, unknown protocol", () => {
  it("flipping any single byte of a 2.0 body fails with DECRYPTION_FAILED", async () => {
    const text = await encryptQueueMessage("short msg", v2);
    const c = contents(text);
    for (let i = 0; i < c.length; i++) {
      const t = Buffer.from(c);
      t[i]! ^= 0x01;
      await expectCode(() => decryptQueueMessage(mutate(text, (e) => (e.EncryptedMessageContents = t.toString("base64"))), v2), "DECRYPTION_FAILED");
    }
  });

  it("truncated base64 in EncryptedMessageContents is INVALID_ENCRYPTION_DATA; truncated at a quantum boundary is DECRYPTION_FAILED", async () => {
    for (const p of [v1, v2]) {
      const text = await encryptQueueMessage("a message of some length", p);
      const b64 = parse(text).EncryptedMessageContents;
      await expectCode(() => decryptQueueMessage(mutate(text, (e) => (e.EncryptedMessageContents = b64.slice(0, -3))), p), "INVALID_ENCRYPTION_DATA");
      await expectCode(() => decryptQueueMessage(mutate(text, (e) => (e.EncryptedMessageContents = b64.slice(0, -8))), p), "DECRYPTION_FAILED");
    }
  });

  it("EncryptedMessageContents that is not a string, or EncryptionData that is not an object, is INVALID_ENCRYPTION_DATA", async () => {
    const text = await encryptQueueMessage("x", v2);
    await expectCode(() => decryptQueueMessage(mutate(text, (e) => ((e as Record<string, unknown>).EncryptedMessageContents = 5)), v2), "INVALID_ENCRYPTION_DATA");
    await expectCode(
      () => decryptQueueMessage(mutate(text, (e) => ((e as Record<string, unknown>).EncryptionData = JSON.stringify(e.EncryptionData))), v2),
      "INVALID_ENCRYPTION_DATA",
    );
    await expectCode(() => decryptQueueMessage(mutate(text, (e) => ((e as Record<string, unknown>).EncryptionData = null)), v2), "INVALID_ENCRYPTION_DATA");
  });

  it("an unknown protocol is UNSUPPORTED_PROTOCOL (never a plaintext fallback)", async () => {
    const text = mutate(await encryptQueueMessage("x", v2), (e) => (e.EncryptionData.EncryptionAgent.Protocol = "3.0"));
    await expectCode(() => decryptQueueMessage(text, { ...v2, requireEncryption: false }), "UNSUPPORTED_PROTOCOL");
  });

  it("missing or malformed metadata fields are INVALID_ENCRYPTION_DATA", async () => {
    const t1 = await encryptQueueMessage("x", v1);
    const t2 = await encryptQueueMessage("x", v2);
    const cases = [
      mutate(t1, (e) => delete e.EncryptionData.ContentEncryptionIV),
      mutate(t1, (e) => (e.EncryptionData.ContentEncryptionIV = "AAAA")),
      mutate(t2, (e) => delete e.EncryptionData.EncryptedRegionInfo),
      mutate(t2, (e) => (e.EncryptionData.EncryptedRegionInfo.NonceLength = 16)),
      mutate(t2, (e) => (e.EncryptionData.EncryptionAgent.EncryptionAlgorithm = "AES_CBC_256")),
      mutate(t2, (e) => delete e.EncryptionData.WrappedContentKey),
      mutate(t2, (e) => (e.EncryptionData.WrappedContentKey.EncryptedKey = "%%%")),
    ];
    for (const c of cases) await expectCode(() => decryptQueueMessage(c, v2), "INVALID_ENCRYPTION_DATA");
  });

  it("relabelling a 2.0 message as 1.0 (downgrade) fails: the wrapped key carries the '2.0' prefix", async () => {
    const text = mutate(await encryptQueueMessage("x", v2), (e) => {
      e.EncryptionData.EncryptionAgent = { Protocol: "1.0", EncryptionAlgorithm: "AES_CBC_256" };
      e.EncryptionData.ContentEncryptionIV = Buffer.alloc(16).toString("base64");
      delete e.EncryptionData.EncryptedRegionInfo;
    });
    await expectCode(() => decryptQueueMessage(text, v2), "DECRYPTION_FAILED");
  });

  it("swapping in another message's wrapped key fails with DECRYPTION_FAILED", async () => {
    const a = parse(await encryptQueueMessage("a", v2));
    const b = await encryptQueueMessage("b", v2);
    await expectCode(() => decryptQueueMessage(mutate(b, (e) => (e.EncryptionData.WrappedContentKey = a.EncryptionData.WrappedContentKey)), v2), "DECRYPTION_FAILED");
  });

  it("the wrong key: another key id is KID_MISMATCH, the same id with other bytes is DECRYPTION_FAILED, no key is KEY_NOT_FOUND", async () => {
    const text = await encryptQueueMessage("x", v2);
    await expectCode(() => decryptQueueMessage(text, { keyEncryptionKey: otherKek }), "KID_MISMATCH");
    await expectCode(() => decryptQueueMessage(text, { keyEncryptionKey: sameIdOtherBytes }), "DECRYPTION_FAILED");
    await expectCode(() => decryptQueueMessage(text, {}), "KEY_NOT_FOUND");
  });

  it("errors never contain the plaintext, the CEK or the key-encryption key", async () => {
    const secret = "TOP-SECRET-PAYLOAD-1234567890";
    const text = await encryptQueueMessage(secret, { ...v2, random: fixedRandom([cek]) });
    const errors = [
      await caught(() => decryptQueueMessage(text, { keyEncryptionKey: sameIdOtherBytes })),
      await caught(() => decryptQueueMessage(text, v2, { messageEncoding: "base64" })),
      await caught(() => decryptQueueMessage(secret, v2)),
      await caught(() => encryptQueueMessage(secret.repeat(3000), v2)),
    ];
    for (const e of errors) expectNoSecrets(e, [secret, cek, kekBytes]);
  });
});

describe("size limit (64 KiB MessageText, checked before sending)", () => {
  const rsa = RsaKey.generate("https://vault.example/keys/k/0123456789abcdef0123456789abcdef", 2048, "RSA-OAEP");
  const combos: [string, ClientSideEncryptionPolicy, "none" | "base64"][] = [
    ["2.0 A256KW none", v2, "none"],
    ["2.0 A256KW base64", v2, "base64"],
    ["1.0 A256KW none", v1, "none"],
    ["1.0 A256KW base64", v1, "base64"],
    ["2.0 RSA-2048 none", { keyEncryptionKey: rsa }, "none"],
    ["1.0 RSA-2048 none", { keyEncryptionKey: rsa, encryptionVersion: "1.0", allowDeprecatedV1Encryption: true }, "none"],
  ];

  it.each(combos)("%s: a payload of exactly the budget fits in 65536 characters; one byte more is PAYLOAD_TOO_LARGE naming the budget", async (_n, p, enc) => {
    const e = await expectCode(() => encryptQueueMessage("a".repeat(70_000), p, { messageEncoding: enc }), "PAYLOAD_TOO_LARGE");
    const budget = e.details.plaintextBudget as number;
    expect(budget).toBeGreaterThan(30_000);
    expect(e.message).toContain(`at most ${budget} bytes`);
    const fits = await encryptQueueMessage("a".repeat(budget), p, { messageEncoding: enc });
    expect(fits.length).toBeLessThanOrEqual(QUEUE_MESSAGE_MAX_LENGTH);
    expect(fits.length).toBeGreaterThan(QUEUE_MESSAGE_MAX_LENGTH - 64);
    const over = await expectCode(() => encryptQueueMessage("a".repeat(budget + 1), p, { messageEncoding: enc }), "PAYLOAD_TOO_LARGE");
    expect(over.details).toMatchObject({ plaintextBudget: budget, payloadBytes: budget + 1, limit: 65536 });
    expect((over.details.envelopeLength as number) > 65536).toBe(true);
  });

  it("the budget counts UTF-8 bytes, not characters", async () => {
    const e = await caught(() => encryptQueueMessage("a".repeat(70_000), v2));
    const budget = e.details.plaintextBudget as number;
    const euro = "€"; // 3 UTF-8 bytes
    await expectCode(() => encryptQueueMessage(euro.repeat(Math.floor(budget / 3) + 1), v2), "PAYLOAD_TOO_LARGE");
    await encryptQueueMessage(euro.repeat(Math.floor(budget / 3)), v2);
  });

  it("plaintextBudget matches the formula len = E + 4·⌈|C|/3⌉ of spec §1.4", () => {
    const E = 400;
    const b2 = plaintextBudget("2.0", "none", E, 65536);
    expect(E + 4 * Math.ceil((b2 + 28) / 3)).toBeLessThanOrEqual(65536);
    expect(E + 4 * Math.ceil((b2 + 1 + 28) / 3)).toBeGreaterThan(65536);
    const b1 = plaintextBudget("1.0", "none", E, 65536);
    const c1 = (n: number) => 16 * (Math.floor(n / 16) + 1);
    expect(E + 4 * Math.ceil(c1(b1) / 3)).toBeLessThanOrEqual(65536);
    expect(E + 4 * Math.ceil(c1(b1 + 1) / 3)).toBeGreaterThan(65536);
  });
});

describe("write policy", () => {
  it("sending needs a keyEncryptionKey: without one it is KEY_NOT_FOUND, never plaintext", async () => {
    await expectCode(() => encryptQueueMessage("x", { requireEncryption: false }), "KEY_NOT_FOUND");
  });

  it("writing 1.0 needs allowDeprecatedV1Encryption", async () => {
    await expectCode(() => encryptQueueMessage("x", { keyEncryptionKey: kek, encryptionVersion: "1.0" }), "DEPRECATED_PROTOCOL");
  });

  it("writing 2.1 queue messages is refused (no SDK writes them; Python reads them as unencrypted)", async () => {
    await expectCode(() => encryptQueueMessage("x", { keyEncryptionKey: kek, encryptionVersion: "2.1" }), "UNSUPPORTED_OPERATION");
  });

  it("keyWrapAlgorithm and the key's reported id are stored as given (RSA-OAEP-256 key)", async () => {
    const rsa = RsaKey.generate("kid-rsa", 2048, "RSA-OAEP-256");
    const text = await encryptQueueMessage("x", { keyEncryptionKey: rsa });
    expect(parse(text).EncryptionData.WrappedContentKey).toMatchObject({ KeyId: "kid-rsa", Algorithm: "RSA-OAEP-256" });
    expect((await decryptQueueMessage(text, { keyEncryptionKey: rsa })).messageText).toBe("x");
  });
});
