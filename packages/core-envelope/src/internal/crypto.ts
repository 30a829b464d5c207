// The only module that touches node:crypto. A Web Crypto backend for browsers would replace this
// file (through a "browser" export condition) without changing any format code.
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  type Cipher,
  type CipherGCM,
  type Decipher,
  type DecipherGCM,
  type KeyObject,
} from "node:crypto";

export type { KeyObject };
export type GcmEncryptor = CipherGCM;
export type GcmDecryptor = DecipherGCM;
export type CbcCipher = Cipher;
export type CbcDecipher = Decipher;

export function secureRandomBytes(n: number): Uint8Array {
  return randomBytes(n);
}

export function gcmEncryptor(key: Uint8Array, nonce: Uint8Array): GcmEncryptor {
  return createCipheriv("aes-256-gcm", key, nonce, { authTagLength: 16 });
}

export function gcmDecryptor(key: Uint8Array, nonce: Uint8Array): GcmDecryptor {
  return createDecipheriv("aes-256-gcm", key, nonce, { authTagLength: 16 });
}

export function cbcEncryptor(key: Uint8Array, iv: Uint8Array): CbcCipher {
  return createCipheriv("aes-256-cbc", key, iv);
}

export function cbcDecryptor(key: Uint8Array, iv: Uint8Array, unpad: boolean): CbcDecipher {
  const d = createDecipheriv("aes-256-cbc", key, iv);
  d.setAutoPadding(unpad);
  return d;
}

const KW_IV = Buffer.from("A6A6A6A6A6A6A6A6", "hex");
function kwCipherName(keyLength: number): "id-aes128-wrap" | "id-aes192-wrap" | "id-aes256-wrap" {
  if (keyLength === 16) return "id-aes128-wrap";
  if (keyLength === 24) return "id-aes192-wrap";
  if (keyLength === 32) return "id-aes256-wrap";
  throw new RangeError("AES key wrap needs a 16, 24 or 32 byte key");
}

/** RFC 3394 AES key wrap with the default IV. */
export function aesKeyWrap(kek: Uint8Array, key: Uint8Array): Uint8Array {
  const c = createCipheriv(kwCipherName(kek.length), kek, KW_IV);
  return Buffer.concat([c.update(key), c.final()]);
}

/** RFC 3394 AES key unwrap; throws when the integrity check fails. */
export function aesKeyUnwrap(kek: Uint8Array, wrapped: Uint8Array): Uint8Array {
  const d = createDecipheriv(kwCipherName(kek.length), kek, KW_IV);
  return Buffer.concat([d.update(wrapped), d.final()]);
}

export type OaepHash = "sha1" | "sha256";

export function rsaOaepEncrypt(publicKey: KeyObject, hash: OaepHash, data: Uint8Array): Uint8Array {
  return publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, data);
}

export function rsaOaepDecrypt(privateKey: KeyObject, hash: OaepHash, data: Uint8Array): Uint8Array {
  return privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, data);
}

export function rsaPkcs1v15Encrypt(publicKey: KeyObject, data: Uint8Array): Uint8Array {
  return publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, data);
}

/**
 * RSAES-PKCS1-v1_5 decryption for legacy unwrap. Node 20 refuses RSA_PKCS1_PADDING in
 * privateDecrypt (Marvin attack), so the raw RSA result is unpadded here; every failure is reported
 * the same way by the caller.
 */
export function rsaPkcs1v15Decrypt(privateKey: KeyObject, data: Uint8Array): Uint8Array {
  const em = privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, data);
  // EM = 0x00 || 0x02 || PS (>= 8 non-zero bytes) || 0x00 || M
  let sep = -1;
  let bad = (em[0] ?? 1) | ((em[1] ?? 0) ^ 2);
  for (let i = 2; i < em.length; i++) {
    if (sep < 0 && em[i] === 0) sep = i;
  }
  if (sep < 10) bad |= 1;
  if (bad !== 0) throw new Error("pkcs1 padding");
  return em.subarray(sep + 1);
}

export function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
}

export function importPrivateKey(input: { pem: string } | { jwk: Record<string, unknown> } | { der: Uint8Array }): KeyObject {
  if ("pem" in input) return createPrivateKey(input.pem);
  if ("jwk" in input) return createPrivateKey({ key: input.jwk as never, format: "jwk" });
  return createPrivateKey({ key: Buffer.from(input.der), format: "der", type: "pkcs8" });
}

export function importPublicKey(input: { pem: string } | { jwk: Record<string, unknown> } | KeyObject): KeyObject {
  if ("pem" in input) return createPublicKey(input.pem);
  if ("jwk" in input) return createPublicKey({ key: input.jwk as never, format: "jwk" });
  return createPublicKey(input);
}

export function generateRsaKeyPair(modulusLength: number): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync("rsa", { modulusLength, publicExponent: 0x10001 });
}

export function exportJwk(key: KeyObject): Record<string, unknown> {
  return key.export({ format: "jwk" }) as Record<string, unknown>;
}

export function exportPem(key: KeyObject): string {
  return key.type === "private"
    ? (key.export({ format: "pem", type: "pkcs8" }) as string)
    : (key.export({ format: "pem", type: "spki" }) as string);
}

export function rsaModulusBytes(key: KeyObject): number {
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  return Math.ceil(bits / 8);
}
