// One-shot helpers for small payloads (queue messages, table properties), on the same backend.
import { cbcDecryptor, cbcEncryptor, gcmDecryptor, gcmEncryptor, sha256 as sha256Impl } from "../internal/crypto.js";
import { decryptionFailed, invalidArgument } from "../errors.js";
import { V2_NONCE_LENGTH, V2_TAG_LENGTH } from "../schema/encryption-data.js";

function checkKey(cek: Uint8Array): void {
  if (cek.length !== 32) throw invalidArgument("A content-encryption key must be 32 bytes.");
}

/** AES-256-CBC + PKCS#7 of a whole buffer. */
export function encryptCbcBuffer(cek: Uint8Array, iv: Uint8Array, plaintext: Uint8Array): Buffer {
  checkKey(cek);
  const c = cbcEncryptor(cek, iv);
  return Buffer.concat([c.update(plaintext), c.final()]);
}

/** AES-256-CBC + PKCS#7 decryption; any failure is DECRYPTION_FAILED. */
export function decryptCbcBuffer(cek: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array): Buffer {
  checkKey(cek);
  if (iv.length !== 16 || ciphertext.length === 0 || ciphertext.length % 16 !== 0) throw decryptionFailed();
  try {
    const d = cbcDecryptor(cek, iv, true);
    return Buffer.concat([d.update(ciphertext), d.final()]);
  } catch {
    throw decryptionFailed();
  }
}

/** One GCM region: `nonce(12) ‖ ciphertext ‖ tag(16)`. */
export function encryptGcmBuffer(cek: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Buffer {
  checkKey(cek);
  if (nonce.length !== V2_NONCE_LENGTH) throw invalidArgument("A GCM nonce must be 12 bytes.");
  const c = gcmEncryptor(cek, nonce);
  const body = Buffer.concat([c.update(plaintext), c.final()]);
  return Buffer.concat([nonce, body, c.getAuthTag()]);
}

/** Decrypts one `nonce ‖ ciphertext ‖ tag` region (any nonce); any failure is DECRYPTION_FAILED. */
export function decryptGcmBuffer(cek: Uint8Array, region: Uint8Array): Buffer {
  checkKey(cek);
  if (region.length < V2_NONCE_LENGTH + V2_TAG_LENGTH) throw decryptionFailed();
  const r = Buffer.from(region.buffer, region.byteOffset, region.byteLength);
  try {
    const d = gcmDecryptor(cek, r.subarray(0, V2_NONCE_LENGTH));
    d.setAuthTag(r.subarray(r.length - V2_TAG_LENGTH));
    return Buffer.concat([d.update(r.subarray(V2_NONCE_LENGTH, r.length - V2_TAG_LENGTH)), d.final()]);
  } catch {
    throw decryptionFailed();
  }
}

export function sha256(...parts: Uint8Array[]): Buffer {
  return Buffer.from(sha256Impl(...parts));
}
