// The queue message envelope: `{"EncryptedMessageContents": base64(C), "EncryptionData": {...}}` as the
// service-side MessageText (spec queue-table-keys-format §1.2). Pure format code: no crypto. Key names, detection
// and serialization live in shared/envelope-format.ts (also used by the web entry); this module adds the size
// rules that use core's Node entry.
import { ClientSideEncryptionError, V2_NONCE_LENGTH, V2_TAG_LENGTH, v1StoredLength, type EncryptionProtocol } from "@azure-cse/core-envelope";
import type { MessageEncoding } from "./shared/envelope-format.js";

export {
  ENCRYPTED_MESSAGE_CONTENTS_KEY,
  ENCRYPTION_DATA_KEY,
  QUEUE_MESSAGE_MAX_LENGTH,
  MESSAGE_ENCODINGS,
  detectEnvelope,
  jsonDepthWithin,
  isEncryptedMessageText,
  formatEnvelope,
  base64Length,
  type MessageEncoding,
  type RawEnvelope,
} from "./shared/envelope-format.js";

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
