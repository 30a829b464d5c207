// Typed service errors (toTypedError): the one mapping the blob, queue and table clients and the CLI share.
import { describe, expect, it } from "vitest";
import { ClientSideEncryptionError, toTypedError } from "../src/index.js";
import { isNetworkErrorCode, isServiceFailure, serviceCall } from "../src/internal.js";

const rest = (statusCode: number, errorCode?: string) => Object.assign(new Error(`HTTP ${statusCode}`), { name: "RestError", statusCode, details: errorCode ? { errorCode } : undefined });

describe("toTypedError", () => {
  it("maps statuses: 404 → NOT_FOUND, 412 and condition codes → CONDITION_NOT_MET, other 409s and 5xx → SERVICE_ERROR", () => {
    expect(toTypedError(rest(404, "BlobNotFound"), { container: "c", blob: "b" })).toMatchObject({ code: "NOT_FOUND", details: { statusCode: 404, errorCode: "BlobNotFound", container: "c", blob: "b" } });
    expect(toTypedError(rest(412, "ConditionNotMet")).code).toBe("CONDITION_NOT_MET");
    expect(toTypedError(rest(412, "UpdateConditionNotSatisfied")).code).toBe("CONDITION_NOT_MET");
    expect(toTypedError(rest(409, "UpdateConditionNotSatisfied")).code).toBe("CONDITION_NOT_MET");
    expect(toTypedError(rest(409, "BlobAlreadyExists"))).toMatchObject({ code: "SERVICE_ERROR", details: { statusCode: 409, errorCode: "BlobAlreadyExists" } });
    expect(toTypedError(rest(503)).code).toBe("SERVICE_ERROR");
    expect(toTypedError(Object.assign(new Error("x"), { code: "ECONNRESET" }))).toMatchObject({ code: "SERVICE_ERROR", details: { errorCode: "ECONNRESET" } });
  });

  it("aborts: ABORTED, unless a caller signal was given and did not fire (a body cut short: retryable SERVICE_ERROR)", () => {
    const abort = Object.assign(new Error("aborted"), { name: "AbortError" });
    expect(toTypedError(abort).code).toBe("ABORTED");
    expect(toTypedError(abort, {}, { callerSignal: { aborted: true } }).code).toBe("ABORTED");
    expect(toTypedError(abort, {}, { callerSignal: undefined })).toMatchObject({ code: "SERVICE_ERROR", details: { errorCode: "ResponseIncomplete" } });
  });

  it("typed errors pass unchanged; serviceCall rethrows typed; the predicates read only the shape", async () => {
    const typed = new ClientSideEncryptionError("KEY_NOT_FOUND", "k");
    expect(toTypedError(typed)).toBe(typed);
    await expect(serviceCall({ queue: "q" }, async () => Promise.reject(rest(404)))).rejects.toMatchObject({ code: "NOT_FOUND", details: { queue: "q" } });
    expect(isServiceFailure(rest(500))).toBe(true);
    expect(isServiceFailure(new Error("plain"))).toBe(false);
    expect(isServiceFailure(typed)).toBe(false);
    expect(isNetworkErrorCode("ETIMEDOUT")).toBe(true);
    expect(isNetworkErrorCode("ENOENT")).toBe(false);
  });
});
