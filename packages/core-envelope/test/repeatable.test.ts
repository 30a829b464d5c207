// ContentEncryption.encryptRepeatable: a 2.x body sent more than once (request retries) is encrypted again
// for every attempt instead of being kept in memory. Deterministic region nonces make the attempts
// byte-identical while the source is unchanged; a region is released only when complete and matching its
// first release, so a changed source can never put different data under a nonce already used.
import { describe, expect, it } from "vitest";
import {
  AesKeyWrapKey,
  ClientSideEncryptionError,
  collectBytes,
  createContentEncryption,
  decryptPlanned,
  parseEncryptionData,
  planRange,
  unwrapContentKey,
  type ClientSideEncryptionPolicy,
} from "@azure-cse/core-envelope";
import { expectCode, expectNoSecrets, patternBytes } from "./helpers.js";

/** The code of an error an attempt ended with (fails the test for anything but a ClientSideEncryptionError). */
function codeOf(e: unknown): string {
  expect(ClientSideEncryptionError.is(e), `expected a ClientSideEncryptionError, got ${String(e)}`).toBe(true);
  return (e as ClientSideEncryptionError).code;
}

const L = 64; // region size (protocol 2.1)
const R = L + 28;
const kek = new AesKeyWrapKey("local:repeatable", patternBytes(32, 61));
const policy: ClientSideEncryptionPolicy = { keyEncryptionKey: kek, encryptionVersion: "2.1", regionSize: L };

/** The source in pieces of `size` bytes (region boundaries fall inside pieces). */
function* pieces(b: Buffer, size = 23): Generator<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

async function decrypt(json: string, stored: Buffer): Promise<Buffer> {
  const data = parseEncryptionData(json);
  const cek = await unwrapContentKey(data, { keyEncryptionKey: kek });
  return collectBytes(decryptPlanned(data, cek, planRange(data, { offset: 0 }, stored.length), [stored]));
}

/** Reads an attempt to its end or its error: the bytes released, and the error. */
async function drain(attempt: AsyncGenerator<Buffer>): Promise<{ out: Buffer; error?: unknown }> {
  const parts: Buffer[] = [];
  try {
    for await (const c of attempt) parts.push(Buffer.from(c));
    return { out: Buffer.concat(parts) };
  } catch (error) {
    return { out: Buffer.concat(parts), error };
  }
}

describe("encryptRepeatable (retries of one body without keeping its ciphertext)", () => {
  it("every attempt gives byte-identical ciphertext that decrypts to the plaintext, and equals what encrypt() writes", async () => {
    const plain = patternBytes(4 * L + 10, 62); // 5 regions, the last one partial
    const enc = await createContentEncryption(policy);
    const attempt = enc.encryptRepeatable(() => pieces(plain));
    const a = (await drain(attempt())).out;
    const b = (await drain(attempt())).out;
    const c = (await drain(attempt())).out;
    expect(a.length).toBe(enc.storedLength(plain.length));
    expect(b.equals(a)).toBe(true);
    expect(c.equals(a)).toBe(true);
    expect((await decrypt(enc.toJson(true), a)).equals(plain)).toBe(true);
    // Same key and nonces as the one-shot encryptor: the same bytes (a fixed RNG gives both the same CEK).
    const fixed = (): ClientSideEncryptionPolicy => {
      let n = 0;
      return { ...policy, random: (k: number) => patternBytes(k, 70 + n++) };
    };
    const oneShot = await createContentEncryption(fixed());
    const repeat = await createContentEncryption(fixed());
    expect((await drain(repeat.encryptRepeatable(() => pieces(plain, 7))())).out.equals(await collectBytes(oneShot.encrypt(pieces(plain, 5))))).toBe(true);
  });

  it("releases a region only once it is complete (nonce, ciphertext and tag together)", async () => {
    const plain = patternBytes(3 * L, 63);
    const enc = await createContentEncryption(policy);
    let pulled = 0;
    function* counting(): Generator<Buffer> {
      for (const p of pieces(plain, 10)) {
        pulled += p.length;
        yield p;
      }
    }
    const seenAtRelease: number[] = [];
    let released = 0;
    for await (const c of enc.encryptRepeatable(counting)()) {
      released += c.length;
      if (released % R === 0) seenAtRelease.push(pulled);
      // The first byte of region k leaves only after its whole plaintext was read.
      expect(pulled).toBeGreaterThanOrEqual(Math.min(plain.length, Math.ceil(released / R) * L));
    }
    expect(released).toBe(3 * R);
    expect(seenAtRelease).toHaveLength(3);
  });

  it("a source changed between attempts fails INVALID_ARGUMENT before any byte of the changed region is released", async () => {
    const plain = patternBytes(4 * L + 10, 64);
    const enc = await createContentEncryption(policy);
    const attempt = enc.encryptRepeatable(() => pieces(plain));
    const first = (await drain(attempt())).out;
    plain.writeUInt8(plain.readUInt8(2 * L + 5) ^ 1, 2 * L + 5); // region 2 changes
    const second = await drain(attempt());
    expect(codeOf(second.error)).toBe("INVALID_ARGUMENT");
    expect((second.error as ClientSideEncryptionError).message).toMatch(/source changed/);
    expectNoSecrets(second.error, [plain]);
    // Regions 0 and 1 went out again, identical; nothing of region 2.
    expect(second.out.length).toBe(2 * R);
    expect(second.out.equals(first.subarray(0, 2 * R))).toBe(true);
  });

  it("a different length (a grown or shrunk last region) is refused the same way", async () => {
    let plain = patternBytes(2 * L + 10, 65);
    const enc = await createContentEncryption(policy);
    const attempt = enc.encryptRepeatable(() => pieces(plain));
    await drain(attempt());
    plain = Buffer.concat([plain, Buffer.from([1])]); // same prefix, one more byte in the last region
    const grown = await drain(attempt());
    expect(codeOf(grown.error)).toBe("INVALID_ARGUMENT");
    expect(grown.out.length).toBe(2 * R);
    plain = plain.subarray(0, 2 * L + 9);
    const shrunk = await drain(attempt());
    expect(codeOf(shrunk.error)).toBe("INVALID_ARGUMENT");
    expect(shrunk.out.length).toBe(2 * R);
  });

  it("an attempt abandoned inside a region records nothing for it: the next attempt may carry new data there (none of it left before)", async () => {
    const plain = patternBytes(3 * L, 66);
    const enc = await createContentEncryption(policy);
    const attempt = enc.encryptRepeatable(() => pieces(plain, 16));
    const a1 = attempt();
    const got: Buffer[] = [];
    for await (const c of a1) {
      got.push(c);
      if (Buffer.concat(got).length === R) break; // region 0 out; region 1 not started downstream
    }
    plain.writeUInt8(plain.readUInt8(L + 3) ^ 0xff, L + 3); // region 1, never released, changes
    const second = await drain(attempt());
    expect(second.error).toBeUndefined();
    expect(second.out.subarray(0, R).equals(Buffer.concat(got))).toBe(true);
    expect((await decrypt(enc.toJson(true), second.out)).equals(plain)).toBe(true);
    // Region 1 is now recorded with the new data: restoring the old byte is a change again.
    plain.writeUInt8(plain.readUInt8(L + 3) ^ 0xff, L + 3);
    expect(codeOf((await drain(attempt())).error)).toBe("INVALID_ARGUMENT");
  });

  it("counts as the one use of the content key; protocol 1.0 has no repeatable form", async () => {
    const enc = await createContentEncryption(policy);
    enc.encryptRepeatable(() => [Buffer.alloc(1)]);
    await expectCode(() => enc.encrypt([Buffer.alloc(1)]), "INVALID_ARGUMENT");
    await expectCode(() => enc.encryptRepeatable(() => [Buffer.alloc(1)]), "INVALID_ARGUMENT");
    const other = await createContentEncryption(policy);
    void other.encrypt([Buffer.alloc(1)]);
    await expectCode(() => other.encryptRepeatable(() => [Buffer.alloc(1)]), "INVALID_ARGUMENT");
    const v1 = await createContentEncryption({ keyEncryptionKey: kek, encryptionVersion: "1.0", allowDeprecatedV1Encryption: true });
    await expectCode(() => v1.encryptRepeatable(() => [Buffer.alloc(1)]), "UNSUPPORTED_OPERATION");
  });
});
