/** What typedErrorAssertions needs of an error class: a static type guard (ClientSideEncryptionError.is). */
export interface TypedErrorClass<E extends { code: string; message: string }> {
  readonly name: string;
  is(e: unknown): e is E;
}
export interface TypedErrorAssertions<E extends { code: string; message: string }> {
  /** The typed error the function or promise throws; fails the test on another error or none. */
  caught: (fnOrPromise: Promise<unknown> | (() => unknown)) => Promise<E>;
  /** `caught`, then its code must be `code` (and its message match `message`, if given). */
  expectCode: (fnOrPromise: Promise<unknown> | (() => unknown), code: E["code"], message?: RegExp) => Promise<E>;
  /** The typed error's code, "resolved" when nothing was thrown, or "untyped:<statusCode or message>" for another error. */
  codeOf: (fnOrPromise: Promise<unknown> | (() => unknown)) => Promise<string>;
  /** The typed error itself, else codeOf's "resolved" / "untyped:<statusCode or message>". */
  settled: (fnOrPromise: Promise<unknown> | (() => unknown)) => Promise<E | string>;
}
export function typedErrorAssertions<E extends { code: string; message: string }>(ErrorClass: TypedErrorClass<E>): TypedErrorAssertions<E>;
/** Everything an error exposes as text: message, details, stack and causes. */
export function errorText(e: unknown): string;
/** Asserts that none of the secrets appears in the error (strings as is; bytes as hex, HEX, base64, base64url, latin1). */
export function expectNoSecrets(e: unknown, secrets: readonly (Uint8Array | string)[]): void;
