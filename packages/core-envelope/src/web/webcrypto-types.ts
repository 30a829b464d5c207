// Structural types for the parts of Web Crypto this backend uses, so that the package's declarations
// need neither the DOM lib nor @types/node (browser apps compile with "lib": ["DOM"], Node ones without it;
// the real CryptoKey and SubtleCrypto of either satisfy these).

/** A Web Crypto key (browser `CryptoKey`, Node `webcrypto.CryptoKey`). */
export interface WebCryptoKey {
  readonly type: string;
  readonly extractable: boolean;
  readonly algorithm: object;
  readonly usages: readonly string[];
}

type Bytes = Uint8Array<ArrayBuffer>;
type Algorithm = string | ({ name: string } & Record<string, unknown>);

/** The SubtleCrypto methods the web backend calls. */
export interface SubtleLike {
  importKey(format: "raw", keyData: Bytes, algorithm: Algorithm, extractable: boolean, usages: string[]): Promise<WebCryptoKey>;
  importKey(format: "jwk", keyData: Record<string, unknown>, algorithm: Algorithm, extractable: boolean, usages: string[]): Promise<WebCryptoKey>;
  exportKey(format: "raw", key: WebCryptoKey): Promise<ArrayBuffer>;
  encrypt(algorithm: Algorithm, key: WebCryptoKey, data: Bytes): Promise<ArrayBuffer>;
  decrypt(algorithm: Algorithm, key: WebCryptoKey, data: Bytes): Promise<ArrayBuffer>;
  wrapKey(format: "raw", key: WebCryptoKey, wrappingKey: WebCryptoKey, wrapAlgorithm: Algorithm): Promise<ArrayBuffer>;
  unwrapKey(
    format: "raw",
    wrappedKey: Bytes,
    unwrappingKey: WebCryptoKey,
    unwrapAlgorithm: Algorithm,
    unwrappedKeyAlgorithm: Algorithm,
    extractable: boolean,
    usages: string[],
  ): Promise<WebCryptoKey>;
}

/** `globalThis.crypto` as far as this backend needs it. */
export interface CryptoLike {
  readonly subtle?: SubtleLike;
  getRandomValues?<T extends Uint8Array>(array: T): T;
}
