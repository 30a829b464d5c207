// 2.x region encryption/decryption and 1.0 CBC decryption over Web Crypto. Web Crypto has no streaming
// AES-GCM, but 2.x regions are independent: each region is one encrypt or decrypt call. Memory stays
// bounded by one region (plus the chunk being read); a region's plaintext is released only after its tag
// verified. Output is byte-identical to the Node backend (content/streams.ts) for the same key and nonces.
import { ClientSideEncryptionError, decryptionFailed, invalidArgument, sourceFailed } from "../errors.js";
import { V2_NONCE_LENGTH } from "../schema/encryption-data.js";
import { checkRegionSize, V2_REGION_OVERHEAD } from "../content/sizes.js";
import { concatBytes, sliceChunks } from "../content/chunks.js";
import { cbcDecryptBlocks, gcmOpen, gcmSeal, importContentKey } from "./subtle.js";
import type { WebCryptoKey } from "./webcrypto-types.js";

/** A web stream reader as far as this module uses it (browser and Node `ReadableStreamDefaultReader`). */
export interface ReadableStreamReaderLike {
  read(): Promise<{ done: boolean; value?: unknown }>;
  releaseLock(): void;
  cancel(reason?: unknown): Promise<void>;
}
/** A web `ReadableStream` of bytes. */
export interface ReadableStreamLike {
  getReader(): ReadableStreamReaderLike;
}
/** A `Blob` or `File`. */
export interface BlobLike {
  readonly size: number;
  stream(): ReadableStreamLike;
}
/** Anything the web backend reads bytes from. */
export type WebByteInput = ReadableStreamLike | BlobLike | ArrayBuffer | ArrayBufferView | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

const isReadable = (v: unknown): v is ReadableStreamLike => typeof v === "object" && v !== null && typeof (v as ReadableStreamLike).getReader === "function";
const isBlob = (v: unknown): v is BlobLike => typeof v === "object" && v !== null && typeof (v as BlobLike).stream === "function" && typeof (v as BlobLike).size === "number";

function toChunk(v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  throw invalidArgument(`A byte source yielded ${v === null ? "null" : typeof v} where a Uint8Array chunk was expected.`);
}

async function* readStream(stream: ReadableStreamLike): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  let done = false;
  try {
    for (;;) {
      let r: { done: boolean; value?: unknown };
      try {
        r = await reader.read();
      } catch (e) {
        done = true;
        throw sourceFailed(e);
      }
      if (r.done) {
        done = true;
        return;
      }
      yield toChunk(r.value);
    }
  } finally {
    if (!done) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

async function* readIterable(it: AsyncIterable<unknown> | Iterable<unknown>): AsyncGenerator<Uint8Array> {
  try {
    for await (const c of it as AsyncIterable<unknown>) yield toChunk(c);
  } catch (e) {
    if (ClientSideEncryptionError.is(e)) throw e;
    throw sourceFailed(e);
  }
}

/**
 * Bytes of a `ReadableStream`, `Blob`/`File`, `ArrayBuffer`, typed array, or (async) iterable of Uint8Array, as an
 * async iterable of Uint8Array chunks. A failing source becomes SOURCE_ERROR (its error as `cause`).
 */
export function webByteSource(input: WebByteInput): AsyncGenerator<Uint8Array> {
  if (isReadable(input)) return readStream(input);
  if (isBlob(input)) return readStream(input.stream());
  if (input instanceof ArrayBuffer || ArrayBuffer.isView(input)) return readIterable([toChunk(input)]);
  const s = input as unknown as Record<symbol, unknown> | null;
  if (typeof input === "string" || s === null || typeof s !== "object" || (typeof s[Symbol.asyncIterator] !== "function" && typeof s[Symbol.iterator] !== "function")) {
    throw invalidArgument("The source must be a ReadableStream, Blob, File, ArrayBuffer, typed array or (async) iterable of Uint8Array chunks.");
  }
  return readIterable(input as AsyncIterable<unknown>);
}

/** Nonce of region `index` written by this library (Python's scheme: 12-byte big-endian index). */
export function webRegionNonce(scheme: "python" | "java" | "dotnet", index: number): Uint8Array {
  const n = new Uint8Array(V2_NONCE_LENGTH);
  const v = new DataView(n.buffer);
  const i = BigInt(index);
  if (scheme === "python") v.setBigUint64(4, i, false);
  else if (scheme === "java") v.setBigUint64(0, i, false);
  else v.setBigUint64(4, i + 1n, true);
  return n;
}

const SCHEMES = ["python", "java", "dotnet"] as const;

/** The region-order check of the Node backend (RegionOrderValidator), on Uint8Array. */
class WebRegionOrder {
  #candidates: (typeof SCHEMES)[number][] = [...SCHEMES];
  #next: number;
  constructor(
    first: number,
    readonly enabled: boolean,
  ) {
    this.#next = first;
  }
  check(nonce: Uint8Array): void {
    const index = this.#next++;
    if (!this.enabled) return;
    this.#candidates = this.#candidates.filter((s) => equal(webRegionNonce(s, index), nonce));
    if (this.#candidates.length === 0) {
      throw new ClientSideEncryptionError(
        "REGION_OUT_OF_ORDER",
        `Encrypted region ${index} is not in its expected position: regions were reordered, duplicated or dropped. To recover data written with non-standard nonces, set allowMisorderedRegions.`,
        { details: { regionIndex: index } },
      );
    }
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

function checkCek(cek: Uint8Array): void {
  if (!(cek instanceof Uint8Array) || cek.length !== 32) throw invalidArgument("A content-encryption key must be 32 bytes.");
}

function checkIndex(i: number): void {
  if (!Number.isSafeInteger(i) || i < 0) throw invalidArgument("firstRegionIndex must be a non-negative safe integer.");
}

/** The key for region operations: a 32-byte CEK (imported, not extractable) or an AES-GCM CryptoKey. */
async function gcmKey(cek: Uint8Array | WebCryptoKey, algorithm: "AES-GCM" | "AES-CBC"): Promise<WebCryptoKey> {
  if (cek instanceof Uint8Array) {
    checkCek(cek);
    return importContentKey(cek, algorithm);
  }
  return cek;
}

/**
 * Copies the source into `region` and yields the filled length each time it is full, then once more for a
 * shorter rest (never 0). The caller uses the bytes before asking for the next region, which overwrites them.
 */
async function* fillRegions(source: AsyncIterable<Uint8Array>, region: Uint8Array): AsyncGenerator<number> {
  let filled = 0;
  for await (const chunk of source) {
    let pos = 0;
    while (pos < chunk.length) {
      const k = Math.min(chunk.length - pos, region.length - filled);
      region.set(chunk.subarray(pos, pos + k), filled);
      filled += k;
      pos += k;
      if (filled === region.length) {
        yield filled;
        filled = 0;
      }
    }
  }
  if (filled > 0) yield filled;
}

/**
 * Protocol 2.x: encrypts `source` into regions of `regionSize` plaintext bytes (the last may be shorter);
 * yields one `nonce(12) ‖ ciphertext ‖ tag(16)` Uint8Array per region. Empty input yields nothing.
 */
export async function* encryptWebGcmRegions(source: WebByteInput, cek: Uint8Array | WebCryptoKey, regionSize: number, options: { firstRegionIndex?: number } = {}): AsyncGenerator<Uint8Array> {
  checkRegionSize(regionSize);
  let index = options.firstRegionIndex ?? 0;
  checkIndex(index);
  const key = await gcmKey(cek, "AES-GCM");
  const region = new Uint8Array(regionSize);
  const seal = async (n: number): Promise<Uint8Array> => {
    const nonce = webRegionNonce("python", index++);
    const sealed = await gcmSeal(key, nonce, region.subarray(0, n));
    const out = new Uint8Array(V2_NONCE_LENGTH + sealed.length);
    out.set(nonce);
    out.set(sealed, V2_NONCE_LENGTH);
    return out;
  };
  for await (const n of fillRegions(webByteSource(source), region)) yield await seal(n);
  region.fill(0);
}

export interface WebGcmDecryptOptions {
  /** Region index of the first stored byte of `source` (ranged reads). */
  firstRegionIndex?: number;
  /** Check that region nonces follow one of the SDK schemes in sequence; default true. */
  checkRegionOrder?: boolean;
}

/**
 * Protocol 2.x: decrypts whole regions. Holds at most one stored region; yields a region's plaintext only
 * after its tag verified. Any failure is DECRYPTION_FAILED (or REGION_OUT_OF_ORDER) and ends the output.
 * A lone 28-byte empty region at the start of a body is accepted (Java may write one).
 */
export async function* decryptWebGcmRegions(source: WebByteInput, cek: Uint8Array | WebCryptoKey, regionSize: number, options: WebGcmDecryptOptions = {}): AsyncGenerator<Uint8Array> {
  checkRegionSize(regionSize);
  const first = options.firstRegionIndex ?? 0;
  checkIndex(first);
  const key = await gcmKey(cek, "AES-GCM");
  const order = new WebRegionOrder(first, options.checkRegionOrder ?? true);
  const R = regionSize + V2_REGION_OVERHEAD;
  const region = new Uint8Array(R);
  let done = 0;
  const open = (n: number): Promise<Uint8Array> => {
    if (n < V2_REGION_OVERHEAD || (n === V2_REGION_OVERHEAD && !(first === 0 && done === 0))) throw decryptionFailed();
    const nonce = region.slice(0, V2_NONCE_LENGTH);
    order.check(nonce);
    done++;
    return gcmOpen(key, nonce, region.subarray(V2_NONCE_LENGTH, n));
  };
  for await (const n of fillRegions(webByteSource(source), region)) {
    const plain = await open(n);
    if (plain.length) yield plain;
  }
}

/** Ciphertext decrypted per call when reading 1.0 (one Web Crypto call per 1 MiB). */
const CBC_BATCH = 1024 * 1024;

/**
 * Protocol 1.0 (AES-256-CBC) decryption, whole or ranged, for reading old data (this backend does not write
 * 1.0). `unpad` removes PKCS#7 padding at the end; `ivFromStream` takes the IV from the first 16 stored
 * bytes. Memory stays under ~2 MiB whatever the size. Every failure is DECRYPTION_FAILED.
 */
export async function* decryptWebCbc(source: WebByteInput, cek: Uint8Array | WebCryptoKey, iv: Uint8Array | undefined, options: { unpad: boolean; ivFromStream?: boolean }): AsyncGenerator<Uint8Array> {
  if (!options.ivFromStream && (!(iv instanceof Uint8Array) || iv.length !== 16)) throw invalidArgument("A CBC IV must be 16 bytes.");
  const key = await gcmKey(cek, "AES-CBC");
  let currentIv = options.ivFromStream ? undefined : iv!.slice();
  let pending: Uint8Array[] = [];
  let held = 0;
  const take = (): Uint8Array => concatBytes(pending, held);
  for await (const chunk of webByteSource(source)) {
    pending.push(chunk);
    held += chunk.length;
    if (held < CBC_BATCH + 32) continue;
    let all = take();
    if (!currentIv) {
      currentIv = all.slice(0, 16);
      all = all.subarray(16);
    }
    // Keep at least the last whole block back: it may be the padded one.
    const n = Math.floor((all.length - 16) / 16) * 16;
    if (n > 0) {
      const plain = await cbcDecryptBlocks(key, currentIv, all.subarray(0, n), false);
      currentIv = all.slice(n - 16, n);
      if (plain.length) yield plain;
    }
    const rest = all.slice(n);
    pending = [rest];
    held = rest.length;
  }
  let all = take();
  pending = [];
  if (!currentIv) {
    if (all.length < 16) throw decryptionFailed();
    currentIv = all.slice(0, 16);
    all = all.subarray(16);
  }
  const plain = await cbcDecryptBlocks(key, currentIv, all, options.unpad);
  if (plain.length) yield plain;
}

/** Drops `skip` bytes, then passes at most `take` bytes (all when undefined). Stops reading once done. */
export async function* sliceWebBytes(source: AsyncIterable<Uint8Array>, skip: number, take: number | undefined): AsyncGenerator<Uint8Array> {
  yield* sliceChunks(source, skip, take, (chunk) => chunk);
}

/** Collects a byte stream into one Uint8Array. */
export async function collectWebBytes(source: WebByteInput): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const c of webByteSource(source)) {
    parts.push(c);
    n += c.length;
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * An async iterable of bytes as a web `ReadableStream` (pull-based: one region is produced per pull, so a
 * slow consumer holds the producer back). Needs a global ReadableStream (browsers, Node 18+).
 */
export function toReadableStream(source: AsyncIterable<Uint8Array>): ReadableStreamLike {
  const RS = (globalThis as { ReadableStream?: new (source: object) => ReadableStreamLike }).ReadableStream;
  if (!RS) throw new ClientSideEncryptionError("UNSUPPORTED_OPERATION", "ReadableStream is not available on this platform.");
  const it = source[Symbol.asyncIterator]();
  return new RS({
    async pull(controller: { enqueue(c: Uint8Array): void; close(): void; error(e: unknown): void }) {
      try {
        const r = await it.next();
        if (r.done) controller.close();
        else controller.enqueue(r.value);
      } catch (e) {
        controller.error(e);
      }
    },
    async cancel() {
      await it.return?.(undefined);
    },
  });
}

