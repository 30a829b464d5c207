// Caller-value checks and safe error text (issue 14). The same file exists in @azure-cse/storage-queue; both
// belong in core-envelope once it offers them (see the issue-14 report).
import {
  ClientSideEncryptionError,
  SUPPORTED_PROTOCOLS,
  type ClientSideEncryptionPolicy,
  type KeyEncryptionKey,
} from "@azure-cse/core-envelope";

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;
const escapeChar = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;

/** `"value"` with JSON string escaping plus \u007f-\u009f, \u2028 and \u2029, cut to `max` characters first. */
export function quote(value: string, max = 200): string {
  const cut = value.length > max ? `${value.slice(0, max)}…` : value;
  return JSON.stringify(cut).replace(UNSAFE, escapeChar);
}

/** What a caller passed, for an INVALID_ARGUMENT message (never the value: it could be a secret). */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (Array.isArray(value)) return "an array";
  if (value instanceof Uint8Array) return "a Uint8Array";
  if (typeof value === "object" && typeof (value as { then?: unknown }).then === "function") return "a Promise";
  if (typeof value === "object") return "an object";
  return `a ${typeof value}`;
}

export function invalidArgument(message: string): ClientSideEncryptionError {
  return new ClientSideEncryptionError("INVALID_ARGUMENT", message);
}

/**
 * The same error with any control character of its message escaped. Core errors quote stored key ids
 * (KEY_NOT_FOUND, KID_MISMATCH); this keeps them from writing raw terminal controls. Errors whose message is
 * already clean are returned unchanged (same object).
 */
export function safeError<E>(e: E): E {
  if (!ClientSideEncryptionError.is(e)) return e;
  UNSAFE.lastIndex = 0;
  if (!UNSAFE.test(e.message)) return e;
  UNSAFE.lastIndex = 0;
  const clean = new ClientSideEncryptionError(e.code, e.message.replace(UNSAFE, escapeChar), { cause: e.cause, details: { ...e.details } });
  return clean as E;
}

/** Awaits `p`, rethrowing failures through `safeError`. */
export async function safely<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    throw safeError(e);
  }
}

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

/** A key-encryption key argument (e.g. the new key of a rotation), checked like the policy's. */
export function guardKek(kek: unknown, name: string): KeyEncryptionKey {
  checkKek(kek, name);
  return kek as KeyEncryptionKey;
}
