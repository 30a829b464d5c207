// The crypto-free part of the queue message envelope `{"EncryptedMessageContents": base64(C), "EncryptionData":
// {...}}` (spec queue-table-keys-format §1.2, §1.5): key names, strict detection, serialization and the base64
// size math. Shared by the Node entry (src/envelope.ts, src/message.ts) and the web entry (src/web/message.ts):
// no Node built-in, no Buffer, no import of either core-envelope entry.

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

/** Deepest JSON nesting a MessageText may have to be read as an envelope (writers use 3). */
const MAX_ENVELOPE_DEPTH = 16;

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
