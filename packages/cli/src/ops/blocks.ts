// Block size for re-encrypted blobs: chosen from the blob's size so the service's 50,000-block limit is
// never reached (4 MiB blocks stop at ~195 GiB; larger blobs get larger blocks, up to 4000 MiB blocks,
// i.e. ~190.7 TiB, the service's maximum block blob size).
import { ClientSideEncryptionError, v2StoredLength } from "@azure-cse/core-envelope";

const MiB = 1024 * 1024;
/** Service limits for block blobs (x-ms-version 2019-12-12 and later). */
export const MAX_BLOCKS_PER_BLOB = 50_000;
export const MAX_BLOCK_SIZE = 4000 * MiB;
export const DEFAULT_MIN_BLOCK_SIZE = 4 * MiB;

export interface BlockSizeOptions {
  /** Smallest block (memory per block in flight); default 4 MiB. */
  minBlockSize?: number;
  /** Block limit to respect; default 50,000 (tests lower it to exercise the rule on small blobs). */
  maxBlocks?: number;
}

/**
 * Block size for uploading `storedLength` bytes: at least `minBlockSize`, large enough that the blob needs
 * at most `maxBlocks` blocks (one block of slack for rounding), rounded up to whole MiB once above 1 MiB.
 */
export function chooseBlockSize(storedLength: number, options: BlockSizeOptions = {}): number {
  const min = options.minBlockSize ?? DEFAULT_MIN_BLOCK_SIZE;
  const maxBlocks = options.maxBlocks ?? MAX_BLOCKS_PER_BLOB;
  if (!Number.isSafeInteger(storedLength) || storedLength < 0) {
    throw new ClientSideEncryptionError("INVALID_ARGUMENT", "storedLength must be a non-negative integer.");
  }
  let size = Math.max(min, Math.ceil(storedLength / Math.max(1, maxBlocks - 1)));
  if (size > MiB) size = Math.ceil(size / MiB) * MiB;
  if (size > MAX_BLOCK_SIZE) {
    throw new ClientSideEncryptionError("PAYLOAD_TOO_LARGE", `A blob of ${storedLength} stored bytes exceeds the block blob limit (${maxBlocks} blocks of ${MAX_BLOCK_SIZE} bytes).`);
  }
  return size;
}

/**
 * Upper bound of the stored size after re-encrypting as 2.x with `regionSize`: the plaintext is at most the
 * old stored size (1.0 adds 1–16 bytes of padding; 2.x its exact plaintext length is used when known).
 */
export function reencryptedStoredUpperBound(oldStoredLength: number, oldPlaintextLength: number | undefined, regionSize: number): number {
  return v2StoredLength(oldPlaintextLength ?? oldStoredLength, regionSize);
}
