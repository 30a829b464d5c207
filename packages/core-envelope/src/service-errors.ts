// Typed service errors: one duck-typed mapping from what the Azure SDKs and transports throw (RestError-like
// objects with statusCode/code, AbortError, socket errors) onto ClientSideEncryptionError codes. Used by the
// blob, queue and table clients and by the CLI, so a library user and a CLI user see the same codes.
// No Azure SDK dependency: only the shape of the error is read.
import { ClientSideEncryptionError } from "./errors.js";
import { quoteForDisplay } from "./internal/display.js";

interface RestErrorLike {
  name?: string;
  statusCode?: number;
  code?: string;
  details?: unknown;
  message?: string;
}

/** Who could have aborted: with `callerSignal` given (even undefined), an AbortError counts as ABORTED only if that signal fired. */
export interface TypedErrorOptions {
  callerSignal?: { readonly aborted: boolean } | undefined;
}

/** Context placed in the error's details (container/blob, queue, table, partitionKey/rowKey...), never a secret. */
export type ServiceErrorContext = Record<string, string | number | undefined>;

/**
 * What the failed request was about, for the message: `blob "c/b"` (blob wording kept as it always was),
 * `entity "t" ("pk", "rk")`, `table "t"`, `message "id" in queue "q"`, `queue "q"`, `claim-check payload "n"`,
 * else `undefined` (the message then says "the resource"). Names are quoted and escaped, never raw.
 */
function describeTarget(c: ServiceErrorContext): string | undefined {
  const q = (v: string | number) => quoteForDisplay(String(v), 120);
  if (c.blob !== undefined) return `blob "${c.container}/${c.blob}"`;
  if (c.table !== undefined) {
    if (c.partitionKey !== undefined && c.rowKey !== undefined) return `entity ${q(c.table)} (${q(c.partitionKey)}, ${q(c.rowKey)})`;
    if (c.partitionKey !== undefined) return `partition ${q(c.partitionKey)} of table ${q(c.table)}`;
    return `table ${q(c.table)}`;
  }
  if (c.queue !== undefined) return c.messageId !== undefined ? `message ${q(c.messageId)} in queue ${q(c.queue)}` : `queue ${q(c.queue)}`;
  if (c.claimCheckName !== undefined) return `claim-check payload ${q(c.claimCheckName)}`;
  return undefined;
}

/**
 * Service error codes that mean "a condition on the request was not met" whatever the HTTP status (the services
 * send them with 412, some with 409): CONDITION_NOT_MET. Other 409s (e.g. BlobAlreadyExists for a create-only
 * write, EntityAlreadyExists) stay SERVICE_ERROR with `statusCode` and `errorCode` in details.
 */
export const CONDITION_ERROR_CODES: ReadonlySet<string> = new Set(["ConditionNotMet", "UpdateConditionNotSatisfied", "SourceConditionNotMet", "TargetConditionNotMet"]);

/** Socket-level failures of a request (no HTTP answer): SERVICE_ERROR with `errorCode`. */
const NETWORK_CODES = /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EPIPE|ENETUNREACH|EHOSTUNREACH|ECONNABORTED|REQUEST_SEND_ERROR)$/;

/** Whether `code` is a socket-level failure of a request (ECONNRESET, ETIMEDOUT, ...). */
export function isNetworkErrorCode(code: unknown): boolean {
  return typeof code === "string" && NETWORK_CODES.test(code);
}

/** The service's error code: `details.errorCode` (storage), else `code`. */
export function serviceErrorCode(e: unknown): string | undefined {
  const err = (typeof e === "object" && e !== null ? e : {}) as RestErrorLike;
  const d = err.details as { errorCode?: unknown } | undefined;
  if (d && typeof d === "object" && typeof d.errorCode === "string") return d.errorCode;
  return typeof err.code === "string" ? err.code : undefined;
}

/** The HTTP status of a RestError-like error, else undefined. */
export function statusCodeOf(e: unknown): number | undefined {
  const s = (typeof e === "object" && e !== null ? (e as RestErrorLike).statusCode : undefined) as unknown;
  return typeof s === "number" ? s : undefined;
}

/** Whether an error is a service answer or a transport failure this mapping types (RestError-like, AbortError, socket error). */
export function isServiceFailure(e: unknown): boolean {
  if (typeof e !== "object" || e === null || ClientSideEncryptionError.is(e)) return false;
  const err = e as RestErrorLike;
  return typeof err.statusCode === "number" || err.name === "RestError" || err.name === "AbortError" || err.code === "ABORT_ERR" || isNetworkErrorCode(err.code);
}

/**
 * Converts anything thrown by an Azure SDK (RestError, AbortError, socket errors) into a typed error:
 * 404 → NOT_FOUND, 412 and the condition error codes (CONDITION_ERROR_CODES, whatever the status) → CONDITION_NOT_MET,
 * other HTTP statuses and transport failures → SERVICE_ERROR (with `statusCode` and `errorCode` in details),
 * aborts → ABORTED. Typed errors pass through unchanged.
 *
 * The Azure SDK also raises an AbortError, without retrying, when a response body ends early (the
 * connection dropped mid-body). When `options.callerSignal` is given, such an AbortError is ABORTED only
 * if the caller's own signal fired; otherwise it is a retryable SERVICE_ERROR (`errorCode` "ResponseIncomplete").
 */
export function toTypedError(e: unknown, context: ServiceErrorContext = {}, options?: TypedErrorOptions): ClientSideEncryptionError {
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
    const what = describeTarget(context) ?? "the resource";
    if (err.statusCode === 404) {
      return new ClientSideEncryptionError("NOT_FOUND", `Storage returned 404 (${errorCode ?? "not found"}) for ${what}.`, { cause: e, details });
    }
    if (err.statusCode === 412 || (errorCode !== undefined && CONDITION_ERROR_CODES.has(errorCode))) {
      return new ClientSideEncryptionError(
        "CONDITION_NOT_MET",
        `The condition on ${what} was not met (HTTP ${err.statusCode} ${errorCode ?? ""}): it was changed by someone else during the operation. Nothing was mixed or overwritten; retry the operation.`.replace("  ", " "),
        { cause: e, details },
      );
    }
    return new ClientSideEncryptionError("SERVICE_ERROR", `Storage returned HTTP ${err.statusCode}${errorCode ? ` (${errorCode})` : ""} for ${what}.`, {
      cause: e,
      details,
    });
  }
  const code = typeof err.code === "string" ? err.code : undefined;
  // Blob wording unchanged ("The storage request failed"); queue and table requests name their target.
  const target = context.blob === undefined ? describeTarget(context) : undefined;
  return new ClientSideEncryptionError("SERVICE_ERROR", `The storage request${target ? ` for ${target}` : ""} failed${code ? ` (${code})` : ""}: ${err.message ?? String(e)}`.slice(0, 500), {
    cause: e,
    details: { ...context, errorCode: code },
  });
}

/** Runs a service call and rethrows failures as typed errors. */
export async function serviceCall<T>(context: ServiceErrorContext, fn: () => Promise<T>, options?: TypedErrorOptions): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw toTypedError(e, context, options);
  }
}
