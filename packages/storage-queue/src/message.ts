// Encrypting and decrypting one queue MessageText, independent of any QueueClient (spec §1.2-§1.5).
import {
  ClientSideEncryptionError,
  RegionOrderValidator,
  V2_DEFAULT_REGION_SIZE,
  V2_NONCE_LENGTH,
  V2_TAG_LENGTH,
  createContentEncryption,
  parseEncryptionData,
  regionNonce,
  regionOrderCheckEnabled,
  unwrapContentKey,
  type AbortSignalLike,
  type ClientSideEncryptionPolicy,
  type EncryptionData,
  type EncryptionProtocol,
  DEFAULT_MAX_ENCRYPTION_DATA_LENGTH,
} from "@azure-cse/core-envelope";
import {
  checkOptionsObject,
  describeValue,
  guardPolicy,
  invalidArgument,
  safely,
  decryptCbcBuffer,
  decryptGcmBuffer,
  encryptCbcBuffer,
  encryptGcmBuffer,
  decodeBase64Strict,
  decryptionFailed,
} from "@azure-cse/core-envelope/internal";
import type { ClaimCheckReference } from "./claim-check.js";
import {
  MESSAGE_ENCODINGS,
  QUEUE_MESSAGE_MAX_LENGTH,
  base64Length,
  detectEnvelope,
  formatEnvelope,
  messageCiphertextLength,
  payloadTooLarge,
  plaintextBudget,
  type MessageEncoding,
} from "./envelope.js";

/**
 * The 12-byte GCM nonce written for every 2.0 message: `00000000 0100000000000000`, the nonce .NET v12 writes
 * for a message's single region (4 zero bytes, then the region counter 1 as 8-byte little-endian).
 *
 * Why this one (spec §0 #4, §1.2): every message has its own fresh content key, so a fixed nonce is never reused
 * under one key and any nonce is safe. What differs is acceptance: Python and older .NET readers accept any nonce,
 * but the 2026 .NET decryptor checks v2 region nonces against its counter patterns, and a random nonce (Python's
 * writer) fails that check. .NET's own nonce is the one value that reader must accept, because it is what .NET
 * itself writes; the Python reader takes the nonce from the message, so it accepts it too. (Hex string.)
 */
export const QUEUE_V2_NONCE = "000000000100000000000000";

/** A fresh copy each call, so nothing can alter the nonce of later messages. */
const queueV2Nonce = (): Buffer => regionNonce("dotnet", 0);

export interface QueueMessageEncryptOptions {
  /** How the payload is encoded before encryption; default `"none"`. */
  messageEncoding?: MessageEncoding;
  /** Longest MessageText allowed; default the service limit, 65536. */
  maxMessageLength?: number;
  abortSignal?: AbortSignalLike;
}

export interface QueueMessageDecryptOptions {
  /** How the payload was encoded before encryption; default `"none"`. */
  messageEncoding?: MessageEncoding;
  abortSignal?: AbortSignalLike;
}

/** A message after decryption (or a plaintext message, when the policy allows reading those). */
export interface DecryptedQueueMessage {
  /** The payload as text: UTF-8 decoding of `messageBytes` (invalid sequences become U+FFFD; use `messageBytes` for binary payloads). */
  messageText: string;
  /** The exact payload bytes, after decryption and message decoding. */
  messageBytes: Buffer;
  /** False only for a plaintext message read with `requireEncryption: false`. */
  encrypted: boolean;
  /** Protocol of an encrypted message. */
  protocol?: EncryptionProtocol;
  /** KeyId of the key-encryption key that wrapped the message's content key. */
  keyId?: string;
  /**
   * Set when the message was an encrypted claim-check pointer that the client resolved: `messageText`/`messageBytes`
   * are then the payload from the store, and `protocol`/`keyId` describe the pointer message. Pass `name` as
   * `claimCheckName` to `deleteMessage` to delete the payload with the message.
   */
  claimCheck?: ClaimCheckReference;
}

export function checkMessageEncoding(encoding: unknown): MessageEncoding {
  if (encoding === undefined) return "none";
  if (typeof encoding === "string" && (MESSAGE_ENCODINGS as readonly string[]).includes(encoding)) return encoding as MessageEncoding;
  throw invalidArgument(`messageEncoding must be "none" or "base64"; it is ${typeof encoding === "string" ? "another string" : describeValue(encoding)}.`);
}

/** `maxMessageLength`: a positive integer, default the service limit. */
export function checkMaxMessageLength(limit: unknown): number {
  if (limit === undefined) return QUEUE_MESSAGE_MAX_LENGTH;
  if (typeof limit !== "number" || !Number.isSafeInteger(limit) || limit <= 0) throw invalidArgument(`maxMessageLength must be a positive integer; it is ${describeValue(limit)}${typeof limit === "number" ? ` (${limit})` : ""}.`);
  return limit;
}

export function payloadBytes(message: string | Uint8Array, name = "message"): Buffer {
  if (typeof message === "string") return Buffer.from(message, "utf8");
  if (message instanceof Uint8Array) return Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  throw invalidArgument(`${name} must be a string or a Uint8Array; it is ${describeValue(message)}.`);
}

/**
 * Encrypts one message into the MessageText to enqueue: a fresh content key per call, the envelope without
 * `EncryptionMode`, and a size check against the 64 KiB service limit before anything is encrypted.
 * An empty message is encrypted like any other (Python would send it unencrypted, quirk Q4).
 */
export async function encryptQueueMessage(message: string | Uint8Array, policy: ClientSideEncryptionPolicy, options: QueueMessageEncryptOptions = {}): Promise<string> {
  return safely(encryptChecked(message, policy, options));
}

async function encryptChecked(message: string | Uint8Array, rawPolicy: ClientSideEncryptionPolicy, options: QueueMessageEncryptOptions): Promise<string> {
  const payload = payloadBytes(message);
  const policy = guardPolicy(rawPolicy);
  checkOptionsObject(options);
  const encoding = checkMessageEncoding(options.messageEncoding);
  const limit = checkMaxMessageLength(options.maxMessageLength);
  if ((policy.encryptionVersion ?? "2.0") === "2.1") {
    throw new ClientSideEncryptionError(
      "UNSUPPORTED_OPERATION",
      'Queue messages are written with protocol "2.0" or "1.0": no SDK writes 2.1 queue messages and Python reads them as unencrypted. Use encryptionVersion "2.0" for queues.',
    );
  }
  const inner = encoding === "base64" ? Buffer.from(payload.toString("base64"), "ascii") : payload;
  // A 2.0 message is one GCM region of at most DataLength (4 MiB) bytes; only a raised maxMessageLength gets here.
  if ((policy.encryptionVersion ?? "2.0") !== "1.0" && inner.length > V2_DEFAULT_REGION_SIZE) {
    throw new ClientSideEncryptionError("PAYLOAD_TOO_LARGE", `A protocol 2.0 queue message holds at most ${V2_DEFAULT_REGION_SIZE} bytes (one region); this one has ${inner.length} after message encoding.`, {
      details: { payloadBytes: payload.length, limit: V2_DEFAULT_REGION_SIZE },
    });
  }
  const enc = await createContentEncryption(policy, { abortSignal: options.abortSignal });
  try {
    const data = enc.encryptionData;
    const dataJson = enc.toJson(false);
    const overhead = formatEnvelope("", dataJson).length;
    const envelopeLength = overhead + base64Length(messageCiphertextLength(data.protocol, inner.length));
    if (envelopeLength > limit) {
      throw payloadTooLarge(payload.length, plaintextBudget(data.protocol, encoding, overhead, limit), envelopeLength, limit, data.protocol, encoding);
    }
    const ciphertext =
      data.protocol === "1.0"
        ? encryptCbcBuffer(enc.contentKey, data.contentEncryptionIV, inner)
        : encryptGcmBuffer(enc.contentKey, queueV2Nonce(), inner);
    return formatEnvelope(ciphertext.toString("base64"), dataJson);
  } finally {
    enc.dispose();
  }
}

function notEncrypted(): ClientSideEncryptionError {
  return new ClientSideEncryptionError(
    "ENCRYPTION_REQUIRED",
    "The message is not encrypted (its text is not an envelope with exactly the keys EncryptedMessageContents and EncryptionData). " +
      "It was not returned because requireEncryption is on; set requireEncryption: false to read plaintext messages.",
  );
}

/**
 * Message decoding after decryption. Content that is not base64 under messageEncoding "base64" is stored data
 * that does not decode: the one DECRYPTION_FAILED (a distinct error would be a format oracle on 1.0 CBC
 * plaintext). Usually the sender did not base64-encode before encrypting; read such queues with "none".
 */
function decodeInner(bytes: Buffer, encoding: MessageEncoding): Buffer {
  if (encoding === "none") return bytes;
  const decoded = decodeBase64Strict(bytes.toString("latin1"));
  if (!decoded) throw decryptionFailed();
  return decoded;
}

function result(bytes: Buffer, encoding: MessageEncoding, data?: EncryptionData): DecryptedQueueMessage {
  const messageBytes = decodeInner(bytes, encoding);
  return {
    messageText: messageBytes.toString("utf8"),
    messageBytes,
    encrypted: data !== undefined,
    ...(data ? { protocol: data.protocol, keyId: data.wrappedContentKey.keyId } : {}),
  };
}

/** Decrypts `C` of a 2.x message: regions of `DataLength + 28` bytes; a single region may use any nonce. */
function decryptV2(cek: Uint8Array, data: EncryptionData & { protocol: "2.0" | "2.1" }, c: Buffer, policy: ClientSideEncryptionPolicy): Buffer {
  // .NET may write an empty body as zero regions (spec §1.3): empty plaintext. The content key was unwrapped
  // before this (a forged KeyId or EncryptedKey has already failed); there is no stored region to verify.
  if (c.length === 0) return Buffer.alloc(0);
  const regionStored = data.encryptedRegionInfo.dataLength + V2_NONCE_LENGTH + V2_TAG_LENGTH;
  const regions: Buffer[] = [];
  for (let off = 0; off < c.length; off += regionStored) regions.push(c.subarray(off, off + regionStored));
  // Python writes one region with a random nonce, so the order check only applies when there are several.
  const validator = regions.length > 1 ? new RegionOrderValidator(0, regionOrderCheckEnabled(policy)) : undefined;
  const out: Buffer[] = [];
  for (const r of regions) {
    if (validator && r.length >= V2_NONCE_LENGTH) validator.check(r.subarray(0, V2_NONCE_LENGTH));
    out.push(decryptGcmBuffer(cek, r));
  }
  return Buffer.concat(out);
}

/**
 * Decrypts one MessageText. Plaintext messages (anything that is not a strict envelope, including JSON such as
 * `{"a":1}`, `123` or `null`, and the empty message) throw ENCRYPTION_REQUIRED unless the policy sets
 * `requireEncryption: false`, in which case they are returned unchanged with `encrypted: false`.
 */
export async function decryptQueueMessage(messageText: string, policy: ClientSideEncryptionPolicy, options: QueueMessageDecryptOptions = {}): Promise<DecryptedQueueMessage> {
  return safely(decryptChecked(messageText, policy, options));
}

/**
 * Longest EncryptionData accepted inside an envelope, in characters of the message text: core's bound for
 * serialized metadata plus room for the two key names and punctuation. Every writer's is under 1 KiB.
 */
const MAX_ENVELOPE_OVERHEAD = DEFAULT_MAX_ENCRYPTION_DATA_LENGTH + 64;

async function decryptChecked(messageText: string, rawPolicy: ClientSideEncryptionPolicy, options: QueueMessageDecryptOptions): Promise<DecryptedQueueMessage> {
  if (typeof messageText !== "string") throw invalidArgument(`messageText must be a string; it is ${describeValue(messageText)}.`);
  const policy = guardPolicy(rawPolicy);
  checkOptionsObject(options);
  const encoding = checkMessageEncoding(options.messageEncoding);
  const envelope = detectEnvelope(messageText);
  if (!envelope) {
    if (policy.requireEncryption ?? true) throw notEncrypted();
    return result(Buffer.from(messageText, "utf8"), encoding);
  }
  // From here on the message claims to be encrypted: every defect is an error, never a plaintext fallback.
  const rawData = envelope.encryptionData;
  if (typeof rawData !== "object" || rawData === null || Array.isArray(rawData)) {
    throw new ClientSideEncryptionError("INVALID_ENCRYPTION_DATA", "Invalid encryption metadata: EncryptionData is not a JSON object");
  }
  if (typeof envelope.encryptedMessageContents !== "string") {
    throw new ClientSideEncryptionError("INVALID_ENCRYPTION_DATA", "Invalid encryption metadata: EncryptedMessageContents is not a string");
  }
  // The EncryptionData object came out of the message's JSON, so its text is at most everything but the
  // contents string: bound it like core bounds serialized metadata (parseEncryptionData only measures strings).
  if (messageText.length - envelope.encryptedMessageContents.length > MAX_ENVELOPE_OVERHEAD) {
    throw new ClientSideEncryptionError(
      "INVALID_ENCRYPTION_DATA",
      `Invalid encryption metadata: EncryptionData is longer than the ${DEFAULT_MAX_ENCRYPTION_DATA_LENGTH} characters allowed`,
    );
  }
  const data = parseEncryptionData(rawData, { maxRegionSize: policy.maxRegionSize });
  const c = decodeBase64Strict(envelope.encryptedMessageContents);
  if (!c) throw new ClientSideEncryptionError("INVALID_ENCRYPTION_DATA", "Invalid encryption metadata: EncryptedMessageContents is not standard padded base64");
  const cek = await unwrapContentKey(data, policy, { abortSignal: options.abortSignal });
  try {
    const plain = data.protocol === "1.0" ? decryptCbcBuffer(cek, data.contentEncryptionIV, c) : decryptV2(cek, data, c, policy);
    return result(plain, encoding, data);
  } finally {
    cek.fill(0);
  }
}
