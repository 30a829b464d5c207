// The queue message envelope: `{"EncryptedMessageContents": base64(C), "EncryptionData": {...}}` as the
// service-side MessageText (spec queue-table-keys-format §1.2). Pure format code: no crypto.
import { ClientSideEncryptionError, V2_NONCE_LENGTH, V2_TAG_LENGTH, v1StoredLength, type EncryptionProtocol } from "@azure-cse/core-envelope";

/** Top-level key holding base64 of the ciphertext. Matched case-sensitively, like .NET v12. */
export const ENCRYPTED_MESSAGE_CONTENTS_KEY = "EncryptedMessageContents";
/** Top-level key holding the EncryptionData object. Matched case-sensitively, like .NET v12. */
export const ENCRYPTION_DATA_KEY = "EncryptionData";

/** The service limit for a message's MessageText: 64 KiB (Put Message / Update Message). */
export const QUEUE_MESSAGE_MAX_LENGTH = 64 * 1024;

/**
 * How the application payload becomes the bytes that are encrypted.
 * - `"none"` (default): the UTF-8 bytes of the text (or the given bytes). The only setting every SDK shares.
 * - `"base64"`: Python's encode-then-encrypt with `TextBase64EncodePolicy`/`BinaryBase64EncodePolicy`:
 *   the encrypted plaintext is the base64 text of the payload, decoded again after decryption.
 */
export type MessageEncoding = "none" | "base64";

export const MESSAGE_ENCODINGS: readonly MessageEncoding[] = ["none", "base64"];

/** The two members of an envelope, not yet validated. */
export interface RawEnvelope {
  encryptedMessageContents: unknown;
  encryptionData: unknown;
}

/**
 * Strict envelope detection (the .NET v12 rule, spec §1.5): the text must be a JSON object with exactly the two
 * top-level keys `EncryptedMessageContents` and `EncryptionData`, spelled exactly so. Anything else (non-JSON,
 * a number, `null`, a string, an array, an object with other or additional keys) is not an envelope and is
 * returned as `undefined`; this never throws.
 */
export function detectEnvelope(messageText: string): RawEnvelope | undefined {
  // Cheap pre-check: JSON objects start with "{" after optional whitespace.
  if (!/^\s*\{/.test(messageText)) return undefined;
  // An envelope nests 3 levels deep. Deeper JSON is never one of our messages, and parsing megabytes of
  // nesting takes seconds, so it is rejected by a linear scan first.
  if (!jsonDepthWithin(messageText, MAX_ENVELOPE_DEPTH)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(messageText);
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return undefined;
  const keys = Object.keys(parsed);
  if (keys.length !== 2 || !keys.includes(ENCRYPTED_MESSAGE_CONTENTS_KEY) || !keys.includes(ENCRYPTION_DATA_KEY)) return undefined;
  const o = parsed as Record<string, unknown>;
  return { encryptedMessageContents: o[ENCRYPTED_MESSAGE_CONTENTS_KEY], encryptionData: o[ENCRYPTION_DATA_KEY] };
}

/** Deepest JSON nesting a MessageText may have to be read as an envelope (writers use 3). */
const MAX_ENVELOPE_DEPTH = 16;

/** Whether the JSON text nests at most `max` objects/arrays deep (strings skipped; one linear pass). */
export function jsonDepthWithin(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) {
      inString = true;
    } else if (c === 123 || c === 91) {
      if (++depth > max) return false;
    } else if (c === 125 || c === 93) {
      depth--;
    }
  }
  return true;
}

/** Whether a MessageText is an encrypted-message envelope (by the strict rule of `detectEnvelope`). */
export function isEncryptedMessageText(messageText: string): boolean {
  return detectEnvelope(messageText) !== undefined;
}

/**
 * Serializes the envelope: compact JSON, `EncryptedMessageContents` first. `encryptionDataJson` must already be
 * ASCII JSON (core's serializer escapes non-ASCII), so the whole MessageText is ASCII and its length in
 * characters equals its length in bytes.
 */
export function formatEnvelope(ciphertextBase64: string, encryptionDataJson: string): string {
  return `{"${ENCRYPTED_MESSAGE_CONTENTS_KEY}":"${ciphertextBase64}","${ENCRYPTION_DATA_KEY}":${encryptionDataJson}}`;
}

export function base64Length(n: number): number {
  return 4 * Math.ceil(n / 3);
}

/** Ciphertext length `C` for `n` plaintext bytes: 1.0 PKCS#7-padded CBC; 2.0 one `nonce ‖ ct ‖ tag` region. */
export function messageCiphertextLength(protocol: EncryptionProtocol, n: number): number {
  return protocol === "1.0" ? v1StoredLength(n) : n + V2_NONCE_LENGTH + V2_TAG_LENGTH;
}

/** Largest plaintext (bytes actually encrypted) whose ciphertext fits in `maxCiphertext` bytes. */
function maxEncryptedBytes(protocol: EncryptionProtocol, maxCiphertext: number): number {
  if (protocol === "1.0") return Math.floor(maxCiphertext / 16) * 16 - 1;
  return maxCiphertext - V2_NONCE_LENGTH - V2_TAG_LENGTH;
}

/**
 * The plaintext budget: the largest payload (bytes before message encoding) that still fits in `limit`
 * characters once encrypted, base64-encoded and wrapped in an envelope whose fixed part is `overhead` long.
 */
export function plaintextBudget(protocol: EncryptionProtocol, encoding: MessageEncoding, overhead: number, limit: number): number {
  const maxCiphertext = Math.floor(Math.max(0, limit - overhead) / 4) * 3;
  const inner = maxEncryptedBytes(protocol, maxCiphertext);
  const payload = encoding === "base64" ? Math.floor(inner / 4) * 3 : inner;
  return Math.max(-1, payload);
}

/** The typed size error, naming the plaintext budget (never the content). */
export function payloadTooLarge(payloadBytes: number, budget: number, envelopeLength: number, limit: number, protocol: EncryptionProtocol, encoding: MessageEncoding): ClientSideEncryptionError {
  const fits = budget < 0 ? "no message fits with this key" : `at most ${budget} bytes of message content fit`;
  return new ClientSideEncryptionError(
    "PAYLOAD_TOO_LARGE",
    `The encrypted message would be ${envelopeLength} characters, over the queue limit of ${limit}: the message has ${payloadBytes} bytes ` +
      `(UTF-8) but ${fits} with protocol ${protocol}, encoding "${encoding}" and this key. Split the payload, or store it in a blob and enqueue a reference.`,
    { details: { payloadBytes, plaintextBudget: budget, envelopeLength, limit, protocol, messageEncoding: encoding } },
  );
}
