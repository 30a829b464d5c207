// Local key-encryption keys: AES key wrap (RFC 3394) and RSA (OAEP with SHA-1 as Key Vault defines
// "RSA-OAEP", OAEP-256, and PKCS#1 v1.5 for unwrapping legacy data only).
import {
  aesKeyUnwrap,
  aesKeyWrap,
  exportJwk,
  exportPem,
  generateRsaKeyPair,
  importPrivateKey,
  importPublicKey,
  rsaModulusBytes,
  rsaOaepDecrypt,
  rsaOaepEncrypt,
  rsaPkcs1v15Decrypt,
  type KeyObject,
} from "../internal/crypto.js";
import { decodeBase64Strict, escapeForDisplay } from "../internal/bytes.js";
import { ClientSideEncryptionError, decryptionFailed, invalidArgument } from "../errors.js";
import { defaultRandomSource, type RandomSource } from "../random.js";
import type { KeyEncryptionKey, KeyOperationOptions, WrapKeyResult } from "./types.js";
import { throwIfAborted } from "../errors.js";

export type AesKeyWrapAlgorithm = "A128KW" | "A192KW" | "A256KW";
export type RsaWrapAlgorithm = "RSA-OAEP" | "RSA-OAEP-256" | "RSA1_5";
export type LocalKeyAlgorithm = AesKeyWrapAlgorithm | RsaWrapAlgorithm;

const AES_KW_SIZES: Record<AesKeyWrapAlgorithm, number> = { A128KW: 16, A192KW: 24, A256KW: 32 };

function unsupportedAlgorithm(keyId: string, algorithm: string, supported: readonly string[]): ClientSideEncryptionError {
  return new ClientSideEncryptionError(
    "INVALID_ARGUMENT",
    `Key "${escapeForDisplay(keyId)}" cannot use wrap algorithm "${escapeForDisplay(algorithm, 40)}" (supported: ${supported.join(", ")}).`,
    { details: { keyId } },
  );
}

/** A symmetric key wrapping CEKs with RFC 3394 AES key wrap. */
export class AesKeyWrapKey implements KeyEncryptionKey {
  readonly keyId: string;
  readonly defaultWrapAlgorithm: AesKeyWrapAlgorithm;
  readonly #key: Uint8Array;

  constructor(keyId: string, key: Uint8Array) {
    if (!keyId) throw invalidArgument("A key id is required.");
    const alg = (Object.keys(AES_KW_SIZES) as AesKeyWrapAlgorithm[]).find((a) => AES_KW_SIZES[a] === key.length);
    if (!alg) throw invalidArgument(`An AES key-wrap key must be 16, 24 or 32 bytes, not ${key.length}.`);
    this.keyId = keyId;
    this.defaultWrapAlgorithm = alg;
    this.#key = Uint8Array.from(key);
  }

  static generate(keyId: string, size: 16 | 24 | 32 = 32, random: RandomSource = defaultRandomSource): AesKeyWrapKey {
    return new AesKeyWrapKey(keyId, random(size));
  }

  #check(algorithm: string): void {
    if (algorithm !== this.defaultWrapAlgorithm) throw unsupportedAlgorithm(this.keyId, algorithm, [this.defaultWrapAlgorithm]);
  }

  wrapKey(algorithm: string, key: Uint8Array, options?: KeyOperationOptions): Promise<WrapKeyResult> {
    throwIfAborted(options?.abortSignal);
    this.#check(algorithm);
    if (key.length % 8 !== 0 || key.length < 16) throw invalidArgument("AES key wrap input must be a multiple of 8 bytes, at least 16.");
    return Promise.resolve({ encryptedKey: aesKeyWrap(this.#key, key), keyId: this.keyId });
  }

  unwrapKey(algorithm: string, encryptedKey: Uint8Array, options?: KeyOperationOptions): Promise<Uint8Array> {
    throwIfAborted(options?.abortSignal);
    this.#check(algorithm);
    try {
      return Promise.resolve(aesKeyUnwrap(this.#key, encryptedKey));
    } catch {
      return Promise.reject(decryptionFailed());
    }
  }

  /** Private JWK (`kty: "oct"`) with kid and alg. Contains the secret. */
  toJwk(): Record<string, string> {
    return { kty: "oct", kid: this.keyId, alg: this.defaultWrapAlgorithm, k: Buffer.from(this.#key).toString("base64url") };
  }

  /** Never prints the key. */
  toJSON(): Record<string, string> {
    return { keyId: this.keyId, algorithm: this.defaultWrapAlgorithm };
  }
}

const RSA_ALGS: readonly RsaWrapAlgorithm[] = ["RSA-OAEP", "RSA-OAEP-256", "RSA1_5"];

/** An RSA key pair wrapping CEKs with RSA-OAEP (SHA-1, Key Vault's "RSA-OAEP") or RSA-OAEP-256; RSA1_5 unwraps only. */
export class RsaKey implements KeyEncryptionKey {
  readonly keyId: string;
  readonly defaultWrapAlgorithm: "RSA-OAEP" | "RSA-OAEP-256";
  readonly #private: KeyObject | undefined;
  readonly #public: KeyObject;

  constructor(keyId: string, keys: { privateKey?: KeyObject; publicKey?: KeyObject }, defaultAlgorithm: "RSA-OAEP" | "RSA-OAEP-256" = "RSA-OAEP") {
    if (!keyId) throw invalidArgument("A key id is required.");
    const pub = keys.publicKey ?? (keys.privateKey ? importPublicKey(keys.privateKey) : undefined);
    if (!pub || pub.asymmetricKeyType !== "rsa") throw invalidArgument("An RSA key is required.");
    if (rsaModulusBytes(pub) < 256) throw invalidArgument("RSA keys must be at least 2048 bits.");
    this.keyId = keyId;
    this.#private = keys.privateKey;
    this.#public = pub;
    this.defaultWrapAlgorithm = defaultAlgorithm;
  }

  static generate(keyId: string, modulusLength = 2048, defaultAlgorithm: "RSA-OAEP" | "RSA-OAEP-256" = "RSA-OAEP"): RsaKey {
    const { privateKey, publicKey } = generateRsaKeyPair(modulusLength);
    return new RsaKey(keyId, { privateKey, publicKey }, defaultAlgorithm);
  }

  /** From a PEM private key (PKCS#8 or PKCS#1) or a public key (wrap only). */
  static fromPem(keyId: string, pem: string, defaultAlgorithm: "RSA-OAEP" | "RSA-OAEP-256" = "RSA-OAEP"): RsaKey {
    try {
      if (pem.includes("PRIVATE KEY")) return new RsaKey(keyId, { privateKey: importPrivateKey({ pem }) }, defaultAlgorithm);
      return new RsaKey(keyId, { publicKey: importPublicKey({ pem }) }, defaultAlgorithm);
    } catch (e) {
      if (ClientSideEncryptionError.is(e)) throw e;
      throw invalidArgument("The PEM text is not a valid RSA key.");
    }
  }

  get hasPrivateKey(): boolean {
    return this.#private !== undefined;
  }

  #checkAlgorithm(algorithm: string): asserts algorithm is RsaWrapAlgorithm {
    if (!(RSA_ALGS as readonly string[]).includes(algorithm)) throw unsupportedAlgorithm(this.keyId, algorithm, RSA_ALGS);
  }

  wrapKey(algorithm: string, key: Uint8Array, options?: KeyOperationOptions): Promise<WrapKeyResult> {
    throwIfAborted(options?.abortSignal);
    this.#checkAlgorithm(algorithm);
    if (algorithm === "RSA1_5") {
      throw new ClientSideEncryptionError("UNSUPPORTED_OPERATION", "RSA1_5 is accepted for unwrapping legacy data only; wrap with RSA-OAEP or RSA-OAEP-256.");
    }
    const hash = algorithm === "RSA-OAEP" ? "sha1" : "sha256";
    return Promise.resolve({ encryptedKey: rsaOaepEncrypt(this.#public, hash, key), keyId: this.keyId });
  }

  unwrapKey(algorithm: string, encryptedKey: Uint8Array, options?: KeyOperationOptions): Promise<Uint8Array> {
    throwIfAborted(options?.abortSignal);
    this.#checkAlgorithm(algorithm);
    if (!this.#private) {
      return Promise.reject(new ClientSideEncryptionError("INVALID_ARGUMENT", `Key "${escapeForDisplay(this.keyId)}" has no private part and cannot unwrap.`, { details: { keyId: this.keyId } }));
    }
    try {
      const out = algorithm === "RSA1_5" ? rsaPkcs1v15Decrypt(this.#private, encryptedKey) : rsaOaepDecrypt(this.#private, algorithm === "RSA-OAEP" ? "sha1" : "sha256", encryptedKey);
      return Promise.resolve(out);
    } catch {
      return Promise.reject(decryptionFailed());
    }
  }

  /** Private JWK (or public when there is no private part) with kid and alg. */
  toJwk(): Record<string, unknown> {
    const jwk = exportJwk(this.#private ?? this.#public);
    return { ...jwk, kid: this.keyId, alg: this.defaultWrapAlgorithm };
  }

  publicKeyPem(): string {
    return exportPem(this.#public);
  }

  privateKeyPem(): string | undefined {
    return this.#private ? exportPem(this.#private) : undefined;
  }

  toJSON(): Record<string, string> {
    return { keyId: this.keyId, algorithm: this.defaultWrapAlgorithm };
  }
}

/** A JSON Web Key as loaded from a file. */
export interface JsonWebKeyInput {
  kty?: unknown;
  kid?: unknown;
  alg?: unknown;
  [k: string]: unknown;
}

/**
 * Loads a private JWK (`kty` "oct" with `k`, or "RSA" with private members) that carries `kid` and `alg`.
 * Public RSA JWKs load as wrap-only keys.
 */
export function keyFromJwk(jwk: JsonWebKeyInput): AesKeyWrapKey | RsaKey {
  if (typeof jwk !== "object" || jwk === null) throw invalidArgument("A JWK must be a JSON object.");
  const kid = jwk.kid;
  if (typeof kid !== "string" || kid.length === 0) throw invalidArgument('The JWK has no "kid"; a key id is required to find the key again on decrypt.');
  const alg = typeof jwk.alg === "string" ? jwk.alg : undefined;
  if (jwk.kty === "oct") {
    const k = typeof jwk.k === "string" ? Buffer.from(jwk.k, "base64url") : undefined;
    if (!k || k.length === 0) throw invalidArgument(`JWK "${kid}" has no key material ("k").`);
    const key = new AesKeyWrapKey(kid, k);
    if (alg && alg !== key.defaultWrapAlgorithm) throw invalidArgument(`JWK "${kid}" says alg ${alg} but holds a ${k.length * 8}-bit key.`);
    return key;
  }
  if (jwk.kty === "RSA") {
    if (alg && alg !== "RSA-OAEP" && alg !== "RSA-OAEP-256") throw invalidArgument(`JWK "${kid}": alg must be RSA-OAEP or RSA-OAEP-256.`);
    const { kid: _k, alg: _a, key_ops: _o, use: _u, ...material } = jwk;
    try {
      const isPrivate = typeof material.d === "string";
      const obj = isPrivate ? importPrivateKey({ jwk: material }) : importPublicKey({ jwk: material });
      return new RsaKey(kid, isPrivate ? { privateKey: obj } : { publicKey: obj }, (alg as "RSA-OAEP" | "RSA-OAEP-256" | undefined) ?? "RSA-OAEP");
    } catch (e) {
      if (ClientSideEncryptionError.is(e)) throw e;
      throw invalidArgument(`JWK "${kid}" is not a valid RSA key.`);
    }
  }
  throw invalidArgument(`JWK "${kid}": kty must be "oct" or "RSA".`);
}

/** Raw key bytes (base64 or bytes) as an AES key-wrap key. */
export function keyFromRawBytes(keyId: string, key: Uint8Array | string): AesKeyWrapKey {
  const bytes = typeof key === "string" ? decodeBase64Strict(key) : key;
  if (!bytes) throw invalidArgument("Raw key text must be standard base64.");
  return new AesKeyWrapKey(keyId, bytes);
}
