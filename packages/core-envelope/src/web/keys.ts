// Local key-encryption keys over Web Crypto: AES key wrap (A128KW/A192KW/A256KW) and RSA-OAEP (SHA-1, as
// Key Vault defines "RSA-OAEP") / RSA-OAEP-256, imported from JWKs as non-extractable CryptoKeys. They
// implement the same KeyEncryptionKey interface as the Node keys, so a policy can use either.
import { ClientSideEncryptionError, invalidArgument, throwIfAborted } from "../errors.js";
import { escapeForDisplay } from "../internal/bytes.js";
import type { KeyEncryptionKey, KeyOperationOptions, WrapKeyResult } from "../kek/types.js";
import { base64UrlDecode } from "./base64.js";
import { aesKwUnwrap, aesKwWrap, bs, rsaOaepUnwrap, rsaOaepWrap, subtle } from "./subtle.js";
import type { WebCryptoKey } from "./webcrypto-types.js";

export type WebAesKeyWrapAlgorithm = "A128KW" | "A192KW" | "A256KW";
export type WebRsaWrapAlgorithm = "RSA-OAEP" | "RSA-OAEP-256";

const AES_KW_BY_SIZE: Record<number, WebAesKeyWrapAlgorithm> = { 16: "A128KW", 24: "A192KW", 32: "A256KW" };

function unsupportedAlgorithm(keyId: string, algorithm: string, supported: readonly string[]): ClientSideEncryptionError {
  return new ClientSideEncryptionError(
    "INVALID_ARGUMENT",
    `Key "${escapeForDisplay(keyId)}" cannot use wrap algorithm "${escapeForDisplay(algorithm, 40)}" (supported: ${supported.join(", ")}).`,
    { details: { keyId } },
  );
}

function checkWrapInput(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length % 8 !== 0 || key.length < 16) throw invalidArgument("AES key wrap input must be a multiple of 8 bytes, at least 16.");
}

/** Options for importing key material. */
export interface WebKeyImportOptions {
  /** Keep the imported CryptoKey exportable; default false (the key material cannot be read back). */
  extractable?: boolean;
}

/** An RFC 3394 AES key-wrap key held as a Web Crypto `AES-KW` CryptoKey. */
export class WebAesKeyWrapKey implements KeyEncryptionKey {
  readonly keyId: string;
  readonly defaultWrapAlgorithm: WebAesKeyWrapAlgorithm;
  /** The CryptoKey (usages wrapKey/unwrapKey; not extractable unless imported so). */
  readonly cryptoKey: WebCryptoKey;

  private constructor(keyId: string, key: WebCryptoKey, algorithm: WebAesKeyWrapAlgorithm) {
    this.keyId = keyId;
    this.cryptoKey = key;
    this.defaultWrapAlgorithm = algorithm;
  }

  /** From raw key bytes (16, 24 or 32). The caller may wipe `key` afterwards. */
  static async fromRaw(keyId: string, key: Uint8Array, options: WebKeyImportOptions = {}): Promise<WebAesKeyWrapKey> {
    if (typeof keyId !== "string" || !keyId) throw invalidArgument("A key id is required.");
    const alg = key instanceof Uint8Array ? AES_KW_BY_SIZE[key.length] : undefined;
    if (!alg) throw invalidArgument(`An AES key-wrap key must be 16, 24 or 32 bytes${key instanceof Uint8Array ? `, not ${key.length}` : ""}.`);
    let k: WebCryptoKey;
    try {
      k = await subtle().importKey("raw", bs(key), { name: "AES-KW" }, options.extractable ?? false, ["wrapKey", "unwrapKey"]);
    } catch (e) {
      throw new ClientSideEncryptionError("UNSUPPORTED_OPERATION", `This platform's Web Crypto cannot import a ${key.length * 8}-bit AES-KW key (Chromium has no 192-bit AES).`, { cause: e });
    }
    return new WebAesKeyWrapKey(keyId, k, alg);
  }

  /** From an existing `AES-KW` CryptoKey with usages wrapKey and unwrapKey. */
  static fromCryptoKey(keyId: string, key: WebCryptoKey): WebAesKeyWrapKey {
    if (typeof keyId !== "string" || !keyId) throw invalidArgument("A key id is required.");
    const a = key?.algorithm as { name?: string; length?: number } | undefined;
    const alg = a?.name === "AES-KW" && a.length !== undefined ? AES_KW_BY_SIZE[a.length / 8] : undefined;
    if (!alg || !key.usages.includes("wrapKey") || !key.usages.includes("unwrapKey")) throw invalidArgument("The CryptoKey must be an AES-KW key with usages wrapKey and unwrapKey.");
    return new WebAesKeyWrapKey(keyId, key, alg);
  }

  #check(algorithm: string): void {
    if (algorithm !== this.defaultWrapAlgorithm) throw unsupportedAlgorithm(this.keyId, algorithm, [this.defaultWrapAlgorithm]);
  }

  async wrapKey(algorithm: string, key: Uint8Array, options?: KeyOperationOptions): Promise<WrapKeyResult> {
    throwIfAborted(options?.abortSignal);
    this.#check(algorithm);
    checkWrapInput(key);
    return { encryptedKey: await aesKwWrap(this.cryptoKey, key), keyId: this.keyId };
  }

  async unwrapKey(algorithm: string, encryptedKey: Uint8Array, options?: KeyOperationOptions): Promise<Uint8Array> {
    throwIfAborted(options?.abortSignal);
    this.#check(algorithm);
    return aesKwUnwrap(this.cryptoKey, encryptedKey);
  }

  /** Never prints the key. */
  toJSON(): Record<string, string> {
    return { keyId: this.keyId, algorithm: this.defaultWrapAlgorithm };
  }
}

const RSA_ALGS: readonly WebRsaWrapAlgorithm[] = ["RSA-OAEP", "RSA-OAEP-256"];
const RSA_PUBLIC = ["kty", "n", "e"];
const RSA_PRIVATE = ["kty", "n", "e", "d", "p", "q", "dp", "dq", "qi"];

/**
 * An RSA key wrapping CEKs with RSA-OAEP (SHA-1) or RSA-OAEP-256 through Web Crypto. A Web Crypto RSA key is
 * bound to one hash, so the JWK is imported (non-extractable) once per hash, on first use. RSA1_5 (legacy
 * unwrap only in the Node backend) does not exist in Web Crypto and is refused.
 */
export class WebRsaKey implements KeyEncryptionKey {
  readonly keyId: string;
  readonly defaultWrapAlgorithm: WebRsaWrapAlgorithm;
  readonly #public: Record<string, unknown>;
  readonly #private: Record<string, unknown> | undefined;
  readonly #keys = new Map<string, Promise<WebCryptoKey>>();

  private constructor(keyId: string, publicJwk: Record<string, unknown>, privateJwk: Record<string, unknown> | undefined, alg: WebRsaWrapAlgorithm) {
    this.keyId = keyId;
    this.#public = publicJwk;
    this.#private = privateJwk;
    this.defaultWrapAlgorithm = alg;
  }

  /** From an RSA JWK (private members make it able to unwrap; a public JWK wraps only). Needs 2048 bits or more. */
  static async fromJwk(keyId: string, jwk: Record<string, unknown>, defaultAlgorithm: WebRsaWrapAlgorithm = "RSA-OAEP"): Promise<WebRsaKey> {
    if (typeof keyId !== "string" || !keyId) throw invalidArgument("A key id is required.");
    if (!RSA_ALGS.includes(defaultAlgorithm)) throw invalidArgument("defaultAlgorithm must be RSA-OAEP or RSA-OAEP-256.");
    if (jwk?.kty !== "RSA" || typeof jwk.n !== "string" || typeof jwk.e !== "string") throw invalidArgument(`JWK "${escapeForDisplay(keyId)}" is not an RSA key.`);
    const n = base64UrlDecode(jwk.n);
    const modulusBits = n ? (n.length - (n[0] === 0 ? 1 : 0)) * 8 : 0;
    if (modulusBits < 2048) throw invalidArgument("RSA keys must be at least 2048 bits.");
    const pick = (names: string[]): Record<string, unknown> => Object.fromEntries(names.filter((k) => jwk[k] !== undefined).map((k) => [k, jwk[k]]));
    const key = new WebRsaKey(keyId, pick(RSA_PUBLIC), typeof jwk.d === "string" ? pick(RSA_PRIVATE) : undefined, defaultAlgorithm);
    // Import once now so that a malformed key fails here, typed, not at first use.
    await key.#key("public", defaultAlgorithm);
    if (key.hasPrivateKey) await key.#key("private", defaultAlgorithm);
    return key;
  }

  get hasPrivateKey(): boolean {
    return this.#private !== undefined;
  }

  #key(kind: "public" | "private", algorithm: WebRsaWrapAlgorithm): Promise<WebCryptoKey> {
    const id = `${kind}:${algorithm}`;
    let p = this.#keys.get(id);
    if (!p) {
      const hash = algorithm === "RSA-OAEP" ? "SHA-1" : "SHA-256";
      const jwk = kind === "public" ? this.#public : this.#private!;
      p = subtle()
        .importKey("jwk", { ...jwk, ext: false }, { name: "RSA-OAEP", hash }, false, [kind === "public" ? "encrypt" : "decrypt"])
        .catch((e: unknown) => {
          this.#keys.delete(id);
          throw new ClientSideEncryptionError("INVALID_ARGUMENT", `JWK "${escapeForDisplay(this.keyId)}" is not a valid RSA key.`, { cause: e, details: { keyId: this.keyId } });
        });
      this.#keys.set(id, p);
    }
    return p;
  }

  #check(algorithm: string): asserts algorithm is WebRsaWrapAlgorithm {
    if (algorithm === "RSA1_5") throw new ClientSideEncryptionError("UNSUPPORTED_OPERATION", "RSA1_5 does not exist in Web Crypto; unwrap legacy RSA1_5 data with the Node backend.", { details: { keyId: this.keyId } });
    if (!(RSA_ALGS as readonly string[]).includes(algorithm)) throw unsupportedAlgorithm(this.keyId, algorithm, RSA_ALGS);
  }

  async wrapKey(algorithm: string, key: Uint8Array, options?: KeyOperationOptions): Promise<WrapKeyResult> {
    throwIfAborted(options?.abortSignal);
    this.#check(algorithm);
    if (!(key instanceof Uint8Array)) throw invalidArgument("The key to wrap must be a Uint8Array.");
    return { encryptedKey: await rsaOaepWrap(await this.#key("public", algorithm), key), keyId: this.keyId };
  }

  async unwrapKey(algorithm: string, encryptedKey: Uint8Array, options?: KeyOperationOptions): Promise<Uint8Array> {
    throwIfAborted(options?.abortSignal);
    this.#check(algorithm);
    if (!this.#private) throw new ClientSideEncryptionError("INVALID_ARGUMENT", `Key "${escapeForDisplay(this.keyId)}" has no private part and cannot unwrap.`, { details: { keyId: this.keyId } });
    return rsaOaepUnwrap(await this.#key("private", algorithm), encryptedKey);
  }

  toJSON(): Record<string, string> {
    return { keyId: this.keyId, algorithm: this.defaultWrapAlgorithm };
  }
}

/**
 * A key from a JWK that carries `kid` (and optionally `alg`): `kty` "oct" → WebAesKeyWrapKey, "RSA" → WebRsaKey.
 * Imported as non-extractable CryptoKeys unless `extractable` is set.
 */
export async function webKeyFromJwk(jwk: Record<string, unknown>, options: WebKeyImportOptions = {}): Promise<WebAesKeyWrapKey | WebRsaKey> {
  if (typeof jwk !== "object" || jwk === null) throw invalidArgument("A JWK must be a JSON object.");
  const kid = jwk.kid;
  if (typeof kid !== "string" || kid.length === 0) throw invalidArgument('The JWK has no "kid"; a key id is required to find the key again on decrypt.');
  const alg = typeof jwk.alg === "string" ? jwk.alg : undefined;
  if (jwk.kty === "oct") {
    const k = typeof jwk.k === "string" ? base64UrlDecode(jwk.k) : undefined;
    if (!k || k.length === 0) throw invalidArgument(`JWK "${escapeForDisplay(kid)}" has no key material ("k").`);
    try {
      const key = await WebAesKeyWrapKey.fromRaw(kid, k, options);
      if (alg && alg !== key.defaultWrapAlgorithm) throw invalidArgument(`JWK "${escapeForDisplay(kid)}" says alg ${escapeForDisplay(alg, 20)} but holds a ${k.length * 8}-bit key.`);
      return key;
    } finally {
      k.fill(0);
    }
  }
  if (jwk.kty === "RSA") {
    if (alg && alg !== "RSA-OAEP" && alg !== "RSA-OAEP-256") throw invalidArgument(`JWK "${escapeForDisplay(kid)}": alg must be RSA-OAEP or RSA-OAEP-256.`);
    return WebRsaKey.fromJwk(kid, jwk, (alg as WebRsaWrapAlgorithm | undefined) ?? "RSA-OAEP");
  }
  throw invalidArgument(`JWK "${escapeForDisplay(kid)}": kty must be "oct" or "RSA".`);
}
