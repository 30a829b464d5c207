// Streaming content ciphers over async iterables of bytes. Memory stays bounded: encryption keeps
// nothing but the current cipher state; 2.x decryption holds one region's plaintext until its tag
// has been verified; 1.0 decryption holds at most one CBC block.
import { cbcDecryptor, cbcEncryptor, gcmDecryptor, gcmEncryptor, type GcmDecryptor } from "../internal/crypto.js";
import { decryptionFailed, invalidArgument } from "../errors.js";
import { V2_NONCE_LENGTH, V2_TAG_LENGTH } from "../schema/encryption-data.js";
import { RegionOrderValidator, regionNonce, WRITE_NONCE_SCHEME, type NonceScheme } from "./nonce.js";
import { V2_REGION_OVERHEAD } from "./sizes.js";

export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function checkCek(cek: Uint8Array): void {
  if (cek.length !== 32) throw invalidArgument("A content-encryption key must be 32 bytes.");
}

export interface GcmEncryptOptions {
  /** Index of the first region produced (non-zero only when encrypting a later part of a body). */
  firstRegionIndex?: number;
  /** Nonce scheme; default this library's (Python's big-endian region index). */
  nonceScheme?: NonceScheme;
}

/**
 * Protocol 2.x: encrypts `source` into `nonce(12) ‖ ciphertext ‖ tag(16)` regions of exactly
 * `regionSize` plaintext bytes (the last may be shorter), whatever sizes the source yields.
 * Empty input gives no output at all.
 */
export async function* encryptGcmRegions(source: ByteSource, cek: Uint8Array, regionSize: number, options: GcmEncryptOptions = {}): AsyncGenerator<Buffer> {
  checkCek(cek);
  const scheme = options.nonceScheme ?? WRITE_NONCE_SCHEME;
  let index = options.firstRegionIndex ?? 0;
  let cipher: ReturnType<typeof gcmEncryptor> | undefined;
  let inRegion = 0;
  for await (const raw of source) {
    const chunk = asBuffer(raw);
    let pos = 0;
    while (pos < chunk.length) {
      if (!cipher) {
        const nonce = regionNonce(scheme, index);
        cipher = gcmEncryptor(cek, nonce);
        yield nonce;
      }
      const n = Math.min(chunk.length - pos, regionSize - inRegion);
      const out = cipher.update(chunk.subarray(pos, pos + n));
      if (out.length) yield out;
      pos += n;
      inRegion += n;
      if (inRegion === regionSize) {
        const fin = cipher.final();
        if (fin.length) yield fin;
        yield cipher.getAuthTag();
        cipher = undefined;
        inRegion = 0;
        index++;
      }
    }
  }
  if (cipher) {
    const fin = cipher.final();
    if (fin.length) yield fin;
    yield cipher.getAuthTag();
  }
}

export interface GcmDecryptOptions {
  /** Region index of the first stored byte of `source` (ranged reads). */
  firstRegionIndex?: number;
  /** Check that region nonces follow one of the SDK schemes in sequence; default true. */
  checkRegionOrder?: boolean;
}

/**
 * Protocol 2.x: decrypts a sequence of whole regions. A region's plaintext is released only after
 * its tag verified; any failure throws DECRYPTION_FAILED (or REGION_OUT_OF_ORDER) and releases nothing
 * more. A lone 28-byte empty region at the start of a body is accepted (Java may write one).
 */
export async function* decryptGcmRegions(source: ByteSource, cek: Uint8Array, regionSize: number, options: GcmDecryptOptions = {}): AsyncGenerator<Buffer> {
  checkCek(cek);
  const R = regionSize + V2_REGION_OVERHEAD;
  const first = options.firstRegionIndex ?? 0;
  const order = new RegionOrderValidator(first, options.checkRegionOrder ?? true);
  let regionsDone = 0;
  let got = 0; // bytes of the current region consumed
  let nonce = Buffer.alloc(0);
  let decipher: GcmDecryptor | undefined;
  let hold = Buffer.alloc(0); // last bytes seen, possibly the tag
  let plain: Buffer[] = [];

  const feedBody = (piece: Buffer): void => {
    if (!decipher) return;
    if (piece.length >= V2_TAG_LENGTH) {
      if (hold.length) plain.push(decipher.update(hold));
      const cut = piece.length - V2_TAG_LENGTH;
      if (cut) plain.push(decipher.update(piece.subarray(0, cut)));
      hold = Buffer.from(piece.subarray(cut));
    } else {
      const combined = Buffer.concat([hold, piece]);
      const cut = combined.length - V2_TAG_LENGTH;
      if (cut > 0) {
        plain.push(decipher.update(combined.subarray(0, cut)));
        hold = combined.subarray(cut);
      } else {
        hold = combined;
      }
    }
  };

  const finishRegion = (): Buffer[] => {
    if (!decipher || hold.length !== V2_TAG_LENGTH) throw decryptionFailed();
    const bodyLength = got - V2_REGION_OVERHEAD;
    if (bodyLength === 0 && !(first === 0 && regionsDone === 0)) throw decryptionFailed();
    try {
      decipher.setAuthTag(hold);
      const fin = decipher.final();
      if (fin.length) plain.push(fin);
    } catch {
      throw decryptionFailed();
    }
    const out = plain;
    plain = [];
    decipher = undefined;
    nonce = Buffer.alloc(0);
    hold = Buffer.alloc(0);
    got = 0;
    regionsDone++;
    return out;
  };

  for await (const raw of source) {
    const chunk = asBuffer(raw);
    let pos = 0;
    while (pos < chunk.length) {
      let n = Math.min(chunk.length - pos, R - got);
      if (got < V2_NONCE_LENGTH) {
        const k = Math.min(n, V2_NONCE_LENGTH - got);
        nonce = Buffer.concat([nonce, chunk.subarray(pos, pos + k)]);
        pos += k;
        got += k;
        n -= k;
        if (got === V2_NONCE_LENGTH) {
          order.check(nonce);
          decipher = gcmDecryptor(cek, nonce);
        }
      }
      if (n > 0) {
        feedBody(chunk.subarray(pos, pos + n));
        pos += n;
        got += n;
      }
      if (got === R) yield* finishRegion();
    }
  }
  if (got > 0) {
    if (got < V2_REGION_OVERHEAD) throw decryptionFailed(); // truncated region
    yield* finishRegion();
  }
}

/** Protocol 1.0: AES-256-CBC with PKCS#7 padding. Writing 1.0 is deprecated (CVE-2022-30187). */
export async function* encryptCbc(source: ByteSource, cek: Uint8Array, iv: Uint8Array, options: { pad?: boolean } = {}): AsyncGenerator<Buffer> {
  checkCek(cek);
  if (iv.length !== 16) throw invalidArgument("A CBC IV must be 16 bytes.");
  const c = cbcEncryptor(cek, iv);
  c.setAutoPadding(options.pad ?? true);
  for await (const raw of source) {
    const out = c.update(asBuffer(raw));
    if (out.length) yield out;
  }
  let fin: Buffer;
  try {
    fin = c.final();
  } catch {
    throw invalidArgument("Unpadded CBC input must be a multiple of 16 bytes.");
  }
  if (fin.length) yield fin;
}

export interface CbcDecryptOptions {
  /** Remove PKCS#7 padding (only when the input ends at the end of a padded body). */
  unpad: boolean;
  /** The first 16 bytes of `source` are the IV (ranged reads that start after block 0). */
  ivFromStream?: boolean;
}

/** Protocol 1.0 decryption, whole or ranged. Every failure is DECRYPTION_FAILED. */
export async function* decryptCbc(source: ByteSource, cek: Uint8Array, iv: Uint8Array | undefined, options: CbcDecryptOptions): AsyncGenerator<Buffer> {
  checkCek(cek);
  let d: ReturnType<typeof cbcDecryptor> | undefined;
  let ivBuf = Buffer.alloc(0);
  if (!options.ivFromStream) {
    if (!iv || iv.length !== 16) throw invalidArgument("A CBC IV must be 16 bytes.");
    d = cbcDecryptor(cek, iv, options.unpad);
  }
  for await (const raw of source) {
    let chunk = asBuffer(raw);
    if (!d) {
      const k = Math.min(16 - ivBuf.length, chunk.length);
      ivBuf = Buffer.concat([ivBuf, chunk.subarray(0, k)]);
      chunk = chunk.subarray(k);
      if (ivBuf.length < 16) continue;
      d = cbcDecryptor(cek, ivBuf, options.unpad);
    }
    if (chunk.length) {
      const out = d.update(chunk);
      if (out.length) yield out;
    }
  }
  if (!d) throw decryptionFailed();
  let fin: Buffer;
  try {
    fin = d.final();
  } catch {
    throw decryptionFailed();
  }
  if (fin.length) yield fin;
}

/** Drops `skip` bytes, then passes at most `take` bytes (all when undefined). Stops reading once done. */
export async function* sliceBytes(source: ByteSource, skip: number, take: number | undefined): AsyncGenerator<Buffer> {
  let toSkip = skip;
  let left = take ?? Number.POSITIVE_INFINITY;
  if (left <= 0) return;
  for await (const raw of source) {
    let chunk = asBuffer(raw);
    if (toSkip > 0) {
      const k = Math.min(toSkip, chunk.length);
      chunk = chunk.subarray(k);
      toSkip -= k;
    }
    if (!chunk.length) continue;
    if (chunk.length >= left) {
      yield chunk.subarray(0, left);
      return;
    }
    left -= chunk.length;
    yield chunk;
  }
}

/** Collects a byte stream into one Buffer. */
export async function collectBytes(source: ByteSource): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of source) parts.push(asBuffer(c));
  return Buffer.concat(parts);
}
