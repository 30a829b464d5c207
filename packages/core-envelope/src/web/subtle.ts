// The Web Crypto primitives of the web backend: the only web module that calls crypto.subtle. Every
// function is async and takes and returns Uint8Array; nothing here needs Buffer or a Node built-in.
import { ClientSideEncryptionError, decryptionFailed } from "../errors.js";
import type { CryptoLike, SubtleLike, WebCryptoKey } from "./webcrypto-types.js";

/** `globalThis.crypto.subtle`, or a typed error when the platform has none (an insecure http: page). */
export function subtle(): SubtleLike {
  const s = (globalThis as { crypto?: CryptoLike }).crypto?.subtle;
  if (!s) {
    throw new ClientSideEncryptionError(
      "UNSUPPORTED_OPERATION",
      "Web Crypto (crypto.subtle) is not available here; browsers only provide it in secure contexts (https: or http://localhost).",
    );
  }
  return s;
}

/** Secure random bytes from `crypto.getRandomValues` (in 64 KiB steps, its per-call limit). */
export function webRandomBytes(n: number): Uint8Array {
  const c = (globalThis as { crypto?: CryptoLike }).crypto;
  if (!c?.getRandomValues) throw new ClientSideEncryptionError("UNSUPPORTED_OPERATION", "crypto.getRandomValues is not available on this platform.");
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) c.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  return out;
}

/** A view Web Crypto accepts as BufferSource under every TypeScript lib version. */
export function bs(b: Uint8Array): Uint8Array<ArrayBuffer> {
  return b as Uint8Array<ArrayBuffer>;
}

/** Imports a 32-byte content key for AES-GCM (2.x) or AES-CBC (1.0); not extractable. */
export function importContentKey(cek: Uint8Array, algorithm: "AES-GCM" | "AES-CBC"): Promise<WebCryptoKey> {
  return subtle().importKey("raw", bs(cek), { name: algorithm }, false, ["encrypt", "decrypt"]);
}

/** One GCM region body: returns `ciphertext ‖ tag(16)` (Web Crypto appends the tag). */
export async function gcmSeal(key: WebCryptoKey, nonce: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().encrypt({ name: "AES-GCM", iv: bs(nonce), tagLength: 128 }, key, bs(plaintext)));
}

/** Opens `ciphertext ‖ tag(16)`; any failure is the one DECRYPTION_FAILED. */
export async function gcmOpen(key: WebCryptoKey, nonce: Uint8Array, sealed: Uint8Array): Promise<Uint8Array> {
  try {
    return new Uint8Array(await subtle().decrypt({ name: "AES-GCM", iv: bs(nonce), tagLength: 128 }, key, bs(sealed)));
  } catch {
    throw decryptionFailed();
  }
}

/**
 * AES-CBC decryption of whole blocks. Web Crypto always removes PKCS#7 padding, so when `unpad` is false a
 * block is appended that decrypts to a full padding block: E_k(lastCipherBlock ⊕ 10¹⁶), which is exactly
 * what encrypting an empty message with IV = lastCipherBlock produces. Any failure is DECRYPTION_FAILED.
 */
export async function cbcDecryptBlocks(key: WebCryptoKey, iv: Uint8Array, ciphertext: Uint8Array, unpad: boolean): Promise<Uint8Array> {
  if (ciphertext.length % 16 !== 0 || (unpad && ciphertext.length === 0)) throw decryptionFailed();
  if (ciphertext.length === 0) return new Uint8Array(0);
  try {
    let input = ciphertext;
    if (!unpad) {
      const last = ciphertext.subarray(ciphertext.length - 16);
      const padBlock = new Uint8Array(await subtle().encrypt({ name: "AES-CBC", iv: bs(last.slice()) }, key, new Uint8Array(0)));
      input = new Uint8Array(ciphertext.length + 16);
      input.set(ciphertext);
      input.set(padBlock, ciphertext.length);
    }
    return new Uint8Array(await subtle().decrypt({ name: "AES-CBC", iv: bs(iv) }, key, bs(input)));
  } catch {
    throw decryptionFailed();
  }
}

/** Whole-message AES-CBC with PKCS#7 (tests and the deprecated 1.0 writer interop checks). */
export async function cbcEncrypt(key: WebCryptoKey, iv: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().encrypt({ name: "AES-CBC", iv: bs(iv) }, key, bs(plaintext)));
}

/**
 * Bytes to wrap as a WebCryptoKey. AES-KW and RSA-OAEP wrap CryptoKeys, and the 2.x wrap input (40 bytes:
 * protocol prefix ‖ CEK) is no AES key size, so the bytes travel as an extractable HMAC key (any length).
 */
export function importWrapInput(bytes: Uint8Array): Promise<WebCryptoKey> {
  return subtle().importKey("raw", bs(bytes), { name: "HMAC", hash: "SHA-256", length: bytes.length * 8 }, true, ["sign"]);
}

/** The bytes of an unwrapped (HMAC-typed) key. */
export async function exportRaw(key: WebCryptoKey): Promise<Uint8Array> {
  return new Uint8Array(await subtle().exportKey("raw", key));
}

/** RFC 3394 wrap of `bytes` (a multiple of 8, at least 16) under an AES-KW WebCryptoKey. */
export async function aesKwWrap(kek: WebCryptoKey, bytes: Uint8Array): Promise<Uint8Array> {
  const k = await importWrapInput(bytes);
  return new Uint8Array(await subtle().wrapKey("raw", k, kek, "AES-KW"));
}

/** RFC 3394 unwrap; an integrity failure is DECRYPTION_FAILED. */
export async function aesKwUnwrap(kek: WebCryptoKey, wrapped: Uint8Array): Promise<Uint8Array> {
  if (wrapped.length < 24 || wrapped.length % 8 !== 0) throw decryptionFailed();
  let k: WebCryptoKey;
  try {
    k = await subtle().unwrapKey("raw", bs(wrapped), kek, "AES-KW", { name: "HMAC", hash: "SHA-256", length: (wrapped.length - 8) * 8 }, true, ["sign"]);
  } catch {
    throw decryptionFailed();
  }
  return exportRaw(k);
}

/** RSA-OAEP encryption of a short value (the wrap input) with a public WebCryptoKey bound to its hash. */
export async function rsaOaepWrap(publicKey: WebCryptoKey, bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().encrypt({ name: "RSA-OAEP" }, publicKey, bs(bytes)));
}

/** RSA-OAEP decryption; every failure is DECRYPTION_FAILED. */
export async function rsaOaepUnwrap(privateKey: WebCryptoKey, wrapped: Uint8Array): Promise<Uint8Array> {
  try {
    return new Uint8Array(await subtle().decrypt({ name: "RSA-OAEP" }, privateKey, bs(wrapped)));
  } catch {
    throw decryptionFailed();
  }
}
