// Secrets never leak (issue 8 "Secrets"; errors.ts): with a canary plaintext, CEK, IV and KEK, every
// error path reachable in core is triggered and everything observable — message, String(error),
// JSON.stringify(error), util.inspect(error) with causes, stack — and everything written to the
// console or stdout/stderr is scanned for the canary bytes in hex, base64, base64url and UTF-8/latin1.
import util from "node:util";
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  AesKeyWrapKey,
  ClientSideEncryptionError,
  RsaKey,
  collectBytes,
  createCachingKeyResolver,
  createContentEncryption,
  createLocalKeyResolver,
  decryptCbc,
  decryptGcmRegions,
  decryptPlanned,
  decryptRange,
  encryptCbc,
  encryptGcmRegions,
  findEncryptionDataInMetadata,
  keyFromJwk,
  keyFromRawBytes,
  parseEncryptionData,
  planRange,
  planV1Range,
  planV2Range,
  serializeEncryptionData,
  unwrapContentKey,
  v1StoredLength,
  v2PlaintextLength,
  v2StoredLength,
  type ClientSideEncryptionPolicy,
  type EncryptionData,
  type KeyEncryptionKey,
} from "@azure-cse/core-envelope";
import { decryptCbcBuffer, decryptGcmBuffer, encryptCbcBuffer, encryptGcmBuffer } from "@azure-cse/core-envelope/internal";

// Canary material: recognisable, and distinct from anything a library would print by accident.
const derive = (label: string, n: number) => createHash("sha512").update(`azcse-canary:${label}`).digest().subarray(0, n);
const CANARY_TEXT = "CANARY-PLAINTEXT-7f3a9c21-do-not-log";
const PLAINTEXT = Buffer.concat([Buffer.from(CANARY_TEXT), derive("plaintext", 40), Buffer.from(CANARY_TEXT)]);
const CEK = derive("cek", 32);
const IV = derive("iv", 16);
const KEK_BYTES = derive("kek", 32);
const OTHER_KEK_BYTES = derive("other-kek", 32);
const KID = "local:canary-kek";

/** Every encoding a secret could show up in, for substrings of 12+ bytes (so short coincidences do not match). */
function needles(label: string, secret: Buffer): { label: string; text: string }[] {
  const out: { label: string; text: string }[] = [];
  const windows = secret.length <= 16 ? [secret] : [secret.subarray(0, 16), secret.subarray(secret.length - 16), secret.subarray(8, 24)];
  for (const w of windows) {
    out.push({ label: `${label} hex`, text: w.toString("hex") });
    out.push({ label: `${label} HEX`, text: w.toString("hex").toUpperCase() });
    // base64 of a window depends on alignment: take the inner, alignment-free part of three shifted encodings.
    for (let shift = 0; shift < 3; shift++) {
      const b64 = Buffer.concat([Buffer.alloc(shift), w]).toString("base64");
      out.push({ label: `${label} base64`, text: b64.slice(4, -4) });
      out.push({ label: `${label} base64url`, text: b64.slice(4, -4).replace(/\+/g, "-").replace(/\//g, "_") });
    }
    out.push({ label: `${label} latin1`, text: w.toString("latin1") });
    out.push({ label: `${label} byte list`, text: Array.from(w.subarray(0, 8)).join(",") });
    out.push({ label: `${label} byte list (spaced)`, text: Array.from(w.subarray(0, 8)).join(", ") });
    out.push({ label: `${label} Buffer inspect`, text: Array.from(w.subarray(0, 6), (b) => b.toString(16).padStart(2, "0")).join(" ") });
  }
  return out.filter((n) => n.text.length >= 8);
}

let rsa: RsaKey;
let rsaPrivate: Buffer;
const NEEDLES: { label: string; text: string }[] = [];

function scan(where: string, text: string): void {
  // Also without whitespace: inspect() aligns byte lists in columns and PEM/base64 may be wrapped.
  const squeezed = text.replace(/\s+/g, "");
  for (const n of NEEDLES) {
    const hit = text.includes(n.text) ? text : squeezed.includes(n.text.replace(/\s+/g, "")) ? squeezed : undefined;
    if (hit !== undefined) {
      const at = hit.indexOf(n.text.replace(/\s+/g, ""));
      expect.fail(`${n.label} found in ${where}: …${hit.slice(Math.max(0, at - 60), at + 60)}…`);
    }
  }
}

/** Every observable rendering of an error, causes included. */
function renderings(e: unknown): [string, string][] {
  const err = e as Error & { cause?: unknown };
  const out: [string, string][] = [
    ["message", String(err.message)],
    ["String(error)", String(e)],
    ["JSON.stringify(error)", JSON.stringify(e) ?? ""],
    ["util.inspect(error)", util.inspect(e, { depth: 10, showHidden: true, getters: true })],
    ["stack", String(err.stack)],
    ["util.format('%o')", util.format("%o", e)],
  ];
  if (err.cause !== undefined) out.push(...renderings(err.cause).map(([k, v]): [string, string] => [`cause ${k}`, v]));
  return out;
}

const seen = new Map<string, number>();
async function expectFailure(label: string, op: () => unknown): Promise<ClientSideEncryptionError> {
  let error: unknown;
  try {
    const r: unknown = await op();
    if (r && typeof (r as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function") await collectBytes(r as AsyncIterable<Uint8Array>);
  } catch (e) {
    error = e;
  }
  if (error === undefined) expect.fail(`${label}: expected a failure`);
  if (!ClientSideEncryptionError.is(error)) expect.fail(`${label}: not a ClientSideEncryptionError: ${util.inspect(error)}`);
  for (const [how, text] of renderings(error)) scan(`${label} → ${how}`, text);
  seen.set(error.code, (seen.get(error.code) ?? 0) + 1);
  return error;
}

// ---- console / stdout / stderr capture ----------------------------------------------------------
const captured: string[] = [];
const restore: (() => void)[] = [];
beforeAll(() => {
  for (const m of ["log", "info", "warn", "error", "debug", "trace", "dir"] as const) {
    const spy = vi.spyOn(console, m).mockImplementation((...args: unknown[]) => {
      captured.push(util.format(...args));
    });
    restore.push(() => spy.mockRestore());
  }
  for (const stream of [process.stdout, process.stderr]) {
    const original = stream.write.bind(stream);
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      captured.push(Buffer.isBuffer(chunk) ? chunk.toString("latin1") : String(chunk));
      return (original as (...a: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof stream.write;
    restore.push(() => {
      stream.write = original;
    });
  }
});
afterAll(() => {
  for (const r of restore.reverse()) r();
});

describe("secrets canary: no CEK, KEK or plaintext in any error, inspection or console output", () => {
  const kek = new AesKeyWrapKey(KID, KEK_BYTES);
  const fixedRandom = () => {
    const queue = [CEK, IV];
    return (n: number) => {
      const v = queue.shift();
      if (!v || v.length !== n) throw new Error("unexpected random request");
      return Buffer.from(v);
    };
  };

  beforeAll(() => {
    rsa = RsaKey.generate("local:canary-rsa");
    const jwk = rsa.toJwk() as Record<string, string>;
    rsaPrivate = Buffer.from(jwk.d!, "base64url");
    NEEDLES.push(
      ...needles("plaintext", PLAINTEXT),
      { label: "plaintext utf8", text: CANARY_TEXT },
      ...needles("CEK", CEK),
      ...needles("KEK", KEK_BYTES),
      ...needles("other KEK", OTHER_KEK_BYTES),
      ...needles("RSA private exponent", rsaPrivate),
      { label: "RSA PEM body", text: rsa.privateKeyPem()!.split("\n")[5]! },
    );
  });

  it("the scanner finds the canaries in every encoding it claims to cover (the test can fail)", () => {
    const probes = [
      PLAINTEXT.toString("utf8"),
      PLAINTEXT.toString("hex"),
      PLAINTEXT.subarray(3).toString("base64"),
      CEK.toString("base64url"),
      CEK.subarray(1).toString("base64"),
      util.inspect(CEK),
      util.inspect(Uint8Array.from(KEK_BYTES)),
      JSON.stringify(KEK_BYTES),
      JSON.stringify({ k: Buffer.from(KEK_BYTES).toString("base64url") }),
      util.inspect(new Error("x", { cause: Buffer.from(CEK) }), { showHidden: true }),
    ];
    probes.forEach((p, i) => expect(() => scan(`probe ${i}`, p), `probe ${i}: ${p.slice(0, 80)}`).toThrow(/found in probe/));
  });

  it("round trip with the canaries works (the material really is the material in use)", async () => {
    for (const encryptionVersion of ["2.0", "2.1", "1.0"] as const) {
      const policy: ClientSideEncryptionPolicy = { keyEncryptionKey: kek, encryptionVersion, regionSize: encryptionVersion === "2.1" ? 16 : undefined, allowDeprecatedV1Encryption: true, random: fixedRandom() };
      const enc = await createContentEncryption(policy);
      expect(Buffer.from(enc.contentKey).equals(CEK)).toBe(true);
      const stored = await collectBytes(enc.encrypt([PLAINTEXT]));
      const data = parseEncryptionData(enc.toJson(true));
      const out = await collectBytes(await decryptRange(data, { keyEncryptionKey: kek }, stored.length, () => [stored]));
      expect(out.equals(PLAINTEXT)).toBe(true);
      // The serialized metadata carries no secret either (it is stored in the clear).
      scan(`EncryptionData ${encryptionVersion}`, enc.toJson(true));
      enc.dispose();
    }
  });

  it("every reachable core error path: messages, String, JSON, util.inspect (with causes) and stack carry no secret", async () => {
    const otherKek = new AesKeyWrapKey(KID, OTHER_KEK_BYTES);
    const enc20 = await createContentEncryption({ keyEncryptionKey: kek, random: fixedRandom() });
    const stored20 = await collectBytes(enc20.encrypt([PLAINTEXT]));
    const data20: EncryptionData = parseEncryptionData(enc20.toJson(true));
    const enc10 = await createContentEncryption({ keyEncryptionKey: kek, encryptionVersion: "1.0", allowDeprecatedV1Encryption: true, random: fixedRandom() });
    const stored10 = await collectBytes(enc10.encrypt([PLAINTEXT]));
    const data10 = parseEncryptionData(enc10.toJson(true));
    const json20 = JSON.parse(enc20.toJson(true)) as Record<string, Record<string, unknown>>;
    const flip = (b: Buffer, i: number) => {
      const c = Buffer.from(b);
      c[i]! ^= 1;
      return c;
    };
    const aborted = AbortSignal.abort();
    const failingKek: KeyEncryptionKey = {
      keyId: KID,
      defaultWrapAlgorithm: "A256KW",
      wrapKey: () => Promise.reject(new Error("vault unavailable")),
      unwrapKey: () => Promise.reject(new Error("vault unavailable")),
    };

    // EncryptionData reader
    await expectFailure("invalid JSON", () => parseEncryptionData(`{"Key":"${CANARY_TEXT}"`));
    await expectFailure("wrong protocol", () => parseEncryptionData(JSON.stringify({ ...json20, EncryptionAgent: { Protocol: "9.9", EncryptionAlgorithm: "AES_GCM_256" } })));
    await expectFailure("missing field", () => parseEncryptionData(JSON.stringify({ ...json20, WrappedContentKey: {} })));
    await expectFailure("bad base64", () => parseEncryptionData(JSON.stringify({ ...json20, WrappedContentKey: { ...json20.WrappedContentKey, EncryptedKey: "%%%" } })));
    await expectFailure("bad DataLength", () => parseEncryptionData(JSON.stringify({ ...json20, EncryptedRegionInfo: { DataLength: 1, NonceLength: 12 } })));
    await expectFailure("too long", () => parseEncryptionData("x".repeat(20_000)));
    await expectFailure("duplicate metadata key", () => findEncryptionDataInMetadata({ encryptiondata: "a", EncryptionData: "b" }));
    // Key selection and unwrap
    await expectFailure("wrong KEK (same kid)", () => unwrapContentKey(data20, { keyEncryptionKey: otherKek }));
    await expectFailure("kid mismatch", () => unwrapContentKey(data20, { keyEncryptionKey: new AesKeyWrapKey("local:other", OTHER_KEK_BYTES) }));
    await expectFailure("no key", () => unwrapContentKey(data20, {}));
    await expectFailure("resolver has no key", () => unwrapContentKey(data20, { keyResolver: () => undefined }));
    await expectFailure("resolver returns other kid", () => unwrapContentKey(data20, { keyResolver: () => new AesKeyWrapKey("local:x", OTHER_KEK_BYTES) }));
    await expectFailure("resolver throws", () => unwrapContentKey(data20, { keyResolver: () => Promise.reject(new Error("resolver down")) }));
    await expectFailure("caching resolver failure", () => unwrapContentKey(data20, { keyResolver: createCachingKeyResolver(() => Promise.reject(new Error("down"))) }));
    await expectFailure("unwrap throws", () => unwrapContentKey(data20, { keyEncryptionKey: failingKek }));
    await expectFailure("relabelled 2.0 as 2.1 (prefix check)", () => unwrapContentKey({ ...data20, protocol: "2.1" } as EncryptionData, { keyEncryptionKey: kek }));
    await expectFailure("relabelled 2.0 as 1.0 (length check)", () => unwrapContentKey({ ...data10, wrappedContentKey: data20.wrappedContentKey }, { keyEncryptionKey: kek }));
    await expectFailure("tampered wrapped key", () => unwrapContentKey({ ...data20, wrappedContentKey: { ...data20.wrappedContentKey, encryptedKey: flip(Buffer.from(data20.wrappedContentKey.encryptedKey), 3) } }, { keyEncryptionKey: kek }));
    await expectFailure("wrong unwrap algorithm", () => unwrapContentKey({ ...data20, wrappedContentKey: { ...data20.wrappedContentKey, algorithm: "A128KW" } }, { keyEncryptionKey: kek }));
    await expectFailure("aborted unwrap", () => unwrapContentKey(data20, { keyEncryptionKey: kek }, { abortSignal: aborted }));
    // Writing
    await expectFailure("wrap throws", () => createContentEncryption({ keyEncryptionKey: failingKek, random: fixedRandom() }));
    await expectFailure("1.0 without opt-in", () => createContentEncryption({ keyEncryptionKey: kek, encryptionVersion: "1.0", random: fixedRandom() }));
    await expectFailure("bad region size", () => createContentEncryption({ keyEncryptionKey: kek, encryptionVersion: "2.1", regionSize: 3, random: fixedRandom() }));
    await expectFailure("2.0 with region size", () => createContentEncryption({ keyEncryptionKey: kek, regionSize: 32, random: fixedRandom() }));
    await expectFailure("no KEK to write", () => createContentEncryption({ random: fixedRandom() }));
    await expectFailure("short random", () => createContentEncryption({ keyEncryptionKey: kek, random: () => CEK.subarray(0, 31) }));
    await expectFailure("aborted wrap", () => createContentEncryption({ keyEncryptionKey: kek, random: fixedRandom() }, { abortSignal: aborted }));
    const once = await createContentEncryption({ keyEncryptionKey: kek, random: fixedRandom() });
    await collectBytes(once.encrypt([PLAINTEXT]));
    await expectFailure("content key reused", () => once.encrypt([PLAINTEXT]));
    // Content decryption
    await expectFailure("GCM tag failure", () => decryptGcmRegions([flip(stored20, stored20.length - 1)], CEK, 4 * 1024 * 1024));
    await expectFailure("GCM ciphertext tampered", () => decryptGcmRegions([flip(stored20, 20)], CEK, 4 * 1024 * 1024));
    await expectFailure("GCM truncated", () => decryptGcmRegions([stored20.subarray(0, 20)], CEK, 4 * 1024 * 1024));
    await expectFailure("GCM region out of order", () => decryptGcmRegions([stored20], CEK, 4 * 1024 * 1024, { firstRegionIndex: 5 }));
    await expectFailure("GCM wrong key", () => decryptGcmRegions([stored20], OTHER_KEK_BYTES, 4 * 1024 * 1024));
    await expectFailure("GCM bad region size", () => decryptGcmRegions([stored20], CEK, 0));
    await expectFailure("GCM short key", () => encryptGcmRegions([PLAINTEXT], CEK.subarray(1), 16));
    await expectFailure("truncated body via decryptRange", () => decryptRange(data20, { keyEncryptionKey: kek }, stored20.length - 1, () => [stored20.subarray(0, -1)]));
    await expectFailure("impossible stored length via decryptRange", () => decryptRange(data20, { keyEncryptionKey: kek }, 4 * 1024 * 1024 + 28 + 5, () => [stored20]));
    await expectFailure("planned decrypt of tampered body", () => decryptPlanned(data20, CEK, planRange(data20, { offset: 0 }, stored20.length), [flip(stored20, 30)]));
    await expectFailure("CBC bad padding", () => decryptCbc([flip(stored10, stored10.length - 17)], CEK, IV, { unpad: true }));
    await expectFailure("CBC wrong key", () => decryptCbc([stored10], OTHER_KEK_BYTES, IV, { unpad: true }));
    await expectFailure("CBC truncated", () => decryptCbc([stored10.subarray(0, 20)], CEK, IV, { unpad: true }));
    await expectFailure("CBC bad IV", () => decryptCbc([stored10], CEK, IV.subarray(1), { unpad: true }));
    await expectFailure("CBC IV from empty stream", () => decryptCbc([], CEK, undefined, { unpad: true, ivFromStream: true }));
    await expectFailure("CBC unpadded encrypt of partial block", () => encryptCbc([PLAINTEXT.subarray(0, 17)], CEK, IV, { pad: false }));
    await expectFailure("CBC buffer wrong key", () => decryptCbcBuffer(OTHER_KEK_BYTES, IV, stored10));
    await expectFailure("CBC buffer bad length", () => decryptCbcBuffer(CEK, IV, stored10.subarray(1)));
    await expectFailure("CBC buffer bad key length", () => encryptCbcBuffer(CEK.subarray(2), IV, PLAINTEXT));
    const region = encryptGcmBuffer(CEK, Buffer.alloc(12), PLAINTEXT);
    await expectFailure("GCM buffer tampered", () => decryptGcmBuffer(CEK, flip(region, 15)));
    await expectFailure("GCM buffer wrong key", () => decryptGcmBuffer(OTHER_KEK_BYTES, region));
    await expectFailure("GCM buffer too short", () => decryptGcmBuffer(CEK, region.subarray(0, 10)));
    await expectFailure("GCM buffer bad nonce", () => encryptGcmBuffer(CEK, Buffer.alloc(11), PLAINTEXT));
    // Size and range math
    await expectFailure("plan v2 bad stored length", () => planV2Range({ offset: 0 }, 16, 44 + 5));
    await expectFailure("plan v1 bad stored length", () => planV1Range({ offset: 0 }, 17));
    await expectFailure("plan bad offset", () => planRange(data20, { offset: -1 }, stored20.length));
    await expectFailure("sizes", () => v2StoredLength(Number.NaN, 16));
    await expectFailure("sizes v1", () => v1StoredLength(-1));
    await expectFailure("sizes v2 plain", () => v2PlaintextLength(1.5, 16));
    // Local keys and resolvers
    await expectFailure("AES KEK wrong size", () => new AesKeyWrapKey(KID, Buffer.concat([KEK_BYTES, CEK.subarray(0, 3)])));
    await expectFailure("AES KEK empty kid", () => new AesKeyWrapKey("", KEK_BYTES));
    await expectFailure("AES KEK wrong alg", () => kek.wrapKey("RSA-OAEP", CEK));
    await expectFailure("AES KEK bad input", () => kek.wrapKey("A256KW", CEK.subarray(0, 12)));
    await expectFailure("AES KEK unwrap garbage", () => kek.unwrapKey("A256KW", CEK));
    await expectFailure("JWK oct wrong alg", () => keyFromJwk({ kty: "oct", kid: KID, alg: "A128KW", k: KEK_BYTES.toString("base64url") }));
    await expectFailure("JWK oct bad size", () => keyFromJwk({ kty: "oct", kid: KID, k: KEK_BYTES.subarray(0, 20).toString("base64url") }));
    await expectFailure("JWK no kid", () => keyFromJwk({ kty: "oct", k: KEK_BYTES.toString("base64url") }));
    await expectFailure("JWK bad kty", () => keyFromJwk({ kty: "EC", kid: KID, d: KEK_BYTES.toString("base64url") }));
    const rsaJwk = rsa.toJwk() as Record<string, string>;
    await expectFailure("JWK RSA broken", () => keyFromJwk({ ...rsaJwk, n: rsaJwk.n!.slice(0, 40) }));
    await expectFailure("JWK RSA bad alg", () => keyFromJwk({ ...rsaJwk, alg: "RSA1_5" }));
    await expectFailure("raw key bad base64", () => keyFromRawBytes(KID, `${KEK_BYTES.toString("base64")}!`));
    await expectFailure("raw key wrong size", () => keyFromRawBytes(KID, KEK_BYTES.subarray(0, 30)));
    await expectFailure("PEM broken", () => RsaKey.fromPem(KID, rsa.privateKeyPem()!.replace(/[A-Z]{8}/, "AAAAAAAA").slice(0, 300)));
    await expectFailure("RSA unwrap garbage", () => rsa.unwrapKey("RSA-OAEP", CEK));
    await expectFailure("RSA1_5 unwrap garbage", () => rsa.unwrapKey("RSA1_5", Buffer.alloc(256, 7)));
    await expectFailure("RSA1_5 wrap", () => rsa.wrapKey("RSA1_5", CEK));
    await expectFailure("RSA unknown alg", () => rsa.wrapKey("A256KW", CEK));
    await expectFailure("RSA public-only unwrap", () => RsaKey.fromPem("pub", rsa.publicKeyPem()).unwrapKey("RSA-OAEP", CEK));
    await expectFailure("RSA aborted", () => rsa.wrapKey("RSA-OAEP", CEK, { abortSignal: aborted }));
    await expectFailure("duplicate kids", () => createLocalKeyResolver([kek, otherKek]));
    await expectFailure("caching resolver options", () => createCachingKeyResolver(() => undefined, { ttlInMs: 0 }));

    // Every stable code reachable in core was exercised.
    expect([...seen.keys()].sort()).toEqual(
      ["ABORTED", "DECRYPTION_FAILED", "DEPRECATED_PROTOCOL", "INVALID_ARGUMENT", "INVALID_ENCRYPTION_DATA", "KEY_NOT_FOUND", "KEY_OPERATION_FAILED", "KID_MISMATCH", "REGION_OUT_OF_ORDER", "UNSUPPORTED_OPERATION", "UNSUPPORTED_PROTOCOL"].sort(),
    );
    // DECRYPTION_FAILED is one message whatever the cause (no padding, tag or unwrap oracle) and carries no cause.
    for (const code of ["DECRYPTION_FAILED"] as const) expect(seen.get(code)).toBeGreaterThan(15);
    once.dispose();
    enc20.dispose();
    enc10.dispose();
  });

  it("decryption failures are indistinguishable: one message, no cause, details limited to the key id", async () => {
    const enc = await createContentEncryption({ keyEncryptionKey: kek, random: fixedRandom() });
    const stored = await collectBytes(enc.encrypt([PLAINTEXT]));
    const data = parseEncryptionData(enc.toJson(true));
    const failures = [
      await expectFailure("tag", () => decryptGcmRegions([Buffer.concat([stored.subarray(0, -1), Buffer.from([stored.at(-1)! ^ 1])])], CEK, 4 * 1024 * 1024)),
      await expectFailure("padding", () => decryptCbcBuffer(CEK, IV, Buffer.alloc(32))),
      await expectFailure("unwrap", () => unwrapContentKey(data, { keyEncryptionKey: new AesKeyWrapKey(KID, OTHER_KEK_BYTES) })),
      await expectFailure("prefix", () => unwrapContentKey({ ...data, protocol: "2.1" } as EncryptionData, { keyEncryptionKey: kek })),
    ];
    for (const f of failures) {
      expect(f.code).toBe("DECRYPTION_FAILED");
      expect(f.message).toBe(failures[0]!.message);
      expect(f.cause).toBeUndefined();
      expect(Object.keys(f.details).every((k) => k === "keyId")).toBe(true);
    }
    enc.dispose();
  });

  it("key objects and the policy do not reveal key material when inspected, stringified or logged", () => {
    const policy: ClientSideEncryptionPolicy = { keyEncryptionKey: kek, keyResolver: createLocalKeyResolver([kek, rsa]) };
    for (const [label, value] of [["AES KEK", kek], ["RSA KEK", rsa], ["policy", policy]] as const) {
      scan(`${label} util.inspect`, util.inspect(value, { depth: 10, showHidden: true }));
      scan(`${label} JSON`, JSON.stringify(value));
      scan(`${label} template`, `${value as unknown as string}`);
    }
    console.log("policy in use:", policy, kek, rsa);
    console.error(kek);
  });

  it("nothing written to the console or stdout/stderr during this suite carries a secret", () => {
    expect(captured.length).toBeGreaterThan(0); // the capture works (the previous test logged)
    scan("console/stdout/stderr", captured.join("\n"));
  });

  it("serialized EncryptionData of every protocol carries the wrapped key only", async () => {
    for (const encryptionVersion of ["2.0", "1.0"] as const) {
      const enc = await createContentEncryption({ keyEncryptionKey: kek, encryptionVersion, allowDeprecatedV1Encryption: true, random: fixedRandom() });
      const text = serializeEncryptionData(enc.encryptionData, { includeEncryptionMode: true });
      scan(`serialized ${encryptionVersion}`, text);
      enc.dispose();
    }
  });
});
