// Caller-value checks and safe error text shared by the service packages (@azure-cse/storage-queue and
// @azure-cse/data-tables had identical copies; issues 14 and 15). Messages name the option and describe what
// was passed, never the value itself (it could be a secret).
import { ClientSideEncryptionError, describeValue, invalidArgument as invalidArgumentError } from "../errors.js";
import type { KeyEncryptionKey } from "../kek/types.js";
import type { ClientSideEncryptionPolicy } from "../policy.js";
import { SUPPORTED_PROTOCOLS } from "../schema/encryption-data.js";
import { escapeUnsafeCharacters } from "./display.js";

/**
 * An INVALID_ARGUMENT error with `message` (the core's own constructor of it).
 *
 * @internal Shared by the @azure-cse service packages; not part of the supported API.
 */
export const invalidArgument: (message: string) => ClientSideEncryptionError = invalidArgumentError;

/**
 * The same error with any display-unsafe character of its message escaped. Core errors quote stored key ids
 * (KEY_NOT_FOUND, KID_MISMATCH); this keeps them from writing raw terminal controls. Errors whose message is
 * already clean are returned unchanged (same object).
 *
 * @internal Shared by the @azure-cse service packages; not part of the supported API.
 */
export function safeError<E>(e: E): E {
  if (!ClientSideEncryptionError.is(e)) return e;
  const message = escapeUnsafeCharacters(e.message);
  if (message === e.message) return e;
  const clean = new ClientSideEncryptionError(e.code, message, { cause: e.cause, details: { ...e.details } });
  return clean as E;
}

/**
 * Awaits `p`, rethrowing failures through `safeError`.
 *
 * @internal Shared by the @azure-cse service packages; not part of the supported API.
 */
export async function safely<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    throw safeError(e);
  }
}

/**
 * INVALID_ARGUMENT unless `options` is undefined or a plain object.
 *
 * @internal Shared by the @azure-cse service packages; not part of the supported API.
 */
export function checkOptionsObject(options: unknown, name = "options"): void {
  if (options !== undefined && (typeof options !== "object" || options === null || Array.isArray(options))) {
    throw invalidArgument(`${name} must be an object; it is ${describeValue(options)}.`);
  }
}

function checkKek(kek: unknown, name: string): void {
  const k = kek as Partial<KeyEncryptionKey> | null;
  if (typeof k !== "object" || k === null || typeof k.keyId !== "string" || k.keyId.length === 0 || typeof k.wrapKey !== "function" || typeof k.unwrapKey !== "function") {
    throw invalidArgument(`${name} must be a KeyEncryptionKey (a non-empty string keyId, wrapKey() and unwrapKey()); it is ${describeValue(kek)}${typeof kek === "object" && kek !== null ? " without them" : ""}.`);
  }
}

const BOOLEAN_OPTIONS = ["requireEncryption", "allowDeprecatedV1Encryption", "allowMisorderedRegions"] as const;

/**
 * Validates a ClientSideEncryptionPolicy when a client is made or a function is called (INVALID_ARGUMENT naming
 * the option) and returns a shallow copy. What keys and resolvers return is checked by the core on every use
 * (a resolver returning a non-key, a wrapKey or unwrapKey resolving to the wrong type: INVALID_ARGUMENT).
 *
 * @internal Shared by the @azure-cse service packages; not part of the supported API.
 */
export function guardPolicy(policy: unknown, name = "policy"): ClientSideEncryptionPolicy {
  if (typeof policy !== "object" || policy === null || Array.isArray(policy)) {
    throw invalidArgument(`${name} must be a ClientSideEncryptionPolicy object; it is ${describeValue(policy)}.`);
  }
  const p = policy as ClientSideEncryptionPolicy;
  const out: ClientSideEncryptionPolicy = { ...p };
  if (p.keyEncryptionKey !== undefined) checkKek(p.keyEncryptionKey, `${name}.keyEncryptionKey`);
  if (p.keyResolver !== undefined && typeof p.keyResolver !== "function") {
    throw invalidArgument(`${name}.keyResolver must be a function (keyId) => KeyEncryptionKey | undefined; it is ${describeValue(p.keyResolver)}.`);
  }
  for (const o of BOOLEAN_OPTIONS) {
    if (p[o] !== undefined && typeof p[o] !== "boolean") throw invalidArgument(`${name}.${o} must be a boolean; it is ${describeValue(p[o])}.`);
  }
  if (p.keyWrapAlgorithm !== undefined && (typeof p.keyWrapAlgorithm !== "string" || p.keyWrapAlgorithm.length === 0)) {
    throw invalidArgument(`${name}.keyWrapAlgorithm must be a non-empty string; it is ${describeValue(p.keyWrapAlgorithm)}.`);
  }
  if (p.encryptionVersion !== undefined && !(["2.0", "2.1", "1.0"] as unknown[]).includes(p.encryptionVersion)) {
    throw invalidArgument(`${name}.encryptionVersion must be "2.0", "2.1" or "1.0".`);
  }
  if (p.allowedReadProtocols !== undefined) {
    const a: unknown = p.allowedReadProtocols;
    if (!Array.isArray(a) || !a.every((v) => (SUPPORTED_PROTOCOLS as readonly unknown[]).includes(v))) {
      throw invalidArgument(`${name}.allowedReadProtocols must be an array of "2.0", "2.1" and "1.0" (e.g. ["2.0", "2.1"]); it is ${describeValue(a)}${Array.isArray(a) ? " holding other values" : ""}.`);
    }
  }
  for (const o of ["regionSize", "maxRegionSize"] as const) {
    const v: unknown = p[o];
    if (v !== undefined && !(typeof v === "number" && Number.isSafeInteger(v) && v > 0)) throw invalidArgument(`${name}.${o} must be a positive integer; it is ${describeValue(v)}.`);
  }
  if (p.random !== undefined && typeof p.random !== "function") throw invalidArgument(`${name}.random must be a function; it is ${describeValue(p.random)}.`);
  return out;
}

/**
 * A key-encryption key argument (e.g. the new key of a rotation), checked like the policy's.
 *
 * @internal Shared by the @azure-cse service packages; not part of the supported API.
 */
export function guardKek(kek: unknown, name: string): KeyEncryptionKey {
  checkKek(kek, name);
  return kek as KeyEncryptionKey;
}
