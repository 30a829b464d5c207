// Property-based tests (fast-check) for size math, range planning against a brute-force model, and
// encrypt → decrypt round trips at region and block edges with arbitrary source chunking.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CBC_BLOCK,
  V2_REGION_OVERHEAD,
  collectBytes,
  decryptCbc,
  decryptGcmRegions,
  decryptPlanned,
  encryptCbc,
  encryptGcmRegions,
  planRange,
  planV1Range,
  planV2Range,
  v1StoredLength,
  v2PlaintextLength,
  v2StoredLength,
  type EncryptionData,
  type RangePlan,
} from "@azure-cse/core-envelope";
import { chunked, patternBytes } from "./helpers.js";

const MiB = 1024 * 1024;
const cek = patternBytes(32, 11);
const iv = patternBytes(16, 12);
const regionSize = fc.oneof(fc.integer({ min: 16, max: 64 }), fc.integer({ min: 16, max: 4 * MiB }), fc.constantFrom(16, 17, 4096, 65536, 4 * MiB));
const v2data = (L: number): EncryptionData => ({
  protocol: L === 4 * MiB ? "2.0" : "2.1",
  wrappedContentKey: { keyId: "k", encryptedKey: new Uint8Array(48), algorithm: "A256KW" },
  encryptedRegionInfo: { dataLength: L, nonceLength: 12 },
});
const v1data: EncryptionData = { protocol: "1.0", wrappedContentKey: { keyId: "k", encryptedKey: new Uint8Array(40), algorithm: "A256KW" }, contentEncryptionIV: iv };

describe("size math (spec §5)", () => {
  it("v2: C = P + ceil(P/L)·28 and v2PlaintextLength inverts it exactly, for P up to 2^40 and L from 16 B to 1 GiB", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.oneof(regionSize, fc.integer({ min: 16, max: 1024 * MiB })), (P, L) => {
        const C = v2StoredLength(P, L);
        expect(C).toBe(P + Math.ceil(P / L) * V2_REGION_OVERHEAD);
        expect(v2PlaintextLength(C, L)).toBe(P);
      }),
      { numRuns: 2000 },
    );
  });

  it("v2: a stored length no plaintext maps to is reported as undefined (brute force over small L)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 16, max: 64 }), (C, L) => {
        let preimage: number | undefined;
        for (let p = 0; p <= C; p++) if (v2StoredLength(p, L) === C) preimage = p;
        if (C === V2_REGION_OVERHEAD) preimage = 0; // a lone empty region (Java may write one) also means 0
        expect(v2PlaintextLength(C, L)).toBe(preimage);
      }),
      { numRuns: 500 },
    );
  });

  it("v2: known values from the Python SDK: 0→0, 1→29, 16→44, 4 MiB→4 MiB+28, 4 MiB+1→4 MiB+57", () => {
    expect([0, 1, 16, 4 * MiB, 4 * MiB + 1].map((p) => v2StoredLength(p, 4 * MiB))).toEqual([0, 29, 44, 4 * MiB + 28, 4 * MiB + 57]);
  });

  it("v1: PKCS#7 always adds 1..16 bytes (0→16, 15→16, 16→32); unpadded page blobs add none", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), (P) => {
        const C = v1StoredLength(P);
        expect(C % CBC_BLOCK).toBe(0);
        expect(C - P).toBeGreaterThanOrEqual(1);
        expect(C - P).toBeLessThanOrEqual(16);
        expect(v1StoredLength(P, false)).toBe(P);
      }),
    );
    expect([0, 15, 16].map((p) => v1StoredLength(p))).toEqual([16, 16, 32]);
  });
});

/** The plaintext range a request must return: [o, min(P, o+count)), empty when o ≥ P. */
function wanted(P: number, o: number, count: number | undefined): [number, number] {
  const end = count === undefined ? P : Math.min(P, o + count);
  return [o, Math.max(o, end)];
}

const rangeArb = (P: number) =>
  fc.record({
    offset: fc.oneof(fc.integer({ min: 0, max: Math.max(0, P + 40) }), fc.constantFrom(0, Math.max(0, P - 1), P)),
    count: fc.option(fc.oneof(fc.integer({ min: 0, max: P + 40 }), fc.integer({ min: 0, max: 40 })), { nil: undefined }),
  });

function checkV2Plan(plan: RangePlan, P: number, L: number, o: number, count: number | undefined): void {
  const C = v2StoredLength(P, L);
  const R = L + V2_REGION_OVERHEAD;
  const [from, to] = wanted(P, o, count);
  if (from >= to) {
    // Every read authenticates (security: empty reads): nothing stored → nothing to fetch; otherwise exactly
    // one whole region is fetched and verified (the one at the offset, else the last), and nothing is kept.
    expect(plan.empty).toBe(C === 0);
    if (C === 0) return;
    const lastIndex = P === 0 ? 0 : Math.floor((P - 1) / L);
    const index = Math.min(Math.floor(o / L), lastIndex);
    expect(plan.firstRegionIndex).toBe(index);
    expect(plan.storedOffset).toBe(index * R);
    expect(plan.storedOffset).toBeLessThan(C);
    const end = plan.storedCount === undefined ? C : plan.storedOffset + plan.storedCount;
    expect(end).toBe(Math.min(index * R + R, C));
    expect(plan.take).toBe(0);
    return;
  }
  expect(plan.empty).toBe(false);
  // Brute force: walk the stored layout region by region and keep the regions overlapping [from, to).
  let first = -1;
  let last = -1;
  let firstStored = -1;
  let lastStoredEnd = -1;
  for (let i = 0, plainPos = 0, storedPos = 0; plainPos < P; i++) {
    const n = Math.min(L, P - plainPos);
    if (plainPos < to && plainPos + n > from) {
      if (first < 0) [first, firstStored] = [i, storedPos];
      [last, lastStoredEnd] = [i, storedPos + n + V2_REGION_OVERHEAD];
    }
    plainPos += n;
    storedPos += n + V2_REGION_OVERHEAD;
  }
  expect(plan.firstRegionIndex).toBe(first);
  expect(plan.storedOffset).toBe(firstStored);
  expect(plan.storedOffset).toBeLessThan(C); // never a request starting at or past the stored length
  const fetchEnd = plan.storedCount === undefined ? C : plan.storedOffset + plan.storedCount;
  expect(fetchEnd).toBe(lastStoredEnd); // whole regions, nothing more
  expect(last).toBeGreaterThanOrEqual(first);
  expect(firstStored % R).toBe(0);
  expect(fetchEnd).toBeLessThanOrEqual(C);
  expect(first * L + plan.skip).toBe(from);
  expect(plan.take).toBe(to - from);
}

function checkV1Plan(plan: RangePlan, P: number, padded: boolean, o: number, count: number | undefined): void {
  const C = v1StoredLength(P, padded);
  const [from, to] = wanted(P, o, count);
  if (plan.empty) {
    // Nothing fetched only when nothing could be checked: an empty or unpadded body.
    expect(from >= to).toBe(true);
    expect(C === 0 || !padded).toBe(true);
    return;
  }
  if (plan.take === 0) {
    // No plaintext wanted from a padded body: its last block (with the previous as IV) is still decrypted.
    expect(padded).toBe(true);
    expect(from >= to).toBe(true);
    expect(plan.storedOffset).toBe(Math.max(0, C - 2 * CBC_BLOCK));
    expect(plan.storedCount).toBe(C - plan.storedOffset);
    expect(plan.ivFromStream).toBe(plan.storedOffset > 0); // block 0 uses the metadata IV
    expect(plan.includesLastBlock).toBe(true);
    return;
  }
  expect(plan.storedOffset % CBC_BLOCK).toBe(0);
  expect(plan.storedOffset).toBeLessThan(C);
  const fetchEnd = plan.storedCount === undefined ? C : plan.storedOffset + plan.storedCount;
  expect(fetchEnd % CBC_BLOCK).toBe(0);
  expect(fetchEnd).toBeLessThanOrEqual(C);
  const decryptedStart = plan.storedOffset + (plan.ivFromStream ? CBC_BLOCK : 0);
  expect(plan.ivFromStream).toBe(o >= CBC_BLOCK); // from block 1 on, the previous ciphertext block is the IV
  expect(decryptedStart + plan.skip).toBe(o);
  expect(decryptedStart).toBeLessThanOrEqual(o);
  expect(o - decryptedStart).toBeLessThan(CBC_BLOCK); // at most one block fetched in front
  // Covers what is needed; reaches the last block exactly when it must unpad there.
  if (from < to) expect(fetchEnd).toBeGreaterThanOrEqual(Math.min(C, Math.ceil(to / CBC_BLOCK) * CBC_BLOCK));
  expect(plan.includesLastBlock).toBe(fetchEnd === C);
}

describe("range planning against a brute-force model (spec §6)", () => {
  it("v2/2.1: fetch exactly the whole regions holding the range, start < stored length, skip/take give the slice", () => {
    fc.assert(
      fc.property(
        regionSize.chain((L) => fc.tuple(fc.constant(L), fc.oneof(fc.integer({ min: 0, max: 5 * L + 3 }), fc.integer({ min: 0, max: 2000 * L })))),
        fc.nat(),
        ([L, P], seed) => {
          const r = fc.sample(rangeArb(P), { numRuns: 1, seed })[0]!;
          checkV2Plan(planV2Range(r, L, v2StoredLength(P, L)), P, L, r.offset, r.count);
          checkV2Plan(planRange(v2data(L), r, v2StoredLength(P, L)), P, L, r.offset, r.count);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("v1: whole CBC blocks, the previous block as IV after block 0, unpad only when the fetch reaches the end", () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 64 * MiB })), fc.boolean(), fc.nat(), (P0, padded, seed) => {
        const P = padded ? P0 : P0 - (P0 % 512); // page blobs are 512-aligned
        const r = fc.sample(rangeArb(P), { numRuns: 1, seed })[0]!;
        checkV1Plan(planV1Range(r, v1StoredLength(P, padded), padded), P, padded, r.offset, r.count);
      }),
      { numRuns: 3000 },
    );
  });

  it("ranges decrypt to the exact plaintext slice with real crypto (v2 small regions and v1, random chunking)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 600 }),
        fc.integer({ min: 16, max: 70 }),
        fc.nat(),
        fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 5 }),
        async (P, L, seed, chunks) => {
          const plain = patternBytes(P, P + 1);
          const r = fc.sample(rangeArb(P), { numRuns: 1, seed })[0]!;
          const [from, to] = wanted(P, r.offset, r.count);
          for (const data of [v2data(L), v1data]) {
            const stored = await collectBytes(data.protocol === "1.0" ? encryptCbc([plain], cek, iv) : encryptGcmRegions([plain], cek, L));
            const plan = planRange(data, r, stored.length);
            const fetched = plan.empty ? Buffer.alloc(0) : stored.subarray(plan.storedOffset, plan.storedCount === undefined ? undefined : plan.storedOffset + plan.storedCount);
            const out = plan.empty ? Buffer.alloc(0) : await collectBytes(decryptPlanned(data, cek, plan, chunked(fetched, chunks)));
            expect(out.equals(plain.subarray(from, to))).toBe(true);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

/** The sizes the format is most likely to get wrong for a region size L. */
const edgeSizes = (L: number) => [...new Set([0, 1, 15, 16, 17, L - 1, L, L + 1, 2 * L - 1, 2 * L, 2 * L + 1, 3 * L + 17])].filter((n) => n >= 0);

describe("round trips at region and block edges with arbitrary source chunking (short reads)", () => {
  it("2.x: output is identical whatever the chunking, and decrypts (also re-chunked) to the input", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 16, max: 200 }).chain((L) => fc.tuple(fc.constant(L), fc.constantFrom(...edgeSizes(L)))),
        fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 8 }),
        async ([L, P], encChunks, decChunks) => {
          const plain = patternBytes(P, L);
          const reference = await collectBytes(encryptGcmRegions([plain], cek, L));
          expect(reference.length).toBe(v2StoredLength(P, L));
          const stored = await collectBytes(encryptGcmRegions(chunked(plain, encChunks), cek, L));
          expect(stored.equals(reference)).toBe(true);
          const out = await collectBytes(decryptGcmRegions(chunked(stored, decChunks), cek, L));
          expect(out.equals(plain)).toBe(true);
        },
      ),
      { numRuns: 400 },
    );
  });

  it("2.x with empty chunks and Uint8Array (non-Buffer) chunks in the source", async () => {
    const L = 32;
    const plain = patternBytes(100, 5);
    const src = [new Uint8Array(0), new Uint8Array(plain.subarray(0, 40)), new Uint8Array(0), new Uint8Array(plain.subarray(40))];
    const stored = await collectBytes(encryptGcmRegions(src, cek, L));
    expect(stored.equals(await collectBytes(encryptGcmRegions([plain], cek, L)))).toBe(true);
    expect((await collectBytes(decryptGcmRegions([new Uint8Array(stored)], cek, L))).equals(plain)).toBe(true);
  });

  it("2.0 with 4 MiB regions at the real edges (0, 1, L−1, L, L+1, 2L+17), chunked in 64 KiB and odd pieces", async () => {
    const L = 4 * MiB;
    for (const P of [0, 1, L - 1, L, L + 1, 2 * L + 17]) {
      const plain = patternBytes(P, 77);
      const a = await collectBytes(encryptGcmRegions(chunked(plain, [65536]), cek, L));
      const b = await collectBytes(encryptGcmRegions(chunked(plain, [1_000_003, 17, 3 * MiB]), cek, L));
      expect(a.length).toBe(v2StoredLength(P, L));
      expect(a.equals(b)).toBe(true);
      expect((await collectBytes(decryptGcmRegions(chunked(a, [777_777, 5]), cek, L))).equals(plain)).toBe(true);
    }
  });

  it("1.0: CBC output is identical whatever the chunking and decrypts back, at block edges", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(0, 1, 15, 16, 17, 31, 32, 33, 255, 256, 257, 1000),
        fc.array(fc.integer({ min: 1, max: 70 }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 70 }), { minLength: 1, maxLength: 6 }),
        async (P, encChunks, decChunks) => {
          const plain = patternBytes(P, 3);
          const reference = await collectBytes(encryptCbc([plain], cek, iv));
          expect(reference.length).toBe(v1StoredLength(P));
          expect((await collectBytes(encryptCbc(chunked(plain, encChunks), cek, iv))).equals(reference)).toBe(true);
          expect((await collectBytes(decryptCbc(chunked(reference, decChunks), cek, iv, { unpad: true }))).equals(plain)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});
