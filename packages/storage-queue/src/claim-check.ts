// Opt-in claim check for payloads too large for one queue message: the payload goes to a caller-supplied
// store (e.g. an encrypted blob container), and a small encrypted pointer message is sent instead. This
// package does not depend on any blob package: callers implement `ClaimCheckStore`.
import { createHash, randomUUID } from "node:crypto";
import { ClientSideEncryptionError, DECRYPTION_FAILED_MESSAGE, toTypedError } from "@azure-cse/core-envelope";
import { isServiceFailure } from "@azure-cse/core-envelope/internal";
import type { QueueSendMessageOptions } from "@azure/storage-queue";
import { describeValue, quoteForDisplay as quote } from "@azure-cse/core-envelope/internal";

/** Options passed to every store call. */
export interface ClaimCheckStoreOptions {
  /** The caller's signal (the Azure SDKs' `AbortSignalLike`, so it can be handed to any Azure client). */
  abortSignal?: QueueSendMessageOptions["abortSignal"];
}

/**
 * Where oversized payloads are kept. Implement it over storage that encrypts at rest on the client, e.g. an
 * `EncryptedContainerClient` from `@azure-cse/storage-blob` (`put` = `getBlobClient(name).uploadData`, `get` =
 * `downloadToBuffer`, `delete` = `deleteIfExists`): the queue client hands over plaintext, so the store decides
 * whether the payload is encrypted. The pointer message itself is always encrypted and carries the payload's
 * SHA-256, so a payload that was replaced or altered in the store is refused on receive.
 */
export interface ClaimCheckStore {
  /** Stores `payload` under `name` (a fresh name per message; overwriting is not expected). */
  put(name: string, payload: Uint8Array, options?: ClaimCheckStoreOptions): Promise<void>;
  /** The payload stored under `name`, or `undefined` when there is none (throwing a NOT_FOUND `ClientSideEncryptionError` works too). */
  get(name: string, options?: ClaimCheckStoreOptions): Promise<Uint8Array | undefined>;
  /** Removes the payload; a missing payload is not an error. */
  delete(name: string, options?: ClaimCheckStoreOptions): Promise<void>;
}

/** Turns claim checks on for an `EncryptedQueueClient` (sending and resolving). */
export interface ClaimCheckOptions {
  store: ClaimCheckStore;
  /**
   * Payloads (bytes, before message encoding) longer than this always go to the store. Default: only payloads
   * that do not fit in one encrypted message (the PAYLOAD_TOO_LARGE case) go to the store.
   */
  thresholdBytes?: number;
  /** Prefix of generated payload names; default `"claim-check/"`. Names are `${prefix}${randomUUID()}`. */
  namePrefix?: string;
  /** Largest payload accepted for the store (bytes); default 256 MiB. Larger payloads throw PAYLOAD_TOO_LARGE. */
  maxPayloadBytes?: number;
}

/** What a pointer message names: the stored payload. */
export interface ClaimCheckReference {
  /** Name of the payload in the store. */
  name: string;
  /** Payload length in bytes. */
  size: number;
}

/** Top-level key of a pointer message's (encrypted) JSON body. Reserved: a message body of exactly this shape is a pointer. */
export const CLAIM_CHECK_POINTER_KEY = "azcse.claimCheck";
/** Version of the pointer body written. */
export const CLAIM_CHECK_POINTER_VERSION = 1;

const DEFAULT_PREFIX = "claim-check/";
const DEFAULT_MAX_PAYLOAD = 256 * 1024 * 1024;

interface Pointer extends ClaimCheckReference {
  sha256: string;
}

export interface ResolvedClaimCheck {
  store: ClaimCheckStore;
  thresholdBytes: number | undefined;
  namePrefix: string;
  maxPayloadBytes: number;
}

/** Validates the options once, at client construction. */
export function checkClaimCheckOptions(options: ClaimCheckOptions | undefined): ResolvedClaimCheck | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new ClientSideEncryptionError("INVALID_ARGUMENT", `claimCheck must be an object with a store; it is ${describeValue(options)}.`);
  }
  const store = options.store;
  if (!store || typeof store.put !== "function" || typeof store.get !== "function" || typeof store.delete !== "function") {
    throw new ClientSideEncryptionError("INVALID_ARGUMENT", "claimCheck.store must implement put(name, payload), get(name) and delete(name).");
  }
  const { thresholdBytes, maxPayloadBytes } = options;
  if (thresholdBytes !== undefined && !(Number.isSafeInteger(thresholdBytes) && thresholdBytes >= 0)) {
    throw new ClientSideEncryptionError("INVALID_ARGUMENT", "claimCheck.thresholdBytes must be a non-negative integer.");
  }
  if (maxPayloadBytes !== undefined && !(Number.isSafeInteger(maxPayloadBytes) && maxPayloadBytes > 0)) {
    throw new ClientSideEncryptionError("INVALID_ARGUMENT", "claimCheck.maxPayloadBytes must be a positive integer.");
  }
  const namePrefix = options.namePrefix ?? DEFAULT_PREFIX;
  if (typeof namePrefix !== "string" || namePrefix.length > 512) throw new ClientSideEncryptionError("INVALID_ARGUMENT", "claimCheck.namePrefix must be a string of at most 512 characters.");
  return { store, thresholdBytes, namePrefix, maxPayloadBytes: maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD };
}

export function newClaimCheckName(cc: ResolvedClaimCheck): string {
  return `${cc.namePrefix}${randomUUID()}`;
}

function digest(payload: Uint8Array): string {
  return createHash("sha256").update(payload).digest("base64");
}

/** The pointer body (plaintext of the pointer message): compact JSON with one reserved top-level key. */
export function formatPointer(name: string, payload: Uint8Array): string {
  return JSON.stringify({ [CLAIM_CHECK_POINTER_KEY]: { v: CLAIM_CHECK_POINTER_VERSION, name, size: payload.byteLength, sha256: digest(payload) } });
}

const B64_SHA256 = /^[A-Za-z0-9+/]{43}=$/;

/**
 * Strict pointer detection on a decrypted body: a JSON object whose only key is `azcse.claimCheck`, holding
 * `{v: 1, name, size, sha256}` exactly. Anything else is an ordinary message (returns undefined). A body that
 * has the reserved key but a wrong shape or version is an error, never an ordinary message.
 */
export function parsePointer(body: Buffer): Pointer | undefined {
  // Cheap pre-check before JSON parsing: pointers are small and start with the reserved key.
  if (body.length > 4096 || !body.subarray(0, 24).toString("latin1").startsWith(`{"${CLAIM_CHECK_POINTER_KEY}"`)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return undefined;
  const keys = Object.keys(parsed);
  if (keys.length !== 1 || keys[0] !== CLAIM_CHECK_POINTER_KEY) return undefined;
  const p = (parsed as Record<string, unknown>)[CLAIM_CHECK_POINTER_KEY] as Record<string, unknown> | null;
  const ok =
    typeof p === "object" &&
    p !== null &&
    p.v === CLAIM_CHECK_POINTER_VERSION &&
    typeof p.name === "string" &&
    p.name.length > 0 &&
    typeof p.size === "number" &&
    Number.isSafeInteger(p.size) &&
    p.size >= 0 &&
    typeof p.sha256 === "string" &&
    B64_SHA256.test(p.sha256);
  if (!ok) {
    throw new ClientSideEncryptionError(
      "INVALID_ENCRYPTION_DATA",
      `The message is a claim-check pointer ("${CLAIM_CHECK_POINTER_KEY}") of an unknown version or shape; it was written by a newer or different library.`,
    );
  }
  return { name: p.name as string, size: p.size as number, sha256: p.sha256 as string };
}

function storeError(e: unknown, what: string, name: string, options: ClaimCheckStoreOptions): ClientSideEncryptionError {
  if (ClientSideEncryptionError.is(e)) {
    if (e.details.claimCheckName !== undefined) return e;
    return new ClientSideEncryptionError(e.code, e.message, { cause: e.cause, details: { ...e.details, claimCheckName: name } });
  }
  // A service answer or transport failure (RestError-like, AbortError): core's one mapping (404 → NOT_FOUND,
  // 412 → CONDITION_NOT_MET, aborts → ABORTED, ...), as for blobs and tables.
  if (isServiceFailure(e)) return toTypedError(e, { claimCheckName: name }, { callerSignal: options.abortSignal });
  return new ClientSideEncryptionError("SERVICE_ERROR", `The claim-check store failed to ${what} payload ${quote(name)}.`, {
    cause: e,
    details: { claimCheckName: name },
  });
}

export function missingPayload(name: string, cause?: unknown): ClientSideEncryptionError {
  return new ClientSideEncryptionError(
    "NOT_FOUND",
    `The message is a claim-check pointer, but its payload ${quote(name)} is not in the store (deleted, expired, or never written). Delete the message or move it to a poison queue.`,
    { details: { claimCheckName: name }, ...(cause === undefined ? {} : { cause }) },
  );
}

/** Stores a payload; failures become typed errors naming the payload (never its content). */
export async function putPayload(cc: ResolvedClaimCheck, name: string, payload: Uint8Array, options: ClaimCheckStoreOptions): Promise<void> {
  if (payload.byteLength > cc.maxPayloadBytes) {
    throw new ClientSideEncryptionError(
      "PAYLOAD_TOO_LARGE",
      `The message payload has ${payload.byteLength} bytes, over claimCheck.maxPayloadBytes (${cc.maxPayloadBytes}).`,
      { details: { payloadBytes: payload.byteLength, limit: cc.maxPayloadBytes } },
    );
  }
  try {
    await cc.store.put(name, payload, options);
  } catch (e) {
    throw storeError(e, "store", name, options);
  }
}

/** Fetches and verifies a pointed-to payload: NOT_FOUND when missing, DECRYPTION_FAILED when it is not the payload the pointer was made for. */
export async function resolvePointer(cc: ResolvedClaimCheck | undefined, pointer: Pointer, options: ClaimCheckStoreOptions): Promise<Buffer> {
  if (!cc) {
    throw new ClientSideEncryptionError(
      "UNSUPPORTED_OPERATION",
      `The message is a claim-check pointer to payload ${quote(pointer.name)}, but this client has no claimCheck store configured to resolve it.`,
      { details: { claimCheckName: pointer.name } },
    );
  }
  let stored: Uint8Array | undefined;
  try {
    stored = await cc.store.get(pointer.name, options);
  } catch (e) {
    const typed = storeError(e, "read", pointer.name, options);
    if (typed.code === "NOT_FOUND") throw missingPayload(pointer.name, e);
    throw typed;
  }
  if (stored === undefined || stored === null) throw missingPayload(pointer.name);
  if (!(stored instanceof Uint8Array)) {
    throw new ClientSideEncryptionError("INVALID_ARGUMENT", `claimCheck.store.get must resolve to a Uint8Array or undefined; it resolved to ${describeValue(stored)}.`, {
      details: { claimCheckName: pointer.name },
    });
  }
  const bytes = Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
  if (bytes.length !== pointer.size || digest(bytes) !== pointer.sha256) {
    // The store returned other bytes than were sent (replaced or altered): the payload fails authentication
    // against its pointer, reported like every other authentication failure (one code, one message).
    throw new ClientSideEncryptionError("DECRYPTION_FAILED", DECRYPTION_FAILED_MESSAGE, { details: { claimCheckName: pointer.name } });
  }
  return bytes;
}

/** Deletes a payload after its message; store failures become typed errors. */
export async function deletePayload(cc: ResolvedClaimCheck | undefined, name: string, options: ClaimCheckStoreOptions): Promise<void> {
  if (!cc) throw new ClientSideEncryptionError("INVALID_ARGUMENT", "claimCheckName was given, but this client has no claimCheck store configured.");
  try {
    await cc.store.delete(name, options);
  } catch (e) {
    throw storeError(e, "delete", name, options);
  }
}
