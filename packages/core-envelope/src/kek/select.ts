// Key selection and unwrap on read, shared by the Node backend (envelope.ts) and the Web Crypto backend
// (web/envelope.ts). Pure: no Node built-in, so the web entry can include it.
import { ClientSideEncryptionError, decryptionFailed, invalidArgument } from "../errors.js";
import { escapeForDisplay } from "../internal/bytes.js";
import type { ClientSideEncryptionPolicy } from "../policy.js";
import type { EncryptionData } from "../schema/encryption-data.js";
import type { KeyEncryptionKey, KeyOperationOptions } from "./types.js";

export function checkKeyEncryptionKey(kek: unknown, what: string): asserts kek is KeyEncryptionKey {
  const k = kek as Partial<KeyEncryptionKey> | null;
  if (typeof k !== "object" || k === null || typeof k.keyId !== "string" || k.keyId.length === 0 || typeof k.wrapKey !== "function" || typeof k.unwrapKey !== "function") {
    throw invalidArgument(`${what} must be a KeyEncryptionKey: an object with a non-empty string keyId and wrapKey/unwrapKey functions.`);
  }
}

/** Stored key ids are attacker-controlled and unbounded (queue envelopes): messages show at most 128 characters, escaped. */
export function shownKeyId(keyId: string): string {
  return escapeForDisplay(keyId, 128);
}

/**
 * Key selection on read (documented in docs/format.md):
 * 1. the configured keyEncryptionKey when its keyId equals the stored KeyId exactly;
 * 2. otherwise the keyResolver, whose key must report exactly the stored KeyId;
 * 3. otherwise KID_MISMATCH (a key is configured but for another id) or KEY_NOT_FOUND (no key at all).
 */
export async function selectKeyEncryptionKey(keyId: string, policy: ClientSideEncryptionPolicy, options: KeyOperationOptions = {}): Promise<KeyEncryptionKey> {
  if (typeof policy !== "object" || policy === null) throw invalidArgument("The encryption policy must be an object (ClientSideEncryptionPolicy).");
  const configured = policy.keyEncryptionKey;
  if (configured) checkKeyEncryptionKey(configured, "keyEncryptionKey");
  if (configured && configured.keyId === keyId) return configured;
  if (policy.keyResolver !== undefined && typeof policy.keyResolver !== "function") throw invalidArgument("keyResolver must be a function (keyId) => KeyEncryptionKey | undefined.");
  if (policy.keyResolver) {
    let resolved: KeyEncryptionKey | undefined;
    try {
      resolved = await policy.keyResolver(keyId, options);
    } catch (e) {
      if (ClientSideEncryptionError.is(e)) throw e;
      throw new ClientSideEncryptionError("KEY_OPERATION_FAILED", `The key resolver failed for key "${shownKeyId(keyId)}".`, { cause: e, details: { keyId } });
    }
    if (resolved !== undefined && resolved !== null) checkKeyEncryptionKey(resolved, "The value returned by keyResolver");
    if (!resolved) {
      throw new ClientSideEncryptionError("KEY_NOT_FOUND", `The key resolver has no key "${shownKeyId(keyId)}", which encrypted this data.`, { details: { keyId } });
    }
    if (resolved.keyId !== keyId) {
      throw new ClientSideEncryptionError("KID_MISMATCH", `The resolver returned key "${shownKeyId(resolved.keyId)}" for stored key id "${shownKeyId(keyId)}".`, { details: { keyId, resolvedKeyId: resolved.keyId } });
    }
    return resolved;
  }
  if (configured) {
    throw new ClientSideEncryptionError(
      "KID_MISMATCH",
      `The data was encrypted with key "${shownKeyId(keyId)}" but the configured key is "${shownKeyId(configured.keyId)}"; configure that key or a keyResolver.`,
      { details: { keyId, configuredKeyId: configured.keyId } },
    );
  }
  throw new ClientSideEncryptionError("KEY_NOT_FOUND", `No keyEncryptionKey or keyResolver is configured to decrypt data encrypted with key "${shownKeyId(keyId)}".`, { details: { keyId } });
}

/**
 * Refuses a protocol the policy does not read, selects the key (above) and unwraps the stored wrapped key; returns the
 * unwrapped bytes for the backend's own CEK check. A typed error of the key whose code is in `unusableKeyCodes` (the key
 * cannot be used for this stored data: its Algorithm, a public-only key) is KEY_OPERATION_FAILED; other typed
 * operational errors (Key Vault throttling, permissions, aborts) pass through; anything else is an unwrap failure,
 * reported exactly like any other decryption failure.
 */
export async function unwrapWithSelectedKey(
  data: EncryptionData,
  policy: ClientSideEncryptionPolicy,
  options: KeyOperationOptions,
  unusableKeyCodes: readonly string[],
): Promise<Uint8Array> {
  const { keyId, encryptedKey, algorithm } = data.wrappedContentKey;
  const allowed = policy.allowedReadProtocols;
  if (allowed && !allowed.includes(data.protocol)) {
    throw new ClientSideEncryptionError(
      "UNSUPPORTED_PROTOCOL",
      `Protocol ${data.protocol} data is refused by this policy (allowedReadProtocols: ${allowed.join(", ") || "none"}); it was not decrypted.`,
      { details: { protocol: data.protocol } },
    );
  }
  const kek = await selectKeyEncryptionKey(keyId, policy, options);
  let unwrapped: unknown;
  try {
    unwrapped = await kek.unwrapKey(algorithm, encryptedKey, options);
  } catch (e) {
    if (ClientSideEncryptionError.is(e) && unusableKeyCodes.includes(e.code)) {
      throw new ClientSideEncryptionError("KEY_OPERATION_FAILED", `Key "${shownKeyId(kek.keyId)}" cannot unwrap this data's content key: ${e.message}`, { cause: e, details: { keyId: kek.keyId } });
    }
    if (ClientSideEncryptionError.is(e) && e.code !== "DECRYPTION_FAILED") throw e;
    throw decryptionFailed();
  }
  if (!(unwrapped instanceof Uint8Array)) throw invalidArgument(`The unwrapKey of key "${shownKeyId(kek.keyId)}" must resolve to a Uint8Array.`);
  return unwrapped;
}
