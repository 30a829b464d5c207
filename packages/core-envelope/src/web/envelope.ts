// Content-key lifecycle and the high-level encrypt/decrypt entry points of the web backend. Same rules as
// the Node backend (envelope.ts): 2.x only for writing, key selection by exact key id, the 2.x protocol
// prefix checked on unwrap (downgrade protection), every read unwraps its key first.
import { ClientSideEncryptionError, invalidArgument } from "../errors.js";
import { checkKeyEncryptionKey as checkKek, selectKeyEncryptionKey, shownKeyId, unwrapWithSelectedKey } from "../kek/select.js";
import type { KeyEncryptionKey, KeyOperationOptions } from "../kek/types.js";
import type { ClientSideEncryptionPolicy } from "../policy.js";
import { MAX_REGION_SIZE, MIN_REGION_SIZE, V2_DEFAULT_REGION_SIZE, serializeEncryptionData, type EncryptionData, type EncryptionDataV2, type EncryptionProtocol } from "../schema/encryption-data.js";
import { LIBRARY_ID } from "../version.js";
import { planRange, v2StoredLength, type PlaintextRange, type RangePlan } from "../content/sizes.js";
import { decryptWebCbc, decryptWebGcmRegions, encryptWebGcmRegions, sliceWebBytes, webByteSource, type WebByteInput } from "./content.js";
import { webRandomBytes } from "./subtle.js";
import { CEK_LENGTH, contentKeyFromUnwrappedBytes, wrapInputBytes } from "../kek/wrap-input.js";

/** Checks an unwrapped value and returns the CEK (a copy). Anything unexpected is DECRYPTION_FAILED (one rule for every backend: kek/wrap-input.ts). */
export const webContentKeyFromUnwrapped: (protocol: EncryptionProtocol, unwrapped: Uint8Array) => Uint8Array = contentKeyFromUnwrappedBytes;

/** A fresh content key, wrapped, with the EncryptionData describing it (web backend; protocol 2.x). */
export interface WebContentEncryption {
  readonly encryptionData: EncryptionDataV2;
  readonly protocol: "2.0" | "2.1";
  readonly regionSize: number;
  /**
   * Encrypts one whole body (once per content key) from a ReadableStream, Blob/File, ArrayBuffer, typed array
   * or (async) iterable: one `nonce ‖ ciphertext ‖ tag` Uint8Array per region, read and encrypted one region
   * at a time (memory: about two regions).
   */
  encrypt(source: WebByteInput): AsyncGenerator<Uint8Array>;
  /** Stored length for a plaintext length. */
  storedLength(plaintextLength: number): number;
  /** The serialized EncryptionData (`includeEncryptionMode` for blobs). */
  toJson(includeEncryptionMode: boolean): string;
  /** Zeroes this object's copy of the content key. */
  dispose(): void;
}


/**
 * Generates a CEK, wraps it with the policy's key and describes it, like the Node `createContentEncryption`.
 * The web backend writes 2.0 (default) or 2.1 only: "1.0" is refused with UNSUPPORTED_OPERATION.
 */
export async function createWebContentEncryption(policy: ClientSideEncryptionPolicy, options: KeyOperationOptions = {}): Promise<WebContentEncryption> {
  if (typeof policy !== "object" || policy === null) throw invalidArgument("The encryption policy must be an object (ClientSideEncryptionPolicy).");
  const kek = policy.keyEncryptionKey;
  if (!kek) throw new ClientSideEncryptionError("KEY_NOT_FOUND", "No keyEncryptionKey is configured, so nothing can be encrypted (and plaintext is never written).");
  checkKek(kek, "keyEncryptionKey");
  const protocol = policy.encryptionVersion ?? "2.0";
  let regionSize = V2_DEFAULT_REGION_SIZE;
  if (protocol === "1.0") {
    throw new ClientSideEncryptionError("UNSUPPORTED_OPERATION", 'The web backend does not write the deprecated protocol 1.0 (it reads it); use "2.0" or "2.1".');
  } else if (protocol === "2.0") {
    if (policy.regionSize !== undefined && policy.regionSize !== V2_DEFAULT_REGION_SIZE) throw invalidArgument('Protocol "2.0" always uses 4 MiB regions; use encryptionVersion "2.1" for another regionSize.');
  } else if (protocol === "2.1") {
    regionSize = policy.regionSize ?? V2_DEFAULT_REGION_SIZE;
    if (!Number.isSafeInteger(regionSize) || regionSize < MIN_REGION_SIZE || regionSize > MAX_REGION_SIZE) throw invalidArgument(`regionSize must be an integer from ${MIN_REGION_SIZE} to ${MAX_REGION_SIZE} bytes.`);
  } else {
    throw new ClientSideEncryptionError("UNSUPPORTED_PROTOCOL", `encryptionVersion must be "2.0" or "2.1" in the web backend.`);
  }
  const algorithm = policy.keyWrapAlgorithm ?? kek.defaultWrapAlgorithm;
  const cek = Uint8Array.from((policy.random ?? webRandomBytes)(CEK_LENGTH));
  if (cek.length !== CEK_LENGTH) throw invalidArgument("The random source returned the wrong number of bytes.");
  const input = wrapInputBytes(protocol, cek);
  let wrapped;
  try {
    wrapped = await kek.wrapKey(algorithm, input, options);
  } catch (e) {
    if (ClientSideEncryptionError.is(e)) throw e;
    throw new ClientSideEncryptionError("KEY_OPERATION_FAILED", `Wrapping the content key with key "${shownKeyId(kek.keyId)}" failed.`, { cause: e, details: { keyId: kek.keyId } });
  } finally {
    input.fill(0);
  }
  if (typeof wrapped !== "object" || wrapped === null || !(wrapped.encryptedKey instanceof Uint8Array) || wrapped.encryptedKey.length === 0 || (wrapped.keyId !== undefined && typeof wrapped.keyId !== "string")) {
    throw invalidArgument("keyEncryptionKey.wrapKey must resolve to { encryptedKey: Uint8Array (non-empty), keyId?: string }.");
  }
  const encryptionData: EncryptionDataV2 = {
    wrappedContentKey: { keyId: wrapped.keyId || kek.keyId, encryptedKey: wrapped.encryptedKey, algorithm },
    keyWrappingMetadata: { EncryptionLibrary: LIBRARY_ID },
    protocol,
    encryptedRegionInfo: { dataLength: regionSize, nonceLength: 12 },
  };
  let used = false;
  return {
    encryptionData,
    protocol,
    regionSize,
    encrypt(source) {
      if (used) throw invalidArgument("A content key encrypts exactly one body; create a new content encryption.");
      used = true;
      return encryptWebGcmRegions(source, cek, regionSize);
    },
    storedLength: (n) => v2StoredLength(n, regionSize),
    toJson: (includeEncryptionMode) => serializeEncryptionData(encryptionData, { includeEncryptionMode }),
    dispose: () => cek.fill(0),
  };
}

/** Key selection on read, the Node backend's `selectKeyEncryptionKey` (docs/format.md; one implementation, kek/select.ts). */
export const selectWebKeyEncryptionKey: (keyId: string, policy: ClientSideEncryptionPolicy, options?: KeyOperationOptions) => Promise<KeyEncryptionKey> = selectKeyEncryptionKey;

/**
 * Selects the key, unwraps and checks the CEK (length and, for 2.x, the protocol prefix). A key that reports the
 * stored algorithm UNSUPPORTED_OPERATION (Web Crypto has no RSA1_5) is KEY_OPERATION_FAILED, like an unusable key.
 */
export async function unwrapWebContentKey(data: EncryptionData, policy: ClientSideEncryptionPolicy, options: KeyOperationOptions = {}): Promise<Uint8Array> {
  return webContentKeyFromUnwrapped(data.protocol, await unwrapWithSelectedKey(data, policy, options, ["INVALID_ARGUMENT", "UNSUPPORTED_OPERATION"]));
}

/**
 * Decrypts stored bytes fetched according to `plan` (from `planRange`) with an unwrapped CEK. A plan with
 * `take` 0 still reads and verifies everything it fetched, then yields nothing. Region-order checks apply
 * unless `policy.allowMisorderedRegions` (browsers have no environment variable).
 */
export function decryptWebPlanned(data: EncryptionData, cek: Uint8Array, plan: RangePlan, source: WebByteInput, policy: ClientSideEncryptionPolicy = {}, padded = true): AsyncGenerator<Uint8Array> {
  if (plan.empty) return sliceWebBytes(webByteSource([]), 0, 0);
  const body =
    data.protocol === "1.0"
      ? decryptWebCbc(source, cek, data.contentEncryptionIV, { unpad: plan.includesLastBlock && padded, ivFromStream: plan.ivFromStream })
      : decryptWebGcmRegions(source, cek, data.encryptedRegionInfo.dataLength, { firstRegionIndex: plan.firstRegionIndex, checkRegionOrder: !(policy.allowMisorderedRegions ?? false) });
  return plan.take === 0 ? verifiedNothing(body) : sliceWebBytes(body, plan.skip, plan.take);
}

async function* verifiedNothing(body: AsyncGenerator<Uint8Array>): AsyncGenerator<Uint8Array> {
  let next = await body.next();
  while (!next.done) next = await body.next();
  yield* [];
}

export interface WebDecryptOptions extends KeyOperationOptions {
  /** Plaintext range; default the whole body. */
  range?: PlaintextRange;
  /** 1.0 legacy page blobs carry no padding. */
  padded?: boolean;
}

/**
 * Plan + unwrap + decrypt over a function that fetches a stored byte range (`count` undefined = to the end),
 * e.g. a ranged `BlobClient.download` whose `blobBody` is a Blob. The key is unwrapped before anything is
 * fetched; the result yields plaintext of verified regions only.
 */
export async function decryptWebRange(
  data: EncryptionData,
  policy: ClientSideEncryptionPolicy,
  storedLength: number,
  fetch: (offset: number, count: number | undefined) => WebByteInput | Promise<WebByteInput>,
  options: WebDecryptOptions = {},
): Promise<AsyncGenerator<Uint8Array>> {
  const cek = await unwrapWebContentKey(data, policy, options);
  const plan = planRange(data, options.range ?? { offset: 0 }, storedLength, { padded: options.padded ?? true });
  if (plan.empty) {
    cek.fill(0);
    return sliceWebBytes(webByteSource([]), 0, 0);
  }
  let source: WebByteInput;
  try {
    source = await fetch(plan.storedOffset, plan.storedCount);
  } catch (e) {
    cek.fill(0);
    throw e;
  }
  return wiping(decryptWebPlanned(data, cek, plan, source, policy, options.padded ?? true), cek);
}

async function* wiping(body: AsyncGenerator<Uint8Array>, cek: Uint8Array): AsyncGenerator<Uint8Array> {
  try {
    yield* body;
  } finally {
    cek.fill(0);
  }
}
