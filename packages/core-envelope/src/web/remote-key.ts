// A key-encryption key whose wrap and unwrap happen in the application's own backend. Browsers cannot
// call Key Vault directly (it sends no CORS headers), and a KEK should not live in a page anyway: the page
// sends the 40-byte wrap input or the wrapped key to the backend, which authenticates the user and calls
// Key Vault (or a local key). The wire format follows Key Vault's wrapkey/unwrapkey operations:
//   POST {baseUrl}/wrapkey   {"alg": "...", "value": base64url(key)}     → {"kid": "...", "value": base64url(wrapped)}
//   POST {baseUrl}/unwrapkey {"alg": "...", "value": base64url(wrapped)} → {"value": base64url(key)}
// An unwrap the backend refuses as undecryptable (HTTP 422) is DECRYPTION_FAILED like any other; every other
// failure is KEY_OPERATION_FAILED with the HTTP status, never with the request or response body.
import { ClientSideEncryptionError, decryptionFailed, invalidArgument, throwIfAborted } from "../errors.js";
import { escapeForDisplay } from "../internal/bytes.js";
import type { KeyEncryptionKey, KeyOperationOptions, WrapKeyResult } from "../kek/types.js";
import { base64UrlDecode, base64UrlEncode } from "./base64.js";

/** The response of a `fetch` call, as far as this key uses it. */
export interface FetchResponseLike {
  readonly status: number;
  readonly ok: boolean;
  json(): Promise<unknown>;
}
/** `fetch` as far as this key uses it (the platform's by default). */
export type FetchLike = (url: string, init: { method: "POST"; headers: Record<string, string>; body: string; signal?: unknown; credentials?: "same-origin" | "include" | "omit" }) => Promise<FetchResponseLike>;

export interface RemoteKeyEncryptionKeyOptions {
  /** The key id stored with the data (Key Vault: the key's id; the backend may return a versioned `kid` on wrap). */
  keyId: string;
  /** Base URL of the backend's key operations, e.g. "/api/kek" or "https://app.example/kek". */
  baseUrl: string;
  /** Algorithm used when the policy names none; default "RSA-OAEP-256". Passed to the backend as `alg`. */
  defaultWrapAlgorithm?: string;
  /** Extra request headers (an anti-CSRF token, an Authorization bearer), computed per request. */
  headers?: () => Record<string, string> | Promise<Record<string, string>>;
  /** Cookie policy for the requests; default "same-origin". */
  credentials?: "same-origin" | "include" | "omit";
  /** The fetch implementation; default `globalThis.fetch`. */
  fetch?: FetchLike;
}

export class RemoteKeyEncryptionKey implements KeyEncryptionKey {
  readonly keyId: string;
  readonly defaultWrapAlgorithm: string;
  readonly #base: string;
  readonly #options: RemoteKeyEncryptionKeyOptions;

  constructor(options: RemoteKeyEncryptionKeyOptions) {
    if (typeof options !== "object" || options === null) throw invalidArgument("RemoteKeyEncryptionKey needs options { keyId, baseUrl }.");
    if (typeof options.keyId !== "string" || !options.keyId) throw invalidArgument("A key id is required.");
    if (typeof options.baseUrl !== "string" || !options.baseUrl) throw invalidArgument("baseUrl must be the URL of the backend's key operations.");
    if (options.fetch === undefined && typeof (globalThis as { fetch?: unknown }).fetch !== "function") throw invalidArgument("No fetch is available; pass options.fetch.");
    this.keyId = options.keyId;
    this.defaultWrapAlgorithm = options.defaultWrapAlgorithm ?? "RSA-OAEP-256";
    this.#base = options.baseUrl.replace(/\/+$/, "");
    this.#options = options;
  }

  async #call(op: "wrapkey" | "unwrapkey", algorithm: string, value: Uint8Array, options: KeyOperationOptions | undefined): Promise<Record<string, unknown>> {
    throwIfAborted(options?.abortSignal);
    if (typeof algorithm !== "string" || !algorithm) throw invalidArgument("A wrap algorithm is required.");
    if (!(value instanceof Uint8Array)) throw invalidArgument("The key bytes must be a Uint8Array.");
    const doFetch = this.#options.fetch ?? (globalThis as { fetch: FetchLike }).fetch;
    const shown = escapeForDisplay(this.keyId);
    let res: FetchResponseLike;
    try {
      const extra = (await this.#options.headers?.()) ?? {};
      res = await doFetch(`${this.#base}/${op}`, {
        method: "POST",
        headers: { ...extra, "content-type": "application/json" },
        body: JSON.stringify({ alg: algorithm, value: base64UrlEncode(value) }),
        credentials: this.#options.credentials ?? "same-origin",
        ...(options?.abortSignal ? { signal: options.abortSignal } : {}),
      });
    } catch (e) {
      throwIfAborted(options?.abortSignal);
      throw new ClientSideEncryptionError("KEY_OPERATION_FAILED", `The key backend could not be reached for ${op} with key "${shown}".`, { cause: e, details: { keyId: this.keyId } });
    }
    if (op === "unwrapkey" && res.status === 422) throw decryptionFailed();
    if (!res.ok) {
      throw new ClientSideEncryptionError("KEY_OPERATION_FAILED", `The key backend refused ${op} with key "${shown}" (HTTP ${res.status}).`, { details: { keyId: this.keyId, status: res.status } });
    }
    let body: unknown;
    try {
      body = await res.json();
    } catch {
      body = undefined;
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw new ClientSideEncryptionError("KEY_OPERATION_FAILED", `The key backend's ${op} response is not a JSON object.`, { details: { keyId: this.keyId } });
    }
    return body as Record<string, unknown>;
  }

  async wrapKey(algorithm: string, key: Uint8Array, options?: KeyOperationOptions): Promise<WrapKeyResult> {
    const body = await this.#call("wrapkey", algorithm, key, options);
    const value = typeof body.value === "string" ? base64UrlDecode(body.value) : undefined;
    if (!value || value.length === 0) throw new ClientSideEncryptionError("KEY_OPERATION_FAILED", "The key backend's wrapkey response has no base64url value.", { details: { keyId: this.keyId } });
    if (body.kid !== undefined && (typeof body.kid !== "string" || !body.kid)) throw new ClientSideEncryptionError("KEY_OPERATION_FAILED", "The key backend's wrapkey response has an invalid kid.", { details: { keyId: this.keyId } });
    return { encryptedKey: value, keyId: body.kid ?? this.keyId };
  }

  async unwrapKey(algorithm: string, encryptedKey: Uint8Array, options?: KeyOperationOptions): Promise<Uint8Array> {
    const body = await this.#call("unwrapkey", algorithm, encryptedKey, options);
    const value = typeof body.value === "string" ? base64UrlDecode(body.value) : undefined;
    // A backend answering 200 with something that is not a key: treated like any failed unwrap.
    if (!value) throw decryptionFailed();
    return value;
  }

  toJSON(): Record<string, string> {
    return { keyId: this.keyId, algorithm: this.defaultWrapAlgorithm, baseUrl: this.#base };
  }
}
