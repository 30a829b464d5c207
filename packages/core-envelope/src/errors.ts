/**
 * Every failure a caller can act on has a stable `code`. Messages never contain key material or
 * plaintext; "decryption failed" is deliberately one code and one message whatever the cause
 * (GCM tag, CBC padding, key unwrap or CEK prefix), so that no padding or unwrap oracle exists.
 */
export type ClientSideEncryptionErrorCode =
  /** An operation would read or write unencrypted data while encryption is required. */
  | "ENCRYPTION_REQUIRED"
  /** No key-encryption key is configured, or the resolver returned none for the stored key id. */
  | "KEY_NOT_FOUND"
  /** The configured or resolved key reports a different key id than the one stored with the data. */
  | "KID_MISMATCH"
  /** The key-encryption key could not be used for an operational reason (service, permission, network). */
  | "KEY_OPERATION_FAILED"
  /** The encryption metadata is missing required fields, malformed or out of bounds. */
  | "INVALID_ENCRYPTION_DATA"
  /** The encryption metadata names a protocol version this library does not know. */
  | "UNSUPPORTED_PROTOCOL"
  /** Content or key could not be authenticated/decrypted with the given key. Cause not disclosed. */
  | "DECRYPTION_FAILED"
  /** A GCM region's nonce does not match its position: regions were reordered, dropped or duplicated. */
  | "REGION_OUT_OF_ORDER"
  /** Writing protocol 1.0 without the explicit deprecated opt-in. */
  | "DEPRECATED_PROTOCOL"
  /** A caller-supplied argument is invalid (sizes, ranges, names, reserved metadata keys). */
  | "INVALID_ARGUMENT"
  /** The operation cannot be performed with client-side encryption (page/append writes, merge...). */
  | "UNSUPPORTED_OPERATION"
  /** The stored object changed while it was being read or updated (ETag condition failed). */
  | "CONDITION_NOT_MET"
  /** The stored object does not exist. */
  | "NOT_FOUND"
  /** The encrypted payload would exceed a service size limit. */
  | "PAYLOAD_TOO_LARGE"
  /** The storage or key service returned an error that is not one of the above. */
  | "SERVICE_ERROR"
  /** The operation was aborted through its AbortSignal. */
  | "ABORTED"
  /** The caller's data source (a stream or file being uploaded) failed while it was read; its error is the `cause`. */
  | "SOURCE_ERROR";

const MARKER = Symbol.for("@azure-cse/core-envelope.ClientSideEncryptionError");

/** Base error of every `@azure-cse` package. Check `code`, not the message. */
export class ClientSideEncryptionError extends Error {
  readonly code: ClientSideEncryptionErrorCode;
  /** Extra, non-secret context (key id, blob name, message id, HTTP status...). */
  readonly details: Readonly<Record<string, string | number | boolean | undefined>>;

  constructor(
    code: ClientSideEncryptionErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, string | number | boolean | undefined> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ClientSideEncryptionError";
    this.code = code;
    this.details = Object.freeze({ ...(options.details ?? {}) });
    // The cross-copy marker `is()` checks. Set here rather than declared as a field, so the class's declaration
    // carries no unique-symbol member and the copies in the package's entry points (root, /internal) are one type.
    (this as unknown as Record<symbol, boolean>)[MARKER] = true;
  }

  /** True for errors thrown by any copy of this library (works across duplicate installs). */
  static is(value: unknown): value is ClientSideEncryptionError {
    return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[MARKER] === true;
  }

  static hasCode(value: unknown, code: ClientSideEncryptionErrorCode): value is ClientSideEncryptionError {
    return ClientSideEncryptionError.is(value) && value.code === code;
  }
}

/** The one message used for every decryption failure. */
export const DECRYPTION_FAILED_MESSAGE =
  "Decryption failed: the data or its wrapped key could not be authenticated with the key-encryption key.";

/**
 * The single, deliberately uninformative decryption failure: same code, message and (empty) details for
 * a GCM tag, CBC padding, key unwrap or CEK prefix failure. The cause is never attached.
 */
export function decryptionFailed(): ClientSideEncryptionError {
  return new ClientSideEncryptionError("DECRYPTION_FAILED", DECRYPTION_FAILED_MESSAGE);
}

export function invalidEncryptionData(reason: string): ClientSideEncryptionError {
  return new ClientSideEncryptionError("INVALID_ENCRYPTION_DATA", `Invalid encryption metadata: ${reason}`);
}

export function invalidArgument(message: string): ClientSideEncryptionError {
  return new ClientSideEncryptionError("INVALID_ARGUMENT", message);
}

/** The caller's source failed while being read: its own error is the cause (the message is never the data). */
export function sourceFailed(cause: unknown): ClientSideEncryptionError {
  const what = cause instanceof Error ? `${cause.name}${(cause as { code?: unknown }).code ? ` ${String((cause as { code?: unknown }).code)}` : ""}` : typeof cause;
  return new ClientSideEncryptionError("SOURCE_ERROR", `The data source failed while it was being read (${what}); nothing was written. See the error's cause.`, { cause });
}

export function abortError(): ClientSideEncryptionError {
  return new ClientSideEncryptionError("ABORTED", "The operation was aborted.");
}

/** Throws an ABORTED error when the signal has fired. */
export function throwIfAborted(signal: { aborted: boolean } | undefined): void {
  if (signal?.aborted) throw abortError();
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
