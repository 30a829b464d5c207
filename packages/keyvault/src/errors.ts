import { ClientSideEncryptionError } from "@azure-cse/core-envelope";
import { decryptionFailed } from "@azure-cse/core-envelope/internal";
import { clean, quote } from "./text.js";

export type KeyVaultOperation = "wrapKey" | "unwrapKey";

/** Facts read from an @azure/core-rest-pipeline RestError (duck-typed, no dependency on its class). */
export interface ServiceFailure {
  statusCode: number | undefined;
  serviceCode: string | undefined;
  serviceMessage: string | undefined;
  retryAfter: string | undefined;
}

interface RestErrorLike {
  name?: unknown;
  message?: unknown;
  statusCode?: unknown;
  code?: unknown;
  details?: { error?: { code?: unknown; message?: unknown } };
  response?: { headers?: { get?(name: string): string | undefined } };
}

export function serviceFailure(e: unknown): ServiceFailure {
  const r = (typeof e === "object" && e !== null ? e : {}) as RestErrorLike;
  const str = (v: unknown) => (typeof v === "string" && v !== "" ? v : undefined);
  const retryAfter = typeof r.response?.headers?.get === "function" ? r.response.headers.get("retry-after") : undefined;
  return {
    statusCode: typeof r.statusCode === "number" ? r.statusCode : undefined,
    serviceCode: str(r.details?.error?.code) ?? str(r.code),
    serviceMessage: str(r.details?.error?.message) ?? str(r.message),
    retryAfter: retryAfter ?? undefined,
  };
}

function isAbort(e: unknown): boolean {
  return typeof e === "object" && e !== null && (e as { name?: unknown }).name === "AbortError";
}

const permissionHint = (op: KeyVaultOperation) =>
  `keys/${op} (access policy) or Microsoft.KeyVault/vaults/keys/${op}/action, e.g. the "Key Vault Crypto Service Encryption User" role`;

/**
 * Translates a failure of `CryptographyClient.wrapKey/unwrapKey` into a typed error that names the key
 * id and the HTTP status. The original error is never attached as `cause`: an @azure RestError carries
 * the request, whose body holds the plaintext content key for wrapKey and whose headers hold the token.
 */
export function keyVaultError(e: unknown, op: KeyVaultOperation, keyId: string): ClientSideEncryptionError {
  if (ClientSideEncryptionError.is(e)) return e;
  if (isAbort(e)) return new ClientSideEncryptionError("ABORTED", "The operation was aborted.", { details: { keyId } });
  const f = serviceFailure(e);
  const status = f.statusCode;
  const svc = f.serviceCode ? ` ${clean(f.serviceCode, 64)}` : "";
  const kid = quote(keyId);
  const details = { keyId, operation: op, statusCode: status, serviceCode: f.serviceCode };
  if (status === 404) {
    return new ClientSideEncryptionError(
      "KEY_NOT_FOUND",
      `Key Vault has no key ${kid} (HTTP 404${svc}). Check the vault, key name and version; a deleted key must be recovered before data wrapped with it can be read.`,
      { details },
    );
  }
  if (status === 401) {
    return new ClientSideEncryptionError(
      "KEY_OPERATION_FAILED",
      `Key Vault did not accept the credential for ${op} with key ${kid} (HTTP 401${svc}). Check the credential and its tenant; the identity needs ${permissionHint(op)}.`,
      { details },
    );
  }
  if (status === 403) {
    return new ClientSideEncryptionError(
      "KEY_OPERATION_FAILED",
      `The credential may not ${op} with key ${kid} (HTTP 403${svc}). Grant ${permissionHint(op)}.`,
      { details },
    );
  }
  if (status === 400 && op === "unwrapKey") {
    // The request was well formed (the algorithm name was checked before sending), so a 400 on unwrap means
    // the stored wrapped key does not unwrap under this key version: tampered bytes, a wrong version, or a
    // versionless id after rotation. Reported exactly like a local key's unwrap failure (docs/security.md §5):
    // one code, one message, no details, so Key Vault is no unwrap oracle.
    return decryptionFailed();
  }
  if (status === 429) {
    return new ClientSideEncryptionError(
      "KEY_OPERATION_FAILED",
      `Key Vault kept throttling ${op} with key ${kid} (HTTP 429${svc}) after the retries were used up. Lower the request rate, enable the content-key cache, or raise clientOptions.retryOptions.maxRetries.`,
      { details: { ...details, retryAfter: f.retryAfter, reason: "THROTTLED" } },
    );
  }
  if (status !== undefined && status >= 500) {
    return new ClientSideEncryptionError(
      "KEY_OPERATION_FAILED",
      `Key Vault failed ${op} with key ${kid} (HTTP ${status}${svc}) after retries; try again later.`,
      { details },
    );
  }
  if (status !== undefined) {
    return new ClientSideEncryptionError(
      "KEY_OPERATION_FAILED",
      `Key Vault refused ${op} with key ${kid} (HTTP ${status}${svc}): ${f.serviceMessage === undefined ? "no message" : quote(f.serviceMessage, 300)}.`,
      { details },
    );
  }
  return new ClientSideEncryptionError(
    "KEY_OPERATION_FAILED",
    `${op} with Key Vault key ${kid} failed: ${f.serviceMessage === undefined ? "unknown error" : quote(f.serviceMessage, 300)}.`,
    { details },
  );
}
