// Storage SDK failures → typed ClientSideEncryptionError, for the parts of the operations engine that are not
// about blobs (the table side, and the --state checkpoint that table runs use too), so that they take nothing
// from @azure-cse/storage-blob. Same mapping and messages as storage-blob's toTypedError (without its
// callerSignal option, which no caller here uses). Issue 15 moves that mapping into core-envelope; once it is
// there, this file becomes a re-export of core's.
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

/**
 * 404 → NOT_FOUND, 412 → CONDITION_NOT_MET, other HTTP statuses and transport failures → SERVICE_ERROR (with
 * `statusCode` in details), aborts → ABORTED. Typed errors pass through unchanged.
 */
export function toTypedError(e: unknown, context: Record<string, string | number | undefined> = {}): ClientSideEncryptionError {
  if (ClientSideEncryptionError.is(e)) return e;
  const err = (typeof e === "object" && e !== null ? e : {}) as RestErrorLike;
  if (err.name === "AbortError" || err.code === "ABORT_ERR") {
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
    return new ClientSideEncryptionError("SERVICE_ERROR", `Storage returned HTTP ${err.statusCode}${errorCode ? ` (${errorCode})` : ""} for ${what}.`, { cause: e, details });
  }
  const code = typeof err.code === "string" ? err.code : undefined;
  return new ClientSideEncryptionError("SERVICE_ERROR", `The storage request failed${code ? ` (${code})` : ""}: ${err.message ?? String(e)}`.slice(0, 500), {
    cause: e,
    details: { ...context, errorCode: code },
  });
}
