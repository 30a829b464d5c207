// Maps @azure/storage-blob and transport failures onto the typed ClientSideEncryptionError codes.
import { ClientSideEncryptionError } from "@azure-cse/core-envelope";

interface RestErrorLike {
  name?: string;
  statusCode?: number;
  code?: string;
  details?: unknown;
  message?: string;
}

function serviceErrorCode(e: RestErrorLike): string | undefined {
  const d = e.details as { errorCode?: unknown } | undefined;
  if (d && typeof d === "object" && typeof d.errorCode === "string") return d.errorCode;
  return typeof e.code === "string" ? e.code : undefined;
}

/** Who could have aborted: with `callerSignal` given (even undefined), an AbortError counts as ABORTED only if that signal fired. */
export interface TypedErrorOptions {
  callerSignal?: { readonly aborted: boolean } | undefined;
}

/**
 * Converts anything thrown by the storage SDK (RestError, AbortError, socket errors) into a typed error:
 * 404 → NOT_FOUND, 412 → CONDITION_NOT_MET, other HTTP statuses and transport failures → SERVICE_ERROR
 * (with `statusCode` in details), aborts → ABORTED. Typed errors pass through unchanged.
 *
 * The Azure SDK also raises an AbortError, without retrying, when a response body ends early (the
 * connection dropped mid-body). When `options.callerSignal` is given, such an AbortError is ABORTED only
 * if the caller's own signal fired; otherwise it is a retryable SERVICE_ERROR (`errorCode` "ResponseIncomplete").
 */
export function toTypedError(e: unknown, context: Record<string, string | number | undefined> = {}, options?: TypedErrorOptions): ClientSideEncryptionError {
  if (ClientSideEncryptionError.is(e)) return e;
  const err = (typeof e === "object" && e !== null ? e : {}) as RestErrorLike;
  if (err.name === "AbortError" || err.code === "ABORT_ERR") {
    if (options && "callerSignal" in options && !options.callerSignal?.aborted) {
      return new ClientSideEncryptionError("SERVICE_ERROR", "The connection closed before the storage response was complete (the caller did not abort); retry the operation.", {
        cause: e,
        details: { ...context, errorCode: "ResponseIncomplete" },
      });
    }
    return new ClientSideEncryptionError("ABORTED", "The operation was aborted.", { cause: e, details: context });
  }
  if (typeof err.statusCode === "number") {
    const errorCode = serviceErrorCode(err);
    const details = { ...context, statusCode: err.statusCode, errorCode };
    const what = context.blob !== undefined ? `blob "${context.container}/${context.blob}"` : "the resource";
    if (err.statusCode === 404) {
      return new ClientSideEncryptionError("NOT_FOUND", `Storage returned 404 (${errorCode ?? "not found"}) for ${what}.`, { cause: e, details });
    }
    if (err.statusCode === 412) {
      return new ClientSideEncryptionError(
        "CONDITION_NOT_MET",
        `The condition on ${what} was not met (HTTP 412 ${errorCode ?? ""}): it was changed by someone else during the operation. Nothing was mixed or overwritten; retry the operation.`.replace("  ", " "),
        { cause: e, details },
      );
    }
    return new ClientSideEncryptionError("SERVICE_ERROR", `Storage returned HTTP ${err.statusCode}${errorCode ? ` (${errorCode})` : ""} for ${what}.`, {
      cause: e,
      details,
    });
  }
  const code = typeof err.code === "string" ? err.code : undefined;
  return new ClientSideEncryptionError("SERVICE_ERROR", `The storage request failed${code ? ` (${code})` : ""}: ${err.message ?? String(e)}`.slice(0, 500), {
    cause: e,
    details: { ...context, errorCode: code },
  });
}

/** Runs a storage call and rethrows failures as typed errors. */
export async function storageCall<T>(context: Record<string, string | number | undefined>, fn: () => Promise<T>, options?: TypedErrorOptions): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw toTypedError(e, context, options);
  }
}
