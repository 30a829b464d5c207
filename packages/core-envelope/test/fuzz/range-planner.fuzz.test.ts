// Fuzzing the range planner (spec blob-format §5, §6): arbitrary numbers (negative, NaN, infinite,
// fractional, beyond 2^53) give either a valid plan or INVALID_ARGUMENT / DECRYPTION_FAILED; valid
// plans fetch whole regions/blocks covering exactly the request, and decrypt to exactly the request.
import { createCipheriv, randomBytes } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  collectBytes,
  decryptPlanned,
  planRange,
  planV1Range,
  planV2Range,
  v2StoredLength,
  type EncryptionData,
  type PlaintextRange,
  type RangePlan,
} from "@azure-cse/core-envelope";
import { asyncChunks, budget, chunked, expectTypedOutcome, timeoutFor, withinBounds } from "./support.js";

const BOUND = { maxMs: 1000, maxHeapGrowthBytes: 8 * 1024 * 1024 };
const PLAN_CODES = ["INVALID_ARGUMENT", "DECRYPTION_FAILED"] as const;
const MiB = 1024 * 1024;

const weirdNumber = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 0.5, 15.999, 2 ** 53, 2 ** 53 - 1, 2 ** 53 + 2, -1, -16, 1e300, Number.MAX_VALUE, Number.EPSILON, 2 ** 31, 2 ** 32 + 16),
);
const smallNat = fc.integer({ min: 0, max: 5000 });
const bigNat = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const someNumber = fc.oneof({ weight: 3, arbitrary: smallNat }, { weight: 1, arbitrary: bigNat }, { weight: 2, arbitrary: weirdNumber });
const regionSizeArb = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 16, max: 64 }) }, { weight: 1, arbitrary: fc.constantFrom(16, 4 * MiB, 1024 * MiB) }, { weight: 2, arbitrary: weirdNumber });
const rangeArb: fc.Arbitrary<PlaintextRange> = fc.record({ offset: someNumber, count: fc.option(someNumber, { nil: undefined }) });

const isLength = (n: number) => Number.isSafeInteger(n) && n >= 0;
const isRegionSize = (n: number) => Number.isSafeInteger(n) && n >= 16 && n <= 1024 * MiB;

/** Plaintext length that a 2.x stored length encodes, by an independent search (regions counted, not solved). */
function v2Plain(stored: number, rs: number): number | undefined {
  if (stored === 28) return 0;
  const R = rs + 28;
  const full = Math.floor(stored / R);
  const rest = stored - full * R;
  if (rest === 0) return full * rs;
  if (rest <= 28) return undefined; // a trailing region needs at least one plaintext byte (only a lone empty region may be 28)
  return full * rs + rest - 28;
}

/** Numeric equality where -0 equals 0 (a -0 offset is a valid 0). */
function same(actual: number | boolean | undefined, expected: number | boolean | undefined, what: string): void {
  expect(actual === expected, `${what}: ${String(actual)} !== ${String(expected)}`).toBe(true);
}

function expectSafe(plan: RangePlan): void {
  for (const k of ["storedOffset", "skip", "firstRegionIndex"] as const) expect(isLength(plan[k]), k).toBe(true);
  if (plan.storedCount !== undefined) expect(isLength(plan.storedCount)).toBe(true);
  if (plan.take !== undefined) expect(isLength(plan.take)).toBe(true);
}

function checkV2Plan(plan: RangePlan, range: PlaintextRange, rs: number, stored: number, plain: number): void {
  expectSafe(plan);
  const R = rs + 28;
  const end = range.count === undefined ? plain : Math.min(plain, range.offset + range.count);
  // Only a 0-byte body fetches nothing; a request for no plaintext still fetches one region to verify.
  same(plan.empty, stored === 0, "plan.empty");
  if (plan.empty) return;
  if (range.offset >= end) {
    same(plan.take, 0, "plan.take (verify only)");
    same(plan.skip, 0, "plan.skip (verify only)");
    same(plan.storedOffset % R, 0, "witness region start");
    same(plan.firstRegionIndex, plan.storedOffset / R, "plan.firstRegionIndex");
    const sc0 = plan.storedCount!;
    expect(sc0 === R || plan.storedOffset + sc0 === stored).toBe(true); // exactly one whole region
    expect(plan.storedOffset + sc0).toBeLessThanOrEqual(stored);
    return;
  }
  const sc = plan.storedCount!;
  same(plan.storedOffset % R, 0, "plan.storedOffset % R");
  same(plan.firstRegionIndex, plan.storedOffset / R, "plan.firstRegionIndex");
  expect(sc).toBeGreaterThan(0);
  expect(plan.storedOffset + sc).toBeLessThanOrEqual(stored);
  expect((plan.storedOffset + sc) % R === 0 || plan.storedOffset + sc === stored).toBe(true);
  same(plan.skip, range.offset - plan.firstRegionIndex * rs, "plan.skip");
  expect(plan.skip).toBeLessThan(rs);
  same(plan.take, end - range.offset, "plan.take");
  // Covers the request and fetches no region past its end.
  const regions = Math.ceil(sc / R);
  const plainFetched = Math.min(plain, (plan.firstRegionIndex + regions) * rs) - plan.firstRegionIndex * rs;
  expect(plan.skip + plan.take!).toBeLessThanOrEqual(plainFetched);
  expect(plan.firstRegionIndex + regions).toBe(Math.ceil(end / rs));
  expect(plan.ivFromStream || plan.includesLastBlock).toBe(false);
}

function checkV1Plan(plan: RangePlan, range: PlaintextRange, stored: number, padded: boolean): void {
  expectSafe(plan);
  const maxPlain = padded ? stored - 1 : stored;
  const nothingWanted = range.count === 0 || range.offset >= maxPlain || stored === 0;
  // Fetch nothing only when nothing can be checked (empty or unpadded body); else the last block is decrypted.
  same(plan.empty, stored === 0 || (!padded && nothingWanted), "plan.empty");
  if (plan.empty) return;
  if (nothingWanted) {
    same(plan.take, 0, "plan.take (verify only)");
    same(plan.includesLastBlock, true, "plan.includesLastBlock (verify only)");
    same(plan.storedOffset, Math.max(0, stored - 32), "plan.storedOffset (verify only)");
    same(plan.storedCount, stored - plan.storedOffset, "plan.storedCount (verify only)");
    return;
  }
  const sc = plan.storedCount!;
  same(plan.storedOffset % 16, 0, "plan.storedOffset % 16");
  expect(sc % 16).toBe(0);
  expect(sc).toBeGreaterThanOrEqual(plan.ivFromStream ? 32 : 16);
  expect(plan.storedOffset + sc).toBeLessThanOrEqual(stored);
  const blockStart = range.offset - (range.offset % 16);
  same(plan.ivFromStream, blockStart >= 16, "plan.ivFromStream");
  same(plan.storedOffset, plan.ivFromStream ? blockStart - 16 : 0, "plan.storedOffset");
  same(plan.skip, range.offset % 16, "plan.skip");
  same(plan.includesLastBlock, plan.storedOffset + sc === stored, "plan.includesLastBlock");
  same(plan.take, range.count, "plan.take");
  if (range.count !== undefined && !plan.includesLastBlock) {
    // The fetched blocks reach the last requested byte.
    expect(plan.storedOffset + sc - 1).toBeGreaterThanOrEqual(range.offset + range.count - 1);
  }
  same(plan.firstRegionIndex, 0, "plan.firstRegionIndex");
}

describe("fuzz: range planner (spec blob-format §5, §6)", () => {
  it(
    "planV2Range: arbitrary numbers give a valid plan, INVALID_ARGUMENT (bad argument) or DECRYPTION_FAILED (stored length no body can have)",
    () => {
      fc.assert(
        fc.property(rangeArb, regionSizeArb, fc.oneof(someNumber, fc.tuple(smallNat, fc.integer({ min: 16, max: 64 })).map(([p, rs]) => v2StoredLength(p, rs))), (range, rs, stored) => {
          const r = withinBounds(BOUND, () => expectTypedOutcome(() => planV2Range(range, rs, stored), PLAN_CODES));
          const argsOk = isLength(range.offset) && (range.count === undefined || isLength(range.count)) && isLength(stored) && isRegionSize(rs);
          if (!argsOk) {
            expect(r.ok ? "plan" : r.error.code).toBe("INVALID_ARGUMENT");
            return;
          }
          const plain = v2Plain(stored, rs);
          if (plain === undefined) {
            expect(r.ok ? "plan" : r.error.code).toBe("DECRYPTION_FAILED");
            return;
          }
          if (!r.ok) expect.fail(`valid request refused: ${r.error.code}`);
          checkV2Plan(r.value, range, rs, stored, plain);
        }),
        budget(3000),
      );
    },
    timeoutFor(3000),
  );

  it(
    "planV1Range: arbitrary numbers give a valid whole-block plan (with the previous block as IV), INVALID_ARGUMENT, or DECRYPTION_FAILED (a stored length no 1.0 body can have)",
    () => {
      fc.assert(
        fc.property(rangeArb, fc.oneof(someNumber, smallNat.map((n) => n * 16)), fc.boolean(), (range, stored, padded) => {
          const r = withinBounds(BOUND, () => expectTypedOutcome(() => planV1Range(range, stored, padded), PLAN_CODES));
          const argsOk = isLength(range.offset) && (range.count === undefined || isLength(range.count)) && isLength(stored);
          if (!argsOk) {
            expect(r.ok ? "plan" : r.error.code).toBe("INVALID_ARGUMENT");
            return;
          }
          // A stored length no 1.0 body can have is malformed stored data: a decryption failure, not a caller error.
          if (stored % 16 !== 0 || (padded && stored === 0)) {
            expect(r.ok ? "plan" : r.error.code).toBe("DECRYPTION_FAILED");
            return;
          }
          if (!r.ok) expect.fail(`valid request refused: ${r.error.code}`);
          checkV1Plan(r.value, range, stored, padded);
        }),
        budget(3000),
      );
    },
    timeoutFor(3000),
  );

  it(
    "planRange dispatches on the protocol: 1.0 → planV1Range, 2.x → planV2Range with DataLength",
    () => {
      const v1: EncryptionData = { protocol: "1.0", wrappedContentKey: { keyId: "k", encryptedKey: new Uint8Array(40), algorithm: "A256KW" }, contentEncryptionIV: new Uint8Array(16) };
      fc.assert(
        fc.property(rangeArb, fc.integer({ min: 16, max: 64 }), smallNat, fc.boolean(), (range, rs, stored, padded) => {
          const v2: EncryptionData = { protocol: "2.1", wrappedContentKey: v1.wrappedContentKey, encryptedRegionInfo: { dataLength: rs, nonceLength: 12 } };
          const a = expectTypedOutcome(() => planRange(v2, range, stored), PLAN_CODES);
          const b = expectTypedOutcome(() => planV2Range(range, rs, stored), PLAN_CODES);
          expect(a.ok ? a.value : a.error.code).toEqual(b.ok ? b.value : b.error.code);
          const c = expectTypedOutcome(() => planRange(v1, range, stored * 16, { padded }), PLAN_CODES);
          const d = expectTypedOutcome(() => planV1Range(range, stored * 16, padded), PLAN_CODES);
          expect(c.ok ? c.value : c.error.code).toEqual(d.ok ? d.value : d.error.code);
        }),
        budget(500),
      );
    },
    timeoutFor(500),
  );

  it(
    "2.x: fetching the planned stored range and decrypting it (any chunking) yields exactly plaintext[offset, offset+count)",
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 16, max: 48 }), smallNat, fc.option(smallNat, { nil: undefined }), fc.array(fc.nat(), { maxLength: 8 }), async (len, rs, offset0, count0, cuts) => {
          const plaintext = randomBytes(len);
          const cek = randomBytes(32);
          const parts: Buffer[] = [];
          for (let i = 0; i * rs < len; i++) {
            const nonce = Buffer.alloc(12);
            nonce.writeBigUInt64BE(BigInt(i), 4); // Python scheme: 12-byte big-endian region index
            const c = createCipheriv("aes-256-gcm", cek, nonce);
            parts.push(nonce, c.update(plaintext.subarray(i * rs, (i + 1) * rs)), c.final(), c.getAuthTag());
          }
          const stored = Buffer.concat(parts);
          const offset = len === 0 ? offset0 : offset0 % (len + 2);
          const count = count0 === undefined ? undefined : count0 % (len + 2);
          const data: EncryptionData = { protocol: "2.1", wrappedContentKey: { keyId: "k", encryptedKey: new Uint8Array(40), algorithm: "A256KW" }, encryptedRegionInfo: { dataLength: rs, nonceLength: 12 } };
          const plan = planRange(data, { offset, count }, stored.length);
          const want = plaintext.subarray(offset, count === undefined ? undefined : offset + count);
          if (plan.empty) {
            expect(want.length).toBe(0);
            return;
          }
          const fetched = stored.subarray(plan.storedOffset, plan.storedCount === undefined ? undefined : plan.storedOffset + plan.storedCount);
          const out = await collectBytes(decryptPlanned(data, cek, plan, asyncChunks(chunked(fetched, cuts))));
          expect(out.toString("hex")).toBe(want.toString("hex"));
        }),
        budget(400),
      );
    },
    timeoutFor(400),
  );

  it(
    "1.0: fetching the planned stored range and decrypting it (any chunking) yields exactly plaintext[offset, offset+count), padded and unpadded",
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 0, max: 300 }), fc.boolean(), smallNat, fc.option(smallNat, { nil: undefined }), fc.array(fc.nat(), { maxLength: 8 }), async (len0, padded, offset0, count0, cuts) => {
          const len = padded ? len0 : len0 - (len0 % 16); // legacy page blobs are block-aligned and unpadded
          const plaintext = randomBytes(len);
          const cek = randomBytes(32);
          const iv = randomBytes(16);
          const c = createCipheriv("aes-256-cbc", cek, iv);
          c.setAutoPadding(padded);
          const stored = Buffer.concat([c.update(plaintext), c.final()]);
          const offset = offset0 % (len + 2);
          const count = count0 === undefined ? undefined : count0 % (len + 2);
          const data: EncryptionData = { protocol: "1.0", wrappedContentKey: { keyId: "k", encryptedKey: new Uint8Array(40), algorithm: "A256KW" }, contentEncryptionIV: iv };
          const plan = planRange(data, { offset, count }, stored.length, { padded });
          const want = plaintext.subarray(offset, count === undefined ? undefined : offset + count);
          if (plan.empty) {
            expect(want.length).toBe(0);
            return;
          }
          const fetched = stored.subarray(plan.storedOffset, plan.storedOffset + plan.storedCount!);
          const out = await collectBytes(decryptPlanned(data, cek, plan, asyncChunks(chunked(fetched, cuts)), {}, padded));
          expect(out.toString("hex")).toBe(want.toString("hex"));
        }),
        budget(400),
      );
    },
    timeoutFor(400),
  );
});
