// Size and range arithmetic for every protocol (spec blob-format §5, §6). Pure functions.
import { decryptionFailed, invalidArgument } from "../errors.js";
import { MAX_REGION_SIZE, MIN_REGION_SIZE, V2_NONCE_LENGTH, V2_TAG_LENGTH, type EncryptionData } from "../schema/encryption-data.js";

/** Bytes added to every GCM region: 12-byte nonce + 16-byte tag. */
export const V2_REGION_OVERHEAD = V2_NONCE_LENGTH + V2_TAG_LENGTH;
export const CBC_BLOCK = 16;

function checkLength(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw invalidArgument(`${what} must be a non-negative safe integer.`);
}

/** A 2.x region size must be an integer from 16 B to 1 GiB (anything else would loop, divide by zero or mis-plan). */
export function checkRegionSize(regionSize: number): void {
  if (!Number.isSafeInteger(regionSize) || regionSize < MIN_REGION_SIZE || regionSize > MAX_REGION_SIZE) {
    throw invalidArgument(`regionSize must be an integer from ${MIN_REGION_SIZE} to ${MAX_REGION_SIZE} bytes.`);
  }
}

/** Stored (ciphertext) length of a 2.x body of `plaintextLength` bytes with regions of `regionSize`. */
export function v2StoredLength(plaintextLength: number, regionSize: number): number {
  checkLength(plaintextLength, "plaintextLength");
  checkRegionSize(regionSize);
  return plaintextLength + Math.ceil(plaintextLength / regionSize) * V2_REGION_OVERHEAD;
}

/**
 * Plaintext length of a 2.x body of `storedLength` bytes; undefined when no plaintext length maps to
 * that stored length (a truncated or corrupt body). A single 28-byte empty region means 0.
 */
export function v2PlaintextLength(storedLength: number, regionSize: number): number | undefined {
  checkLength(storedLength, "storedLength");
  checkRegionSize(regionSize);
  if (storedLength === V2_REGION_OVERHEAD) return 0;
  const p = storedLength - Math.ceil(storedLength / (regionSize + V2_REGION_OVERHEAD)) * V2_REGION_OVERHEAD;
  return p >= 0 && v2StoredLength(p, regionSize) === storedLength ? p : undefined;
}

/** Stored length of a 1.0 body (PKCS#7 always adds 1..16 bytes; legacy page blobs add none). */
export function v1StoredLength(plaintextLength: number, padded = true): number {
  checkLength(plaintextLength, "plaintextLength");
  if (!padded) return plaintextLength;
  return plaintextLength + CBC_BLOCK - (plaintextLength % CBC_BLOCK);
}

/** Stored length for any protocol. */
export function storedLength(data: Pick<EncryptionData, "protocol"> & { encryptedRegionInfo?: { dataLength: number } }, plaintextLength: number): number {
  if (data.protocol === "1.0") return v1StoredLength(plaintextLength);
  return v2StoredLength(plaintextLength, data.encryptedRegionInfo?.dataLength ?? 4194304);
}

/** A plaintext range request: `count` undefined means "to the end". */
export interface PlaintextRange {
  offset: number;
  count?: number;
}

/** What to fetch for a plaintext range, and what to keep of the decrypted output. */
export interface RangePlan {
  /**
   * True only when there is no stored byte to fetch at all (a 0-byte 2.x body, an empty unpadded 1.0 page
   * blob): the result is empty. The content key must still be unwrapped before answering (every read
   * authenticates its key). A request for no plaintext from a non-empty body is NOT empty: it fetches one
   * region (2.x) or the last CBC blocks (1.0) with `take` 0, so that stored data is verified before success.
   */
  empty: boolean;
  /** First stored byte to fetch. */
  storedOffset: number;
  /** Number of stored bytes to fetch; undefined = to the end of the blob. */
  storedCount: number | undefined;
  /** Plaintext bytes to drop from the start of the decrypted output. */
  skip: number;
  /** Plaintext bytes to keep after `skip`; undefined = everything that remains; 0 = verify only. */
  take: number | undefined;
  /** 2.x: index of the first fetched region (drives nonce-order checking). */
  firstRegionIndex: number;
  /** 1.0: the first 16 fetched bytes are the IV of the rest (not the metadata IV). */
  ivFromStream: boolean;
  /** 1.0: the fetch reaches the last byte of the blob, so PKCS#7 padding must be removed. */
  includesLastBlock: boolean;
}

function checkRange(range: PlaintextRange): void {
  checkLength(range.offset, "offset");
  if (range.count !== undefined) checkLength(range.count, "count");
}

/**
 * Plans a 2.x range read. `storedLength` is the blob's service length (C); offsets at or past the
 * plaintext end give an empty plan, so a request never starts at or beyond C.
 */
export function planV2Range(range: PlaintextRange, regionSize: number, storedLen: number): RangePlan {
  checkRange(range);
  const plain = v2PlaintextLength(storedLen, regionSize);
  // No plaintext length maps to this stored length: the body was truncated or extended.
  if (plain === undefined) throw decryptionFailed();
  const R = regionSize + V2_REGION_OVERHEAD;
  const end = range.count === undefined ? plain : Math.min(plain, range.offset + range.count);
  const base = { ivFromStream: false, includesLastBlock: false };
  if (storedLen === 0) {
    return { ...base, empty: true, storedOffset: 0, storedCount: 0, skip: 0, take: 0, firstRegionIndex: 0 };
  }
  if (range.offset >= end) {
    // No plaintext wanted (zero-length range, or past the end), but the body holds regions: verify one
    // (the one at the offset, else the last; a lone 28-byte region when the plaintext is empty).
    const lastIndex = plain === 0 ? 0 : Math.floor((plain - 1) / regionSize);
    const index = Math.min(Math.floor(range.offset / regionSize), lastIndex);
    const storedOffset = index * R;
    return { ...base, empty: false, storedOffset, storedCount: Math.min(storedOffset + R, storedLen) - storedOffset, skip: 0, take: 0, firstRegionIndex: index };
  }
  const firstRegion = Math.floor(range.offset / regionSize);
  const storedOffset = firstRegion * R;
  const skip = range.offset - firstRegion * regionSize;
  const lastRegion = Math.floor((end - 1) / regionSize);
  const storedEnd = Math.min((lastRegion + 1) * R, storedLen);
  return { ...base, empty: false, storedOffset, storedCount: storedEnd - storedOffset, skip, take: end - range.offset, firstRegionIndex: firstRegion };
}

/**
 * Plans a 1.0 range read: whole CBC blocks, plus the previous block as IV when the range does not start
 * in the first block. `padded` is false for legacy unpadded page blobs.
 */
export function planV1Range(range: PlaintextRange, storedLen: number, padded = true): RangePlan {
  checkRange(range);
  checkLength(storedLen, "storedLength");
  // Stored data, not a caller value: a 1.0 body is whole CBC blocks, and a padded one has at least one.
  if (storedLen % CBC_BLOCK !== 0 || (padded && storedLen === 0)) throw decryptionFailed();
  const maxPlain = padded ? storedLen - 1 : storedLen; // upper bound: at least one pad byte when padded
  if (storedLen === 0) {
    return { empty: true, storedOffset: 0, storedCount: 0, skip: 0, take: 0, firstRegionIndex: 0, ivFromStream: false, includesLastBlock: false };
  }
  if (range.count === 0 || range.offset >= maxPlain) {
    if (!padded) {
      // Unpadded legacy page blobs carry nothing that could be checked: nothing to fetch.
      return { empty: true, storedOffset: 0, storedCount: 0, skip: 0, take: 0, firstRegionIndex: 0, ivFromStream: false, includesLastBlock: false };
    }
    // No plaintext wanted: still decrypt the last block (its padding is the only check 1.0 has).
    const start = storedLen >= 2 * CBC_BLOCK ? storedLen - 2 * CBC_BLOCK : 0;
    return { empty: false, storedOffset: start, storedCount: storedLen - start, skip: 0, take: 0, firstRegionIndex: 0, ivFromStream: start > 0, includesLastBlock: true };
  }
  let start = range.offset - (range.offset % CBC_BLOCK);
  const ivFromStream = start >= CBC_BLOCK;
  if (ivFromStream) start -= CBC_BLOCK;
  const lastPlain = range.count === undefined ? storedLen - 1 : Math.min(range.offset + range.count - 1, storedLen - 1);
  const end = Math.min(lastPlain + (CBC_BLOCK - 1 - (lastPlain % CBC_BLOCK)), storedLen - 1);
  const includesLastBlock = end === storedLen - 1;
  const decryptedStart = ivFromStream ? start + CBC_BLOCK : start;
  return {
    empty: false,
    storedOffset: start,
    storedCount: end - start + 1,
    skip: range.offset - decryptedStart,
    take: range.count,
    firstRegionIndex: 0,
    ivFromStream,
    includesLastBlock,
  };
}

/** Plans a range for any protocol. */
export function planRange(data: EncryptionData, range: PlaintextRange, storedLen: number, options: { padded?: boolean } = {}): RangePlan {
  return data.protocol === "1.0"
    ? planV1Range(range, storedLen, options.padded ?? true)
    : planV2Range(range, data.encryptedRegionInfo.dataLength, storedLen);
}
