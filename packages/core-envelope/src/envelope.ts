// Content-key lifecycle: generate, wrap (with the protocol prefix), select the key on read, unwrap
// and check. Plus the high-level encrypt/decrypt entry points the service packages use.
import { ClientSideEncryptionError, invalidArgument } from "./errors.js";
import { toBuffer, wipe } from "./internal/bytes.js";
import { CEK_LENGTH, contentKeyFromUnwrappedBytes, protocolPrefixBytes, wrapInputBytes } from "./kek/wrap-input.js";
import { checkKeyEncryptionKey, selectKeyEncryptionKey, shownKeyId, unwrapWithSelectedKey } from "./kek/select.js";
import type { KeyEncryptionKey, KeyOperationOptions } from "./kek/types.js";
import type { ClientSideEncryptionPolicy } from "./policy.js";
import { defaultRandomSource } from "./random.js";
import {
  DEFAULT_MAX_READ_REGION_SIZE,
  MAX_REGION_SIZE,
  MIN_REGION_SIZE,
  V2_DEFAULT_REGION_SIZE,
  serializeEncryptionData,
  type EncryptionData,
  type EncryptionProtocol,
} from "./schema/encryption-data.js";
import { LIBRARY_ID } from "./version.js";
import { misorderedRegionsAllowedByEnv } from "./content/nonce.js";
import { decryptCbc, decryptGcmRegions, encryptCbc, encryptGcmRegions, encryptGcmRegionsRepeatable, RegionTagRecord, sliceBytes, type ByteSource } from "./content/streams.js";
import { v1StoredLength, v2StoredLength, type PlaintextRange, type RangePlan } from "./content/sizes.js";

export { CEK_LENGTH };

/** The 8-byte prefix wrapped before a 2.x CEK: ASCII protocol padded with NUL bytes. */
export function protocolPrefix(protocol: "2.0" | "2.1"): Buffer {
  return toBuffer(protocolPrefixBytes(protocol));
}

/** Bytes handed to wrapKey: the bare CEK for 1.0, `protocol ‖ 00×5 ‖ CEK` for 2.x (one rule for every backend: kek/wrap-input.ts). */
export function keyWrapInput(protocol: EncryptionProtocol, cek: Uint8Array): Buffer {
  return toBuffer(wrapInputBytes(protocol, cek));
}

/** Checks an unwrapped value and returns the CEK. Anything unexpected is DECRYPTION_FAILED (downgrade protection). */
export function contentKeyFromUnwrapped(protocol: EncryptionProtocol, unwrapped: Uint8Array): Buffer {
  return toBuffer(contentKeyFromUnwrappedBytes(protocol, unwrapped));
}

export interface WriteSettings {
  protocol: EncryptionProtocol;
  regionSize: number;
  kek: KeyEncryptionKey;
  algorithm: string;
}

/** Validates a policy for writing. */
export function resolveWriteSettings(policy: ClientSideEncryptionPolicy): WriteSettings {
  if (typeof policy !== "object" || policy === null) throw invalidArgument("The encryption policy must be an object (ClientSideEncryptionPolicy).");
  const kek = policy.keyEncryptionKey;
  if (!kek) {
    throw new ClientSideEncryptionError("KEY_NOT_FOUND", "No keyEncryptionKey is configured, so nothing can be encrypted (and plaintext is never written).");
  }
  checkKeyEncryptionKey(kek, "keyEncryptionKey");
  const protocol = policy.encryptionVersion ?? "2.0";
  let regionSize = V2_DEFAULT_REGION_SIZE;
  if (protocol === "1.0") {
    if (!policy.allowDeprecatedV1Encryption) {
      throw new ClientSideEncryptionError(
        "DEPRECATED_PROTOCOL",
        'Writing protocol 1.0 (AES-CBC without integrity, CVE-2022-30187) needs allowDeprecatedV1Encryption: true. Use "2.0" unless an old reader requires 1.0.',
      );
    }
  } else if (protocol === "2.0") {
    if (policy.regionSize !== undefined && policy.regionSize !== V2_DEFAULT_REGION_SIZE) {
      throw invalidArgument('Protocol "2.0" always uses 4 MiB regions; use encryptionVersion "2.1" for another regionSize.');
    }
  } else if (protocol === "2.1") {
    regionSize = policy.regionSize ?? V2_DEFAULT_REGION_SIZE;
    if (!Number.isSafeInteger(regionSize) || regionSize < MIN_REGION_SIZE || regionSize > MAX_REGION_SIZE) {
      throw invalidArgument(`regionSize must be an integer from ${MIN_REGION_SIZE} to ${MAX_REGION_SIZE} bytes.`);
    }
  } else {
    throw new ClientSideEncryptionError("UNSUPPORTED_PROTOCOL", `encryptionVersion must be "2.0", "2.1" or "1.0".`);
  }
  return { protocol, regionSize, kek, algorithm: policy.keyWrapAlgorithm ?? kek.defaultWrapAlgorithm };
}

/**
 * The region-size bound a reader applies under `policy`: its `maxRegionSize`, else the 16 MiB default raised
 * to the policy's own `regionSize` (so a policy reads what it writes). Pass it to `parseEncryptionData`.
 */
export function maxReadRegionSize(policy: ClientSideEncryptionPolicy): number {
  if (policy.maxRegionSize !== undefined) return policy.maxRegionSize;
  const own = typeof policy.regionSize === "number" && Number.isSafeInteger(policy.regionSize) ? Math.min(policy.regionSize, MAX_REGION_SIZE) : 0;
  return Math.max(DEFAULT_MAX_READ_REGION_SIZE, own);
}

/** A fresh content key, wrapped, with the EncryptionData describing it. Call `dispose()` when done. */
export interface ContentEncryption {
  readonly encryptionData: EncryptionData;
  readonly protocol: EncryptionProtocol;
  readonly regionSize: number;
  /** Encrypts a whole body (one call per content key). */
  encrypt(source: ByteSource): AsyncGenerator<Buffer>;
  /**
   * Protocol 2.x: encrypts one body that may have to be sent more than once (request retries) without
   * keeping its ciphertext. Returns a function that starts an attempt; each attempt reads `open()` again
   * and gives byte-identical output while the source is unchanged. A region is released only when it is
   * complete and matches the first release of that region, so a source that changed between attempts
   * fails with INVALID_ARGUMENT instead of reusing a nonce for different data. Counts as the one use of
   * the content key. Protocol 1.0 throws UNSUPPORTED_OPERATION (use `encrypt` and keep the ciphertext).
   */
  encryptRepeatable(open: () => ByteSource): () => AsyncGenerator<Buffer>;
  /** Stored length for a plaintext length. */
  storedLength(plaintextLength: number): number;
  /** The serialized EncryptionData (`includeEncryptionMode` for blobs). */
  toJson(includeEncryptionMode: boolean): string;
  /** The raw CEK, for formats that encrypt several values under one key (table properties). */
  readonly contentKey: Uint8Array;
  /** Zeroes the content key. */
  dispose(): void;
}

/** Generates a CEK (and IV for 1.0), wraps it and describes it, per the policy. */
export async function createContentEncryption(policy: ClientSideEncryptionPolicy, options: KeyOperationOptions = {}): Promise<ContentEncryption> {
  const s = resolveWriteSettings(policy);
  const random = policy.random ?? defaultRandomSource;
  const cek = Buffer.from(random(CEK_LENGTH));
  if (cek.length !== CEK_LENGTH) throw invalidArgument("The random source returned the wrong number of bytes.");
  const iv = s.protocol === "1.0" ? Buffer.from(random(16)) : undefined;
  let wrapped;
  try {
    wrapped = await s.kek.wrapKey(s.algorithm, keyWrapInput(s.protocol, cek), options);
  } catch (e) {
    if (ClientSideEncryptionError.is(e)) throw e;
    throw new ClientSideEncryptionError("KEY_OPERATION_FAILED", `Wrapping the content key with key "${shownKeyId(s.kek.keyId)}" failed.`, { cause: e, details: { keyId: s.kek.keyId } });
  }
  if (typeof wrapped !== "object" || wrapped === null || !(wrapped.encryptedKey instanceof Uint8Array) || wrapped.encryptedKey.length === 0 || (wrapped.keyId !== undefined && typeof wrapped.keyId !== "string")) {
    throw invalidArgument("keyEncryptionKey.wrapKey must resolve to { encryptedKey: Uint8Array (non-empty), keyId?: string }.");
  }
  const base = {
    wrappedContentKey: { keyId: wrapped.keyId || s.kek.keyId, encryptedKey: wrapped.encryptedKey, algorithm: s.algorithm },
    keyWrappingMetadata: { EncryptionLibrary: LIBRARY_ID },
  };
  const encryptionData: EncryptionData =
    s.protocol === "1.0"
      ? { ...base, protocol: "1.0", contentEncryptionIV: iv! }
      : { ...base, protocol: s.protocol, encryptedRegionInfo: { dataLength: s.regionSize, nonceLength: 12 } };
  let used = false;
  return {
    encryptionData,
    protocol: s.protocol,
    regionSize: s.regionSize,
    contentKey: cek,
    encrypt(source) {
      if (used) throw invalidArgument("A content key encrypts exactly one body; create a new ContentEncryption.");
      used = true;
      return s.protocol === "1.0" ? encryptCbc(source, cek, iv!) : encryptGcmRegions(source, cek, s.regionSize);
    },
    encryptRepeatable(open) {
      if (s.protocol === "1.0") throw new ClientSideEncryptionError("UNSUPPORTED_OPERATION", "Protocol 1.0 bodies cannot be re-encrypted for a retry; encrypt once and keep the ciphertext.");
      if (used) throw invalidArgument("A content key encrypts exactly one body; create a new ContentEncryption.");
      used = true;
      const record = new RegionTagRecord();
      return () => encryptGcmRegionsRepeatable(open(), cek, s.regionSize, record);
    },
    storedLength: (n) => (s.protocol === "1.0" ? v1StoredLength(n) : v2StoredLength(n, s.regionSize)),
    toJson: (includeEncryptionMode) => serializeEncryptionData(encryptionData, { includeEncryptionMode }),
    dispose: () => wipe(cek),
  };
}

/** A KEK given by a caller (or returned by a resolver) must have the shape of one: INVALID_ARGUMENT naming `what` otherwise. */
export { checkKeyEncryptionKey, selectKeyEncryptionKey };

/** Selects the key, unwraps and checks the CEK (length and, for 2.x, the protocol prefix). */
export async function unwrapContentKey(data: EncryptionData, policy: ClientSideEncryptionPolicy, options: KeyOperationOptions = {}): Promise<Buffer> {
  return contentKeyFromUnwrapped(data.protocol, await unwrapWithSelectedKey(data, policy, options, ["INVALID_ARGUMENT"]));
}

export interface DecryptOptions extends KeyOperationOptions {
  /** Plaintext range; default the whole body. */
  range?: PlaintextRange;
  /** Stored length of the whole body (needed for ranges). */
  storedLength?: number;
  /** 1.0 legacy page blobs carry no padding. */
  padded?: boolean;
}

/** Whether region-order checks apply under a policy (the env var and the option both disable them). */
export function regionOrderCheckEnabled(policy: ClientSideEncryptionPolicy): boolean {
  return !(policy.allowMisorderedRegions ?? false) && !misorderedRegionsAllowedByEnv();
}

/**
 * Decrypts stored bytes that were fetched according to `plan` (from `planRange`) with an unwrapped CEK.
 * For whole bodies use `planRange(data, { offset: 0 }, storedLength)`. A plan with `take` 0 (no plaintext
 * wanted from a non-empty body) still reads and verifies all its stored bytes, then yields nothing.
 */
export function decryptPlanned(data: EncryptionData, cek: Uint8Array, plan: RangePlan, source: ByteSource, policy: ClientSideEncryptionPolicy = {}, padded = true): AsyncGenerator<Buffer> {
  if (plan.empty) return sliceBytes([], 0, 0);
  const body =
    data.protocol === "1.0"
      ? decryptCbc(source, cek, data.contentEncryptionIV, { unpad: plan.includesLastBlock && padded, ivFromStream: plan.ivFromStream })
      : decryptGcmRegions(source, cek, data.encryptedRegionInfo.dataLength, {
          firstRegionIndex: plan.firstRegionIndex,
          checkRegionOrder: regionOrderCheckEnabled(policy),
        });
  return plan.take === 0 ? verifiedNothing(body) : sliceBytes(body, plan.skip, plan.take);
}

/** Consumes a decrypting stream to its end (so every tag or the padding is checked) and yields nothing. */
async function* verifiedNothing(body: AsyncGenerator<Buffer>): AsyncGenerator<Buffer> {
  let next = await body.next();
  while (!next.done) next = await body.next(); // every region verified (or the padding checked), output discarded
  yield* [];
}
