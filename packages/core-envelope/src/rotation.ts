// Key rotation, the one implementation every service package uses: re-wrap the content key under a new
// key-encryption key, check the new wrap by unwrapping it back, and write the result into the stored
// encryption metadata by one rule — the stored JSON is kept and only WrappedContentKey's KeyId,
// EncryptedKey and Algorithm change (field order, letter case, KeyWrappingMetadata, IVs and unknown
// fields stay as stored, so data from every writer stays readable by that writer's SDK). Crypto-free and
// Buffer-free (the keys do the crypto), so the web entry exports the same rule.
import { ClientSideEncryptionError, describeValue, invalidArgument } from "./errors.js";
import { equalBytes, encodeBase64 } from "./internal/bytes.js";
import { contentKeyFromUnwrappedBytes, wrapInputBytes } from "./kek/wrap-input.js";
import type { KeyEncryptionKey, KeyOperationOptions, WrapKeyResult } from "./kek/types.js";
import { asciiJson, type EncryptionProtocol } from "./schema/encryption-data.js";

type Details = Record<string, string | number | boolean | undefined>;

export interface RewrapContentKeyOptions extends KeyOperationOptions {
  /** Wrap algorithm for the new key; default the new key's `defaultWrapAlgorithm`. */
  keyWrapAlgorithm?: string;
  /** Non-secret context added to errors (container and blob, partition and row key). */
  details?: Record<string, string | number | boolean | undefined>;
  /** How the new key is named in INVALID_ARGUMENT messages; default "newKeyEncryptionKey". */
  argumentName?: string;
}

export interface RewrapContentKeyResult {
  /** The stored JSON with only WrappedContentKey's KeyId, EncryptedKey and Algorithm replaced. */
  encryptionDataJson: string;
  /** KeyId stored before the rotation. */
  previousKeyId: string;
  /** KeyId now stored (the new key's wrap result, else its `keyId`). */
  keyId: string;
  keyWrapAlgorithm: string;
}

/** The error for rotating data that has no client-side encryption metadata: there is no content key. */
export function nothingToRotate(what: string, details?: Details): ClientSideEncryptionError {
  return new ClientSideEncryptionError("ENCRYPTION_REQUIRED", `${what} is not client-side encrypted: there is no content key to rotate.`, { details });
}

function parseObject(json: string): Record<string, unknown> {
  let root: unknown;
  try {
    root = JSON.parse(json);
  } catch {
    throw new ClientSideEncryptionError("INVALID_ENCRYPTION_DATA", "Invalid encryption metadata: metadata is not valid JSON");
  }
  if (typeof root !== "object" || root === null || Array.isArray(root)) {
    throw new ClientSideEncryptionError("INVALID_ENCRYPTION_DATA", "Invalid encryption metadata: metadata is not a JSON object");
  }
  return root as Record<string, unknown>;
}

function findKey(obj: Record<string, unknown>, name: string): string {
  const lower = name.toLowerCase();
  return Object.keys(obj).find((k) => k.toLowerCase() === lower) ?? name;
}

function wrappedContentKeyOf(obj: Record<string, unknown>): Record<string, unknown> {
  const old = obj[findKey(obj, "WrappedContentKey")];
  return typeof old === "object" && old !== null && !Array.isArray(old) ? { ...(old as Record<string, unknown>) } : {};
}

/**
 * Returns the stored metadata JSON with a new KeyId/EncryptedKey/Algorithm and nothing else changed (ASCII-only
 * compact JSON, field order and letter case as stored). For metadata this library wrote, the result is exactly
 * what serializing the updated EncryptionData gives.
 */
export function replaceWrappedContentKey(storedJson: string, wrapped: { keyId: string; encryptedKey: Uint8Array; algorithm: string }): string {
  const obj = parseObject(storedJson);
  const wck = wrappedContentKeyOf(obj);
  wck[findKey(wck, "KeyId")] = wrapped.keyId;
  wck[findKey(wck, "EncryptedKey")] = encodeBase64(wrapped.encryptedKey);
  wck[findKey(wck, "Algorithm")] = wrapped.algorithm;
  obj[findKey(obj, "WrappedContentKey")] = wck;
  return asciiJson(obj);
}

/**
 * Re-wraps `contentKey` (already unwrapped from `storedJson` with the old key) under `newKek`, unwraps the new wrap
 * back and compares it, and returns the stored JSON with only the wrapped key replaced. Nothing is written here:
 * the caller stores the JSON conditionally on the version it read. Errors:
 * INVALID_ARGUMENT (a key that is not a KeyEncryptionKey, a bad algorithm, wrapKey/unwrapKey resolving to the wrong
 * type), KEY_OPERATION_FAILED (the new key's wrap or unwrap failed, or it did not give the content key back), typed
 * errors of the new key (KEY_NOT_FOUND, ABORTED...) unchanged, INVALID_ENCRYPTION_DATA for stored JSON that is not an object.
 */
export async function rewrapContentKey(
  storedJson: string,
  protocol: EncryptionProtocol,
  contentKey: Uint8Array,
  newKek: KeyEncryptionKey,
  options: RewrapContentKeyOptions = {},
): Promise<RewrapContentKeyResult> {
  const name = options.argumentName ?? "newKeyEncryptionKey";
  if (!newKek || typeof newKek !== "object" || typeof newKek.wrapKey !== "function" || typeof newKek.unwrapKey !== "function") {
    throw invalidArgument(`${name} must be a KeyEncryptionKey (an object with wrapKey and unwrapKey).`);
  }
  const algorithm = options.keyWrapAlgorithm ?? newKek.defaultWrapAlgorithm;
  if (typeof algorithm !== "string" || algorithm.length === 0) {
    throw invalidArgument(`${name}.defaultWrapAlgorithm (or options.keyWrapAlgorithm) must be a non-empty string naming the wrap algorithm; it is ${describeValue(algorithm)}.`);
  }
  const stored = wrappedContentKeyOf(parseObject(storedJson));
  const previous = stored[findKey(stored, "KeyId")];
  const previousKeyId = typeof previous === "string" ? previous : "";
  const newKid = newKek.keyId;
  const details = { ...options.details, keyId: newKid };
  const keyOptions: KeyOperationOptions = { abortSignal: options.abortSignal };
  let wrapped: WrapKeyResult;
  try {
    const w = (await newKek.wrapKey(algorithm, wrapInputBytes(protocol, contentKey), keyOptions)) as unknown;
    const r = w as Partial<WrapKeyResult> | null;
    if (typeof r !== "object" || r === null || !(r.encryptedKey instanceof Uint8Array) || r.encryptedKey.length === 0 || (r.keyId !== undefined && typeof r.keyId !== "string")) {
      throw invalidArgument(`${name}.wrapKey must resolve to { encryptedKey: Uint8Array, keyId: string }; it resolved to ${describeValue(w)}.`);
    }
    wrapped = r as WrapKeyResult;
  } catch (e) {
    if (ClientSideEncryptionError.is(e)) throw e;
    throw new ClientSideEncryptionError("KEY_OPERATION_FAILED", `Wrapping the content key with the new key "${newKid}" failed; nothing was changed.`, { cause: e, details });
  }
  let check: Uint8Array;
  try {
    const u = (await newKek.unwrapKey(algorithm, wrapped.encryptedKey, keyOptions)) as unknown;
    if (!(u instanceof Uint8Array)) throw invalidArgument(`${name}.unwrapKey must resolve to a Uint8Array; it resolved to ${describeValue(u)}.`);
    check = contentKeyFromUnwrappedBytes(protocol, u);
  } catch (e) {
    // A typed failure other than "does not unwrap" (INVALID_ARGUMENT, ABORTED, KEY_NOT_FOUND...) is the caller's to see;
    // an unwrap that fails or gives another key means the new key cannot read what it wrote.
    if (ClientSideEncryptionError.is(e) && e.code !== "DECRYPTION_FAILED") throw e;
    check = new Uint8Array(0);
  }
  try {
    if (!equalBytes(check, contentKey)) {
      throw new ClientSideEncryptionError("KEY_OPERATION_FAILED", `The new key "${newKid}" did not unwrap its own wrap of the content key; nothing was changed.`, { details });
    }
  } finally {
    check.fill(0);
  }
  const keyId = wrapped.keyId || newKid;
  return {
    encryptionDataJson: replaceWrappedContentKey(storedJson, { keyId, encryptedKey: wrapped.encryptedKey, algorithm }),
    previousKeyId,
    keyId,
    keyWrapAlgorithm: algorithm,
  };
}
