// Negative tests: tampered bodies and metadata fail with a typed error and release no plaintext of
// the failing region; the region-order check (spec §3.5) and its recovery switch; no oracle; no
// secrets in errors.
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  ALLOW_MISORDERED_ENV,
  AesKeyWrapKey,
  DECRYPTION_FAILED_MESSAGE,
  RsaKey,
  collectBytes,
  createContentEncryption,
  decryptGcmRegions,
  decryptPlanned,
  decryptRange,
  encryptGcmRegions,
  parseEncryptionData,
  planRange,
  regionNonce,
  unwrapContentKey,
  v2StoredLength,
  type ClientSideEncryptionError,
  type ClientSideEncryptionPolicy,
  type EncryptionData,
  type NonceScheme,
} from "@azure-cse/core-envelope";
import { decryptCbcBuffer, decryptGcmBuffer, encryptGcmBuffer } from "@azure-cse/core-envelope/internal";
import { caught, expectCode, expectNoSecrets, fixedRandom, patternBytes } from "./helpers.js";

const L = 64;
const R = L + 28;
const kekBytes = patternBytes(32, 41);
const kek = new AesKeyWrapKey("local:tamper", kekBytes);
const cek = patternBytes(32, 42);
const plain = patternBytes(4 * L + 10, 43); // 5 regions, the last one partial
const policy: ClientSideEncryptionPolicy = { keyEncryptionKey: kek };

async function make(P: Buffer = plain, version: "2.1" | "1.0" = "2.1") {
  const enc = await createContentEncryption(
    version === "1.0"
      ? { keyEncryptionKey: kek, encryptionVersion: "1.0", allowDeprecatedV1Encryption: true, random: fixedRandom([cek, patternBytes(16, 44)]) }
      : { keyEncryptionKey: kek, encryptionVersion: "2.1", regionSize: L, random: fixedRandom([cek]) },
  );
  const stored = await collectBytes(enc.encrypt([P]));
  return { json: enc.toJson(true), data: enc.encryptionData, stored };
}

/** Whole-body decrypt as a service package does it: plan from the stored length, unwrap, stream. */
async function decryptAll(data: EncryptionData, stored: Buffer, p: ClientSideEncryptionPolicy = policy, released: Buffer[] = []): Promise<Buffer> {
  const gen = await decryptRange(data, p, stored.length, (o, n) => [stored.subarray(o, n === undefined ? undefined : o + n)]);
  for await (const chunk of gen) released.push(chunk);
  return Buffer.concat(released);
}

const regions = (stored: Buffer) => Array.from({ length: Math.ceil(stored.length / R) }, (_, i) => stored.subarray(i * R, (i + 1) * R));

afterEach(() => {
  vi.unstubAllEnvs();
});

describe("bit flips: every region, nonce, ciphertext and tag (GCM integrity, spec §3.3)", () => {
  it("a flipped ciphertext or tag bit in region k → DECRYPTION_FAILED after releasing exactly regions 0..k−1", async () => {
    const { data, stored } = await make();
    const n = regions(stored).length;
    expect(n).toBe(5);
    for (let k = 0; k < n; k++) {
      const regionStart = k * R;
      const regionEnd = Math.min(stored.length, regionStart + R);
      for (const pos of [regionStart + 12, regionStart + 12 + 5, regionEnd - 17, regionEnd - 16, regionEnd - 1]) {
        const bad = Buffer.from(stored);
        bad[pos]! ^= 0x04;
        const released: Buffer[] = [];
        const e = await expectCode(() => decryptAll(data, bad, policy, released), "DECRYPTION_FAILED");
        expect(e.message).toBe(DECRYPTION_FAILED_MESSAGE);
        const out = Buffer.concat(released);
        expect(out.length, `flip at ${pos} in region ${k}`).toBe(k * L);
        expect(out.equals(plain.subarray(0, k * L))).toBe(true);
      }
    }
  });

  it("a flipped nonce bit → REGION_OUT_OF_ORDER with the order check, DECRYPTION_FAILED without it", async () => {
    const { data, stored } = await make();
    for (let k = 0; k < 5; k++) {
      const bad = Buffer.from(stored);
      bad[k * R + 11]! ^= 0x01;
      const released: Buffer[] = [];
      await expectCode(() => decryptAll(data, bad, policy, released), "REGION_OUT_OF_ORDER");
      expect(Buffer.concat(released).length).toBe(k * L);
      await expectCode(() => decryptAll(data, bad, { ...policy, allowMisorderedRegions: true }), "DECRYPTION_FAILED");
    }
  });
});

describe("truncation and extension (no total length is stored: spec §3.5 last bullet)", () => {
  it("truncating inside a region (1..27 bytes off, or leaving a stub shorter than 29 bytes) → DECRYPTION_FAILED", async () => {
    const { data, stored } = await make();
    for (const cut of [1, 5, 16, 27, 28, 37, R - 1]) {
      const released: Buffer[] = [];
      await expectCode(() => decryptAll(data, stored.subarray(0, stored.length - cut), policy, released), "DECRYPTION_FAILED");
      expect(Buffer.concat(released).length).toBeLessThanOrEqual(4 * L);
    }
    // Inside a full region (not the last one).
    await expectCode(() => decryptAll(data, stored.subarray(0, 2 * R + 40)), "DECRYPTION_FAILED");
  });

  it("appending bytes: a stub that is no valid length → DECRYPTION_FAILED; a forged extra region fails its nonce or tag", async () => {
    const { data, stored } = await make(plain.subarray(0, 4 * L));
    for (const extra of [1, 27, 28]) await expectCode(() => decryptAll(data, Buffer.concat([stored, Buffer.alloc(extra, 7)])), "DECRYPTION_FAILED");
    // 29+ garbage bytes parse as a fifth region whose nonce is not BE96(4) (nor Java's/.NET's)…
    for (const extra of [29, 40]) await expectCode(() => decryptAll(data, Buffer.concat([stored, Buffer.alloc(extra, 7)])), "REGION_OUT_OF_ORDER");
    // …and with the right nonce its tag cannot verify.
    const forged = Buffer.concat([regionNonce("python", 4), Buffer.alloc(30, 7)]);
    const released: Buffer[] = [];
    await expectCode(() => decryptAll(data, Buffer.concat([stored, forged]), policy, released), "DECRYPTION_FAILED");
    expect(Buffer.concat(released)).toEqual(plain.subarray(0, 4 * L));
  });

  it("dropping whole trailing regions is NOT detectable by the format: the shorter body decrypts to a prefix (every SDK behaves so)", async () => {
    // The stored length changes, but it is again a valid 2.x length, and no region carries the total.
    const full = await make(plain.subarray(0, 4 * L)); // 4 full regions
    expect(await decryptAll(full.data, full.stored.subarray(0, 3 * R))).toEqual(plain.subarray(0, 3 * L));
    const partial = await make(); // 4 full + 1 partial region
    expect(await decryptAll(partial.data, partial.stored.subarray(0, 4 * R))).toEqual(plain.subarray(0, 4 * L));
    expect(await decryptAll(partial.data, Buffer.alloc(0))).toEqual(Buffer.alloc(0));
    // A caller that knows the expected plaintext length (e.g. from its own records) can detect it:
    expect(v2StoredLength(plain.length, L)).not.toBe(4 * R);
  });

  it("a lone 28-byte empty region is accepted as empty plaintext; an empty region after region 0 is refused", async () => {
    expect((await collectBytes(encryptGcmRegions([Buffer.alloc(0)], cek, L))).length).toBe(0); // we write nothing for empty input
    const lone = encryptGcmBuffer(cek, regionNonce("java", 0), Buffer.alloc(0));
    expect(lone.length).toBe(28);
    expect(await collectBytes(decryptGcmRegions([lone], cek, L))).toEqual(Buffer.alloc(0));
    const { stored } = await make(plain.subarray(0, L));
    const trailingEmpty = Buffer.concat([stored, encryptGcmBuffer(cek, regionNonce("python", 1), Buffer.alloc(0))]);
    await expectCode(() => collectBytes(decryptGcmRegions([trailingEmpty], cek, L)), "DECRYPTION_FAILED");
  });
});

describe("drop / reorder / duplicate regions → REGION_OUT_OF_ORDER (2026 order check), recovery switch", () => {
  const variants: [string, (r: Buffer[]) => Buffer[]][] = [
    ["drop region 0", (r) => r.slice(1)],
    ["drop a middle region", (r) => [r[0]!, r[1]!, r[3]!, r[4]!]],
    ["swap regions 1 and 2", (r) => [r[0]!, r[2]!, r[1]!, r[3]!, r[4]!]],
    ["duplicate region 0", (r) => [r[0]!, r[0]!, r[1]!, r[2]!, r[3]!, r[4]!]],
    ["duplicate a middle region", (r) => [r[0]!, r[1]!, r[1]!, r[2]!, r[3]!, r[4]!]],
  ];
  for (const [name, fn] of variants) {
    it(`${name} → REGION_OUT_OF_ORDER naming the env switch; the option or env var ${ALLOW_MISORDERED_ENV} recovers the regions as stored`, async () => {
      const { data, stored } = await make();
      const r = regions(stored);
      const bad = Buffer.concat(fn(r));
      const e = await expectCode(() => decryptAll(data, bad), "REGION_OUT_OF_ORDER");
      expect(e.message).toContain(ALLOW_MISORDERED_ENV);
      // What the regions hold, in stored order.
      const expected = Buffer.concat(fn(r.map((_, i) => plain.subarray(i * L, (i + 1) * L))));
      expect(await decryptAll(data, bad, { ...policy, allowMisorderedRegions: true })).toEqual(expected);
      vi.stubEnv(ALLOW_MISORDERED_ENV, "true");
      expect(await decryptAll(data, bad)).toEqual(expected);
      vi.stubEnv(ALLOW_MISORDERED_ENV, "1");
      expect(await decryptAll(data, bad)).toEqual(expected);
      vi.stubEnv(ALLOW_MISORDERED_ENV, "false");
      await expectCode(() => decryptAll(data, bad), "REGION_OUT_OF_ORDER");
    });
  }

  it("a ranged read checks nonces against the region index of the range start (swapped regions 2↔3)", async () => {
    const { data, stored } = await make();
    const r = regions(stored);
    const bad = Buffer.concat([r[0]!, r[1]!, r[3]!, r[2]!, r[4]!]);
    const key = await unwrapContentKey(data, policy);
    const plan = planRange(data, { offset: 2 * L + 3, count: 5 }, bad.length);
    expect(plan.firstRegionIndex).toBe(2);
    const fetched = bad.subarray(plan.storedOffset, plan.storedOffset + plan.storedCount!);
    await expectCode(() => collectBytes(decryptPlanned(data, key, plan, [fetched])), "REGION_OUT_OF_ORDER");
    // Unmodified: the same range decrypts.
    const good = stored.subarray(plan.storedOffset, plan.storedOffset + plan.storedCount!);
    expect(await collectBytes(decryptPlanned(data, key, plan, [good]))).toEqual(plain.subarray(2 * L + 3, 2 * L + 8));
  });
});

describe("nonce schemes: all three in circulation are accepted on read (spec §3.3); we write Python's", () => {
  const schemes: NonceScheme[] = ["python", "java", "dotnet"];
  it("regionNonce: python BE96(i), java BE64(i)‖0⁴, dotnet 0⁴‖LE64(i+1)", () => {
    expect(regionNonce("python", 1).toString("hex")).toBe("000000000000000000000001");
    expect(regionNonce("java", 1).toString("hex")).toBe("000000000000000100000000");
    expect(regionNonce("dotnet", 0).toString("hex")).toBe("000000000100000000000000");
    expect(regionNonce("dotnet", 1).toString("hex")).toBe("000000000200000000000000");
    expect(regionNonce("python", 2 ** 40).toString("hex")).toBe("000000000000010000000000");
  });

  for (const scheme of schemes) {
    it(`${scheme} nonces decrypt with the order check on, whole and ranged from a later region`, async () => {
      const stored = await collectBytes(encryptGcmRegions([plain], cek, L, { nonceScheme: scheme }));
      expect(stored.subarray(R, R + 12)).toEqual(regionNonce(scheme, 1));
      expect(await collectBytes(decryptGcmRegions([stored], cek, L))).toEqual(plain);
      const tail = await collectBytes(decryptGcmRegions([stored.subarray(3 * R)], cek, L, { firstRegionIndex: 3 }));
      expect(tail).toEqual(plain.subarray(3 * L));
    });
  }

  it("mixing schemes inside one body (python region 0, dotnet region 1) → REGION_OUT_OF_ORDER", async () => {
    const py = await collectBytes(encryptGcmRegions([plain.subarray(0, L)], cek, L, { nonceScheme: "python" }));
    const net = await collectBytes(encryptGcmRegions([plain.subarray(L, 2 * L)], cek, L, { nonceScheme: "dotnet", firstRegionIndex: 1 }));
    await expectCode(() => collectBytes(decryptGcmRegions([py, net], cek, L)), "REGION_OUT_OF_ORDER");
    expect(await collectBytes(decryptGcmRegions([py, net], cek, L, { checkRegionOrder: false }))).toEqual(plain.subarray(0, 2 * L));
  });

  it("our writer uses Python's scheme (region i nonce = BE96(i))", async () => {
    const { stored } = await make();
    regions(stored).forEach((r, i) => expect(r.subarray(0, 12)).toEqual(regionNonce("python", i)));
  });
});

describe("swapped or altered metadata fields", () => {
  it("EncryptedKey of another blob → its CEK opens nothing here → DECRYPTION_FAILED", async () => {
    const a = await make();
    const other = await createContentEncryption({ keyEncryptionKey: kek, encryptionVersion: "2.1", regionSize: L });
    const o = JSON.parse(a.json);
    o.WrappedContentKey.EncryptedKey = JSON.parse(other.toJson(true)).WrappedContentKey.EncryptedKey;
    await expectCode(() => decryptAll(parseEncryptionData(o), a.stored), "DECRYPTION_FAILED");
  });

  it("DataLength changed (64 → 128 or 32): the body no longer parses as regions → DECRYPTION_FAILED", async () => {
    const a = await make();
    for (const dl of [128, 32, 65]) {
      const o = JSON.parse(a.json);
      o.EncryptedRegionInfo.DataLength = dl;
      await expectCode(() => decryptAll(parseEncryptionData(o), a.stored), "DECRYPTION_FAILED");
    }
  });

  it("KeyId changed → KID_MISMATCH (configured key) / KEY_NOT_FOUND (resolver without it)", async () => {
    const o = JSON.parse((await make()).json);
    o.WrappedContentKey.KeyId = "local:someone-else";
    await expectCode(() => unwrapContentKey(parseEncryptionData(o), policy), "KID_MISMATCH");
    await expectCode(() => unwrapContentKey(parseEncryptionData(o), { keyResolver: (id) => (id === kek.keyId ? kek : undefined) }), "KEY_NOT_FOUND");
  });

  it("Algorithm changed to one the key cannot use → KEY_OPERATION_FAILED (a key error about stored data, never a caller error), before any unwrap", async () => {
    const o = JSON.parse((await make()).json);
    o.WrappedContentKey.Algorithm = "RSA-OAEP\u001b[2J";
    const e = await caught(() => unwrapContentKey(parseEncryptionData(o), policy));
    expect(e.code).toBe("KEY_OPERATION_FAILED");
    // eslint-disable-next-line no-control-regex
    expect(e.message).not.toMatch(/[\u0000-\u001f]/);
  });

  it("wrong key material for the right kid → DECRYPTION_FAILED", async () => {
    const a = await make();
    await expectCode(() => decryptAll(a.data, a.stored, { keyEncryptionKey: new AesKeyWrapKey(kek.keyId, patternBytes(32, 1)) }), "DECRYPTION_FAILED");
  });

  it("1.0 has no integrity (CVE-2022-30187): a changed IV silently changes only the first block — the reason 1.0 writing is opt-in", async () => {
    const a = await make(plain, "1.0");
    const o = JSON.parse(a.json);
    o.ContentEncryptionIV = Buffer.alloc(16, 1).toString("base64");
    const out = await decryptAll(parseEncryptionData(o), a.stored);
    expect(out.subarray(16)).toEqual(plain.subarray(16));
    expect(out.subarray(0, 16)).not.toEqual(plain.subarray(0, 16));
  });
});

describe("no oracle: every decryption failure has one code and one message, and no secrets leak", () => {
  async function failures(): Promise<[string, ClientSideEncryptionError][]> {
    const v2 = await make();
    const v1 = await make(plain, "1.0");
    const rsa = RsaKey.generate("local:rsa");
    const flipped = (b: Buffer, pos: number) => {
      const c = Buffer.from(b);
      c[pos]! ^= 1;
      return c;
    };
    const o2 = JSON.parse(v2.json);
    o2.WrappedContentKey.EncryptedKey = flipped(Buffer.from(o2.WrappedContentKey.EncryptedKey, "base64"), 3).toString("base64");
    const relabel = JSON.parse(v2.json);
    relabel.EncryptionAgent.Protocol = "2.0";
    relabel.EncryptedRegionInfo.DataLength = 4 * 1024 * 1024; // 2.0 only exists with 4 MiB regions
    return [
      ["GCM tag", await caught(() => decryptAll(v2.data, flipped(v2.stored, R + 50)))],
      ["GCM truncated", await caught(() => decryptAll(v2.data, v2.stored.subarray(0, v2.stored.length - 3)))],
      ["CBC padding", await caught(() => decryptAll(v1.data, flipped(v1.stored, v1.stored.length - 20)))],
      ["CBC one-shot padding", await caught(() => decryptCbcBuffer(cek, patternBytes(16, 1), flipped(v1.stored, v1.stored.length - 20)))],
      ["GCM one-shot tag", await caught(() => decryptGcmBuffer(cek, flipped(v2.stored.subarray(0, R), 50)))],
      ["AES unwrap", await caught(() => unwrapContentKey(parseEncryptionData(o2), policy))],
      ["RSA unwrap", await caught(() => rsa.unwrapKey("RSA-OAEP", patternBytes(256, 2)))],
      ["2.x prefix (relabel)", await caught(() => unwrapContentKey(parseEncryptionData(relabel), policy))],
    ];
  }

  it("tag vs padding vs unwrap vs prefix failures are indistinguishable: same code, same message, no cause", async () => {
    const all = await failures();
    for (const [name, e] of all) {
      expect(e.code, name).toBe("DECRYPTION_FAILED");
      expect(e.message, name).toBe(DECRYPTION_FAILED_MESSAGE);
      expect(e.cause, name).toBeUndefined();
      expect(e.name, name).toBe("ClientSideEncryptionError");
      expect({ ...e.details }, `${name}: details must not tell unwrap from tag/padding failures`).toEqual({});
    }
  });

  it("errors never contain the CEK, the KEK or plaintext (hex, base64, base64url, raw)", async () => {
    const all = await failures();
    for (const [, e] of all) expectNoSecrets(e, [cek, kekBytes, plain.subarray(0, 32), plain.subarray(4 * L)]);
    // Region-order and kid errors too.
    const v2 = await make();
    const r = regions(v2.stored);
    const reordered = await caught(() => decryptAll(v2.data, Buffer.concat([r[1]!, r[0]!])));
    expect(reordered.code).toBe("REGION_OUT_OF_ORDER");
    expectNoSecrets(reordered, [cek, kekBytes, plain.subarray(0, 32), plain.subarray(L, L + 32)]);
    const kid = await caught(() => unwrapContentKey(v2.data, { keyEncryptionKey: new AesKeyWrapKey("local:x", kekBytes) }));
    expect(kid.code).toBe("KID_MISMATCH");
    expectNoSecrets(kid, [cek, kekBytes]);
  });
});
