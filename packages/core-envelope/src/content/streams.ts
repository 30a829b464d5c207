// Streaming content ciphers over async iterables of bytes. Memory stays bounded: encryption keeps
// nothing but the current cipher state; 2.x decryption holds one region's plaintext until its tag
// has been verified; 1.0 decryption holds at most one CBC block.
import { cbcDecryptor, cbcEncryptor, gcmDecryptor, gcmEncryptor, type GcmDecryptor } from "../internal/crypto.js";
import { decryptionFailed, invalidArgument, sourceFailed } from "../errors.js";
import { V2_NONCE_LENGTH, V2_TAG_LENGTH } from "../schema/encryption-data.js";
import { RegionOrderValidator, regionNonce, WRITE_NONCE_SCHEME, type NonceScheme } from "./nonce.js";
import { checkRegionSize, V2_REGION_OVERHEAD } from "./sizes.js";
import { sliceChunks } from "./chunks.js";

export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

function asBuffer(b: Uint8Array): Buffer {
  if (Buffer.isBuffer(b)) return b;
  if (!(b instanceof Uint8Array)) {
    throw invalidArgument(`A byte source yielded ${b === null ? "null" : typeof b} where a Uint8Array chunk was expected (streams must yield bytes, not strings or numbers).`);
  }
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * Iterates a caller's byte source: an error thrown by the source itself becomes SOURCE_ERROR (its own
 * error as `cause`, never mistaken for a service error), a chunk that is not a Uint8Array is
 * INVALID_ARGUMENT, and anything that is not an iterable of chunks is INVALID_ARGUMENT naming `what` —
 * thrown at once, before anything is read.
 */
export function checkedByteSource(source: unknown, what: string): AsyncGenerator<Uint8Array> {
  const s = source as Partial<AsyncIterable<Uint8Array> & Iterable<Uint8Array>> | null | undefined;
  const isStringOrBytes = typeof source === "string" || source instanceof Uint8Array || source instanceof ArrayBuffer;
  const asyncIt = s !== null && s !== undefined && typeof s[Symbol.asyncIterator] === "function";
  const syncIt = s !== null && s !== undefined && typeof s[Symbol.iterator] === "function";
  if (isStringOrBytes || (!asyncIt && !syncIt)) {
    throw invalidArgument(`${what} must be a Node.js Readable, a web ReadableStream or an (async) iterable of Uint8Array chunks; for a Buffer or string use uploadData.`);
  }
  return checkedChunks(s as AsyncIterable<Uint8Array> | Iterable<Uint8Array>, asyncIt);
}

async function* checkedChunks(s: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, asyncIt: boolean): AsyncGenerator<Uint8Array> {
  let it: AsyncIterator<Uint8Array> | Iterator<Uint8Array>;
  try {
    it = asyncIt ? (s as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]() : (s as Iterable<Uint8Array>)[Symbol.iterator]();
  } catch (e) {
    throw sourceFailed(e);
  }
  let finished = false;
  try {
    for (;;) {
      let r: IteratorResult<Uint8Array>;
      try {
        r = await it.next();
      } catch (e) {
        finished = true; // a failed iterator is done
        throw sourceFailed(e);
      }
      if (r.done) {
        finished = true;
        return;
      }
      yield asBuffer(r.value);
    }
  } finally {
    if (!finished) await Promise.resolve(it.return?.()).catch(() => undefined);
  }
}

function checkCek(cek: Uint8Array): void {
  if (cek.length !== 32) throw invalidArgument("A content-encryption key must be 32 bytes.");
}

function checkRegionIndex(index: number): void {
  if (!Number.isSafeInteger(index) || index < 0) throw invalidArgument("firstRegionIndex must be a non-negative safe integer.");
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
  checkRegionSize(regionSize);
  const scheme = options.nonceScheme ?? WRITE_NONCE_SCHEME;
  let index = options.firstRegionIndex ?? 0;
  checkRegionIndex(index);
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

/**
 * Tags of the regions a repeatable 2.x body has released so far (see `encryptGcmRegionsRepeatable`):
 * what every later attempt must reproduce before it may release the same region.
 */
export class RegionTagRecord {
  readonly #tags: Buffer[] = [];
  readonly #lengths: number[] = [];

  /** Records region `index` on its first release; afterwards, whether a new encryption matches it exactly. */
  matchOrRecord(index: number, tag: Buffer, plaintextLength: number): boolean {
    const known = this.#tags[index];
    if (known === undefined) {
      this.#tags[index] = Buffer.from(tag);
      this.#lengths[index] = plaintextLength;
      return true;
    }
    return this.#lengths[index] === plaintextLength && known.equals(tag);
  }

  /** Number of regions recorded. */
  get size(): number {
    return this.#tags.length;
  }
}

/**
 * Protocol 2.x for a body that may have to be sent more than once (an SDK retry of one request), without
 * keeping its ciphertext: every attempt encrypts the source again. The region nonces are deterministic,
 * so an unchanged source gives byte-identical regions; a changed one would put different plaintext under
 * a nonce already used, so this generator releases a region only once it is complete and its tag (and
 * plaintext length) matches what `record` holds from the first release of that region — the first attempt
 * to reach a region records it. A mismatch throws INVALID_ARGUMENT before any byte of that region leaves.
 * Memory: one region of ciphertext (as pieces) per attempt.
 */
export async function* encryptGcmRegionsRepeatable(source: ByteSource, cek: Uint8Array, regionSize: number, record: RegionTagRecord): AsyncGenerator<Buffer> {
  // The one encryptor (same nonces, same bytes); this only holds each stored region back until it is verified.
  const full = regionSize + V2_REGION_OVERHEAD;
  let pieces: Buffer[] = [];
  let held = 0;
  let index = 0;
  const release = (): Buffer[] => {
    if (!record.matchOrRecord(index, lastBytes(pieces, V2_TAG_LENGTH), held - V2_REGION_OVERHEAD)) {
      throw invalidArgument("The source changed between attempts to send it (a retry would have encrypted different data under the same nonce); nothing of it was sent again.");
    }
    const out = pieces;
    pieces = [];
    held = 0;
    index++;
    return out;
  };
  for await (let piece of encryptGcmRegions(source, cek, regionSize)) {
    while (piece.length) {
      const k = Math.min(piece.length, full - held);
      pieces.push(piece.subarray(0, k));
      held += k;
      piece = piece.subarray(k);
      if (held === full) yield* release();
    }
  }
  if (held) yield* release();
}

/** The last `n` bytes of a run of pieces (a region's tag), copied. */
function lastBytes(pieces: readonly Buffer[], n: number): Buffer {
  const out = Buffer.alloc(n);
  let need = n;
  for (let i = pieces.length - 1; i >= 0 && need > 0; i--) {
    const p = pieces[i]!;
    const k = Math.min(need, p.length);
    p.copy(out, need - k, p.length - k);
    need -= k;
  }
  return out;
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
 *
 * Parsing is positional: a region is `nonce(12) ‖ body ‖ tag(16)` of `regionSize + 28` bytes, except
 * the last, whose tag is the last 16 bytes of the stream. To know which bytes are "the last 16" without
 * copying or an extra cipher call per chunk, the decryptor looks one chunk ahead: a chunk is processed
 * once the next non-empty chunk has arrived (or the stream ended). Chunks are referenced, not copied,
 * until then, so a source must not modify a chunk after yielding it (Node and web streams never do).
 */
export async function* decryptGcmRegions(source: ByteSource, cek: Uint8Array, regionSize: number, options: GcmDecryptOptions = {}): AsyncGenerator<Buffer> {
  checkCek(cek);
  checkRegionSize(regionSize);
  const R = regionSize + V2_REGION_OVERHEAD;
  const BODY_END = R - V2_TAG_LENGTH; // region offset where a full region's tag starts
  const first = options.firstRegionIndex ?? 0;
  checkRegionIndex(first);
  const order = new RegionOrderValidator(first, options.checkRegionOrder ?? true);
  let regionsDone = 0;
  let got = 0; // bytes of the current region consumed
  const nonce = Buffer.alloc(V2_NONCE_LENGTH);
  const tag = Buffer.alloc(V2_TAG_LENGTH);
  let tagGot = 0;
  let decipher: GcmDecryptor | undefined;
  let plain: Buffer[] = [];

  const finishRegion = (): Buffer[] => {
    if (!decipher || tagGot !== V2_TAG_LENGTH) throw decryptionFailed();
    if (got === V2_REGION_OVERHEAD && !(first === 0 && regionsDone === 0)) throw decryptionFailed();
    try {
      decipher.setAuthTag(tag);
      const fin = decipher.final();
      if (fin.length) plain.push(fin);
    } catch {
      throw decryptionFailed();
    }
    const out = plain;
    plain = [];
    decipher = undefined;
    got = 0;
    tagGot = 0;
    regionsDone++;
    return out;
  };

  // Plaintext of verified regions, handed out by the loop below (a plain function per chunk is cheaper
  // than a generator per chunk).
  let ready: Buffer[] = [];

  /** Consumes `chunk`. When `final`, its last 16 bytes are the last region's tag. */
  const feed = (chunk: Buffer, final: boolean): void => {
    const len = chunk.length;
    const tail = final ? len - V2_TAG_LENGTH : len;
    let pos = 0;
    while (pos < len) {
      if (got < V2_NONCE_LENGTH) {
        const k = Math.min(len - pos, V2_NONCE_LENGTH - got);
        if (pos + k > tail) throw decryptionFailed(); // a region shorter than nonce + tag
        chunk.copy(nonce, got, pos, pos + k);
        pos += k;
        got += k;
        if (got === V2_NONCE_LENGTH) {
          order.check(nonce);
          decipher = gcmDecryptor(cek, nonce);
        }
      } else if (got >= BODY_END) {
        // Tag of a full-length region.
        const k = Math.min(len - pos, R - got);
        chunk.copy(tag, tagGot, pos, pos + k);
        tagGot += k;
        pos += k;
        got += k;
        if (got === R) for (const b of finishRegion()) ready.push(b);
      } else if (pos >= tail) {
        // The stream's last 16 bytes: the tag of a shorter last region.
        chunk.copy(tag, 0, pos, len);
        tagGot = len - pos;
        got += len - pos;
        pos = len;
      } else {
        const k = Math.min(tail - pos, BODY_END - got);
        const out = decipher!.update(chunk.subarray(pos, pos + k));
        if (out.length) plain.push(out);
        pos += k;
        got += k;
      }
    }
  };

  let pending: Buffer | undefined; // the chunk not yet known to be clear of the stream's last 16 bytes
  for await (const raw of source) {
    const chunk = asBuffer(raw);
    if (chunk.length === 0) continue;
    let safe: Buffer | undefined;
    if (!pending) {
      pending = chunk;
    } else if (chunk.length >= V2_TAG_LENGTH) {
      safe = pending;
      pending = chunk;
    } else {
      // A short chunk: everything but the last 16 bytes of pending ‖ chunk is safe to process.
      const keep = pending.length - V2_TAG_LENGTH;
      if (keep > 0) safe = pending.subarray(0, keep);
      pending = Buffer.concat([keep > 0 ? pending.subarray(keep) : pending, chunk]);
    }
    if (safe) {
      // Regions verified before a failure in this chunk are still handed out, then the failure is thrown.
      let failure: Error | undefined;
      try {
        feed(safe, false);
      } catch (e) {
        failure = e as Error; // only ClientSideEncryptionError or a crypto Error reach here
      }
      if (ready.length) {
        const out = ready;
        ready = [];
        yield* out;
      }
      if (failure !== undefined) throw failure;
    }
  }
  let failure: Error | undefined;
  try {
    if (pending) feed(pending, true);
    if (got > 0) for (const b of finishRegion()) ready.push(b);
  } catch (e) {
    failure = e as Error;
  }
  yield* ready;
  if (failure !== undefined) throw failure;
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
  yield* sliceChunks(source, skip, take, asBuffer);
}

/** Collects a byte stream into one Buffer. */
export async function collectBytes(source: ByteSource): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of source) parts.push(asBuffer(c));
  return Buffer.concat(parts);
}
