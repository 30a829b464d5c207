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

  it("messages name the target: blob wording unchanged; queue, message, table, entity, partition and claim-check payload; names escaped", () => {
    expect(toTypedError(rest(404, "BlobNotFound"), { container: "c", blob: "b" }).message).toBe('Storage returned 404 (BlobNotFound) for blob "c/b".');
    expect(toTypedError(rest(404, "ContainerNotFound"), { container: "c" }).message).toBe("Storage returned 404 (ContainerNotFound) for the resource.");
    expect(toTypedError(rest(404, "QueueNotFound"), { queue: "q" }).message).toBe('Storage returned 404 (QueueNotFound) for queue "q".');
    expect(toTypedError(rest(400, "PopReceiptMismatch"), { queue: "q", messageId: "m" }).message).toBe('Storage returned HTTP 400 (PopReceiptMismatch) for message "m" in queue "q".');
    expect(toTypedError(rest(404, "TableNotFound"), { table: "t" }).message).toBe('Storage returned 404 (TableNotFound) for table "t".');
    expect(toTypedError(rest(409, "EntityAlreadyExists"), { table: "t", partitionKey: "pk", rowKey: "rk" }).message).toBe(
      'Storage returned HTTP 409 (EntityAlreadyExists) for entity "t" ("pk", "rk").',
    );
    expect(toTypedError(rest(412, "UpdateConditionNotSatisfied"), { table: "t", partitionKey: "pk", rowKey: "rk" }).message).toMatch(/^The condition on entity "t" \("pk", "rk"\) was not met \(HTTP 412 UpdateConditionNotSatisfied\)/);
    expect(toTypedError(rest(500), { table: "t", partitionKey: "pk" }).message).toBe('Storage returned HTTP 500 for partition "pk" of table "t".');
    expect(toTypedError(rest(503), { claimCheckName: "cc/1" }).message).toBe('Storage returned HTTP 503 for claim-check payload "cc/1".');
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });
    expect(toTypedError(refused, { container: "c", blob: "b" }).message).toBe("The storage request failed (ECONNREFUSED): connect ECONNREFUSED 127.0.0.1:1");
    expect(toTypedError(refused, { queue: "q" }).message).toBe('The storage request for queue "q" failed (ECONNREFUSED): connect ECONNREFUSED 127.0.0.1:1');
    expect(toTypedError(refused).message).toBe("The storage request failed (ECONNREFUSED): connect ECONNREFUSED 127.0.0.1:1");
    const hostile = toTypedError(rest(404), { table: "t", partitionKey: "p\u001b[2J", rowKey: "r\u202e" });
    expect(hostile.message).not.toContain("\u001b");
    expect(hostile.message).not.toContain("\u202e");
    expect(hostile.message).toContain('"p\\u001b[2J"');
    expect(hostile.details).toMatchObject({ partitionKey: "p\u001b[2J", rowKey: "r\u202e" });
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
