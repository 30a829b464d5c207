/* eslint-disable no-control-regex -- these tests look for raw control characters on purpose */
// Security hardening (issue 14), core classes: every read authenticates, malformed stored data is a
// decryption failure, region-size bounds, linear decoding, escaped stored values, typed caller values.
// Each describe names the class it checks (docs/security.md, "Hostile input classes").
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  AesKeyWrapKey,
  ClientSideEncryptionError,
  DECRYPTION_FAILED_MESSAGE,
  collectBytes,
  createContentEncryption,
  decryptPlanned,
  decryptRange,
  parseEncryptionData,
  planRange,
  unwrapContentKey,
  type ClientSideEncryptionPolicy,
  type EncryptionData,
  type KeyEncryptionKey,
  type PlaintextRange,
} from "@azure-cse/core-envelope";
import { decodeBase64Strict, escapeForDisplay } from "@azure-cse/core-envelope/internal";
import { caught, expectCode, patternBytes } from "./helpers.js";

const kek = AesKeyWrapKey.generate("local:sec", 32);
const policy: ClientSideEncryptionPolicy = { keyEncryptionKey: kek };
const MiB = 1024 * 1024;

async function encrypted(plain: Buffer, p: ClientSideEncryptionPolicy = policy) {
  const enc = await createContentEncryption(p);
  const stored = await collectBytes(enc.encrypt([plain]));
  return { data: parseEncryptionData(enc.toJson(true)), json: enc.toJson(true), stored };
}

/** A read as every service path does it: through the shared plan → unwrap → authenticated stream. */
async function read(data: EncryptionData, stored: Buffer, range?: PlaintextRange, p: ClientSideEncryptionPolicy = policy, padded = true): Promise<Buffer> {
  const gen = await decryptRange(data, p, stored.length, (o, n) => [stored.subarray(o, n === undefined ? undefined : o + n)], { range, padded });
  return collectBytes(gen);
}

function withField(json: string, edit: (o: Record<string, Record<string, unknown>>) => void): EncryptionData {
  const o = JSON.parse(json) as Record<string, Record<string, unknown>>;
  edit(o);
  return parseEncryptionData(JSON.stringify(o));
}

describe("class: every read authenticates (no success without key unwrap and tag check)", () => {
  it("28 random bytes under valid 2.x metadata (one 'empty' region) → DECRYPTION_FAILED, never empty plaintext", async () => {
    const { data } = await encrypted(Buffer.alloc(0));
    for (let i = 0; i < 8; i++) {
      // Random nonce: refused by position (REGION_OUT_OF_ORDER); the right nonce with a random tag: DECRYPTION_FAILED.
      expect(["REGION_OUT_OF_ORDER", "DECRYPTION_FAILED"]).toContain((await caught(() => read(data, randomBytes(28)))).code);
      await expectCode(() => read(data, Buffer.concat([Buffer.alloc(12), randomBytes(16)])), "DECRYPTION_FAILED");
    }
  });

  it("a genuine 28-byte empty region (Java writes one) verifies its tag and reads as empty", async () => {
    const { data } = await encrypted(Buffer.alloc(0));
    const plan = planRange(data, { offset: 0 }, 28);
    expect(plan.empty).toBe(false);
    expect(plan.take).toBe(0);
    // Build a genuine empty region with the library's own cipher (nonce 0, empty ciphertext, tag).
    const enc = await createContentEncryption({ keyEncryptionKey: kek, encryptionVersion: "2.1", regionSize: 16 });
    const one = await collectBytes(enc.encrypt([Buffer.alloc(16)]));
    const d = parseEncryptionData(enc.toJson(true));
    expect((await read(d, one, { offset: 0, count: 0 })).length).toBe(0);
    // A flipped tag bit in that region fails even though no plaintext is asked for.
    const bad = Buffer.from(one);
    bad[bad.length - 1]! ^= 1;
    await expectCode(() => read(d, bad, { offset: 0, count: 0 }), "DECRYPTION_FAILED");
  });

  it("a 0-byte 2.x body is a valid empty blob (what .NET and Python write), but the key is still selected and unwrapped", async () => {
    const { data, json } = await encrypted(Buffer.alloc(0));
    expect((await read(data, Buffer.alloc(0))).length).toBe(0);
    // Forged KeyId: the key is selected first → KID_MISMATCH, not an empty success.
    await expectCode(() => read(withField(json, (o) => (o.WrappedContentKey!.KeyId = "local:forged")), Buffer.alloc(0)), "KID_MISMATCH");
    // Forged EncryptedKey: the unwrap fails → DECRYPTION_FAILED.
    const forged = withField(json, (o) => (o.WrappedContentKey!.EncryptedKey = randomBytes(40).toString("base64")));
    const e = await caught(() => read(forged, Buffer.alloc(0)));
    expect(e.code).toBe("DECRYPTION_FAILED");
    expect(e.message).toBe(DECRYPTION_FAILED_MESSAGE);
  });

  it("zero-length ranges and ranges past the end verify a stored region: tampering anywhere in it fails, intact data reads as empty", async () => {
    const L = 64;
    const enc = await createContentEncryption({ keyEncryptionKey: kek, encryptionVersion: "2.1", regionSize: L });
    const plain = patternBytes(3 * L + 5);
    const stored = await collectBytes(enc.encrypt([plain]));
    const data = parseEncryptionData(enc.toJson(true));
    const empties: PlaintextRange[] = [{ offset: 0, count: 0 }, { offset: L + 3, count: 0 }, { offset: plain.length }, { offset: plain.length + 1000 }, { offset: plain.length + 7, count: 9 }];
    for (const r of empties) expect((await read(data, stored, r)).length, JSON.stringify(r)).toBe(0);
    for (const r of empties) {
      const plan = planRange(data, r, stored.length);
      const bad = Buffer.from(stored);
      bad[plan.storedOffset + plan.storedCount! - 1]! ^= 0x80; // the verified region's tag
      await expectCode(() => read(data, bad, r), "DECRYPTION_FAILED");
    }
  });

  it("decryptPlanned with a verify-only plan reads its stored bytes to the end (no early stop before the tag)", async () => {
    const { data, stored } = await encrypted(patternBytes(100));
    const plan = planRange(data, { offset: 100 }, stored.length);
    expect(plan.take).toBe(0);
    const cek = await unwrapContentKey(data, policy);
    const bad = Buffer.from(stored);
    bad[bad.length - 3]! ^= 1;
    await expectCode(() => collectBytes(decryptPlanned(data, cek, plan, [bad.subarray(plan.storedOffset)])), "DECRYPTION_FAILED");
  });

  it("1.0: a 0-byte body is not valid 1.0 (it always has a padding block) → DECRYPTION_FAILED; past-the-end reads check the padding", async () => {
    const p1: ClientSideEncryptionPolicy = { keyEncryptionKey: kek, encryptionVersion: "1.0", allowDeprecatedV1Encryption: true };
    const { data, stored } = await encrypted(patternBytes(40), p1);
    await expectCode(() => read(data, Buffer.alloc(0)), "DECRYPTION_FAILED");
    expect((await read(data, stored, { offset: 40, count: 5 })).length).toBe(0);
    expect((await read(data, stored, { offset: 0, count: 0 })).length).toBe(0);
    const wrongKey = { keyEncryptionKey: new AesKeyWrapKey("local:sec", patternBytes(32, 9)) };
    await expectCode(() => read(data, stored, { offset: 0, count: 0 }, wrongKey), "DECRYPTION_FAILED");
    // Unpadded legacy page blobs: an empty body is valid (nothing to check), the key is still unwrapped.
    expect((await read(data, Buffer.alloc(0), undefined, p1, false)).length).toBe(0);
    await expectCode(() => read(data, Buffer.alloc(0), undefined, wrongKey, false), "DECRYPTION_FAILED");
  });
});

describe("class: malformed stored data is a decryption failure, not a caller error", () => {
  it("a 1.0 body whose length is not a multiple of 16 → DECRYPTION_FAILED (whole and ranged)", async () => {
    const { data, stored } = await encrypted(patternBytes(40), { keyEncryptionKey: kek, encryptionVersion: "1.0", allowDeprecatedV1Encryption: true });
    for (const cut of [1, 5, 15, 17]) {
      const s = stored.subarray(0, stored.length - cut);
      await expectCode(() => read(data, s), "DECRYPTION_FAILED");
      await expectCode(() => read(data, s, { offset: 3, count: 4 }), "DECRYPTION_FAILED");
    }
  });

  it("a 2.x body with a length no plaintext maps to → DECRYPTION_FAILED", async () => {
    const { data, stored } = await encrypted(patternBytes(100));
    for (const cut of [1, 27, 28]) await expectCode(() => read(data, stored.subarray(0, stored.length - cut)), "DECRYPTION_FAILED");
    await expectCode(() => read(data, Buffer.concat([stored, Buffer.alloc(5)])), "DECRYPTION_FAILED");
  });

  it("a stored Algorithm the key cannot use → KEY_OPERATION_FAILED (exit 2 in the CLI), never INVALID_ARGUMENT", async () => {
    const { json } = await encrypted(patternBytes(10));
    const d = withField(json, (o) => (o.WrappedContentKey!.Algorithm = "RSA-OAEP"));
    const e = await caught(() => unwrapContentKey(d, policy));
    expect(e.code).toBe("KEY_OPERATION_FAILED");
  });
});

describe("class: region-size bounds (2.0 = 4 MiB; 2.1 at most maxRegionSize)", () => {
  it("2.0 metadata with another DataLength is refused before any key use", async () => {
    const { json } = await encrypted(patternBytes(10));
    for (const n of [16, 1024, 4 * MiB - 1, 8 * MiB]) {
      const e = await caught(() => withField(json, (o) => (o.EncryptedRegionInfo!.DataLength = n)));
      expect(e.code).toBe("INVALID_ENCRYPTION_DATA");
    }
  });

  it("a 2.1 DataLength edited up to 1 GiB is refused by default (no 1 GiB unverified buffer); the option raises the bound", async () => {
    const enc = await createContentEncryption({ keyEncryptionKey: kek, encryptionVersion: "2.1", regionSize: 64 });
    const json = enc.toJson(true);
    const edited = JSON.parse(json) as { EncryptedRegionInfo: { DataLength: number } };
    edited.EncryptedRegionInfo.DataLength = 1024 * MiB;
    await expectCode(() => parseEncryptionData(JSON.stringify(edited)), "INVALID_ENCRYPTION_DATA");
    expect(parseEncryptionData(JSON.stringify(edited), { maxRegionSize: 1024 * MiB }).protocol).toBe("2.1");
  });
});

describe("class: base64 and JSON decoding are linear and bounded", () => {
  it("multi-megabyte base64 (valid, and invalid at the very end) decodes or is refused without a stack overflow", () => {
    const n = 48 * MiB; // the old backtracking pattern overflowed V8's regexp stack at ~32 MB
    const valid = "QUJD".repeat(n / 4);
    const t0 = Date.now();
    expect(decodeBase64Strict(valid)?.length).toBe((n / 4) * 3);
    expect(decodeBase64Strict(`${valid.slice(0, -4)}QUJ!`)).toBeUndefined();
    expect(decodeBase64Strict(`${valid.slice(0, -4)}Q===`)).toBeUndefined();
    expect(decodeBase64Strict(`${valid}=`)).toBeUndefined();
    expect(Date.now() - t0).toBeLessThan(20_000); // linear: seconds, not a hang
  });

  it("strict alphabet and padding (RFC 4648 §4): the same accept/refuse answers as before on small inputs", () => {
    const ok = ["", "QQ==", "QUI=", "QUJD", "+/+/", "AAAAQQ=="];
    const bad = ["Q", "QQ=", "QQ", "Q===", "QQ==QQ==", "QU=D", "-_-_", "QUJD\n", " QUJD", "QUJD=", "QQ=\u0000"];
    for (const s of ok) expect(decodeBase64Strict(s), s).toBeInstanceOf(Buffer);
    for (const s of bad) expect(decodeBase64Strict(s), JSON.stringify(s)).toBeUndefined();
    expect(decodeBase64Strict(12 as unknown as string)).toBeUndefined();
  });

  it("multi-megabyte EncryptionData JSON is refused by length before parsing; deep nesting is a typed error", async () => {
    await expectCode(() => parseEncryptionData(`{"a":"${"x".repeat(8 * MiB)}"}`), "INVALID_ENCRYPTION_DATA");
    await expectCode(() => parseEncryptionData("[".repeat(10_000)), "INVALID_ENCRYPTION_DATA");
  });
});

describe("class: stored values are escaped before they reach a terminal", () => {
  it("escapeForDisplay removes every control character, bidi override and lone surrogate; plain text is unchanged", () => {
    expect(escapeForDisplay("local:kek-1")).toBe("local:kek-1");
    expect(escapeForDisplay("https://v.vault.azure.net/keys/k/0123abcd")).toBe("https://v.vault.azure.net/keys/k/0123abcd");
    const hostile = "a\u001b[2J\r\n\u0000\u0007\u007f\u009b\u202e\u2066\u2028\ud800b\\";
    const shown = escapeForDisplay(hostile);
    expect(shown).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
    expect(shown).toBe("a\\u001b[2J\\u000d\\u000a\\u0000\\u0007\\u007f\\u009b\\u202e\\u2066\\u2028\\ud800b\\\\");
    expect(escapeForDisplay("x".repeat(500), 128)).toHaveLength(129);
  });

  it("KeyId and Protocol from stored data appear escaped in KEY_NOT_FOUND / KID_MISMATCH / UNSUPPORTED_PROTOCOL messages", async () => {
    const { json } = await encrypted(patternBytes(10));
    const evil = "evil\u001b]0;pwned\u0007\r\nkid";
    const d = withField(json, (o) => (o.WrappedContentKey!.KeyId = evil));
    for (const p of [policy, {}, { keyResolver: () => undefined }]) {
      const e = await caught(() => unwrapContentKey(d, p));
      expect(["KID_MISMATCH", "KEY_NOT_FOUND"]).toContain(e.code);
      expect(e.message).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
      expect(e.message).toContain("\\u001b");
    }
    const proto = JSON.parse(json) as { EncryptionAgent: { Protocol: string } };
    proto.EncryptionAgent.Protocol = "9\u001b[31m";
    const e = await caught(() => parseEncryptionData(JSON.stringify(proto)));
    expect(e.code).toBe("UNSUPPORTED_PROTOCOL");
    expect(e.message).not.toMatch(/[\u0000-\u001f]/);
  });
});

describe("class: bad caller values (resolvers and KEKs of the wrong type) are INVALID_ARGUMENT naming the option", () => {
  const data = async () => (await encrypted(patternBytes(10))).data;
  it("a resolver returning a number, a string or a plain object → INVALID_ARGUMENT naming keyResolver", async () => {
    const d = await data();
    for (const wrong of [42, "local:sec", { keyId: "local:sec" }]) {
      const e = await caught(() => unwrapContentKey(d, { keyResolver: () => wrong as unknown as KeyEncryptionKey }));
      expect(e.code).toBe("INVALID_ARGUMENT");
      expect(e.message).toContain("keyResolver");
    }
    const e = await caught(() => unwrapContentKey(d, { keyResolver: "nope" as unknown as ClientSideEncryptionPolicy["keyResolver"] }));
    expect(e.code).toBe("INVALID_ARGUMENT");
  });

  it("a KEK whose unwrapKey resolves to a string, or whose wrapKey resolves to a non-Uint8Array → INVALID_ARGUMENT", async () => {
    const d = await data();
    const liar: KeyEncryptionKey = {
      keyId: "local:sec",
      defaultWrapAlgorithm: "A256KW",
      wrapKey: async () => ({ encryptedKey: "abc" as unknown as Uint8Array, keyId: "local:sec" }),
      unwrapKey: async () => "x".repeat(40) as unknown as Uint8Array,
    };
    await expectCode(() => unwrapContentKey(d, { keyEncryptionKey: liar }), "INVALID_ARGUMENT");
    await expectCode(() => createContentEncryption({ keyEncryptionKey: liar }), "INVALID_ARGUMENT");
    await expectCode(() => createContentEncryption({ keyEncryptionKey: { keyId: "k" } as unknown as KeyEncryptionKey }), "INVALID_ARGUMENT");
    await expectCode(() => createContentEncryption(null as unknown as ClientSideEncryptionPolicy), "INVALID_ARGUMENT");
  });

  it("errors are ClientSideEncryptionError instances (typed), never TypeErrors", async () => {
    const d = await data();
    const e = await caught(() => unwrapContentKey(d, { keyEncryptionKey: 7 as unknown as KeyEncryptionKey }));
    expect(ClientSideEncryptionError.is(e)).toBe(true);
    expect(e.code).toBe("INVALID_ARGUMENT");
  });
});
