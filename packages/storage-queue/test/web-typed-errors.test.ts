// The web queue client throws core's typed service errors (toTypedError, exported from core's /web entry), the
// same codes as the Node client: a missing queue is NOT_FOUND naming the queue, a stale pop receipt is
// SERVICE_ERROR with the service's errorCode, a caller abort is ABORTED; the RestError is the cause.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QueueClient } from "@azure/storage-queue";
import { AesKeyWrapKey, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { EncryptedQueueClient } from "@azure-cse/storage-queue";
import { WebEncryptedQueueClient } from "@azure-cse/storage-queue/web";
import { startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { newQueue } from "./helpers.js";

const kek = AesKeyWrapKey.generate("local:q-web-errors");
const policy: ClientSideEncryptionPolicy = { keyEncryptionKey: kek };

let azurite: AzuriteHandle;
beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.stop();
});

async function failure(p: Promise<unknown>): Promise<{ code?: string; message: string; details?: Record<string, unknown>; cause?: unknown }> {
  try {
    await p;
  } catch (e) {
    return e as { code?: string; message: string; details?: Record<string, unknown>; cause?: unknown };
  }
  throw new Error("expected a failure");
}

describe("web queue client: typed service errors (core's one mapping)", () => {
  it("a missing queue: NOT_FOUND naming the queue, statusCode 404, the RestError as cause; the Node client gives the same code", async () => {
    const raw = new QueueClient(azurite.connectionString, "no-such-queue-web");
    const web = new WebEncryptedQueueClient(raw, policy);
    for (const call of [() => web.sendMessage("x"), () => web.receiveMessages(), () => web.peekMessages()]) {
      const e = await failure(call());
      expect(e.code).toBe("NOT_FOUND");
      expect(e.message).toContain('queue "no-such-queue-web"');
      expect(e.details).toMatchObject({ queue: "no-such-queue-web", statusCode: 404, errorCode: "QueueNotFound" });
      expect((e.cause as { statusCode?: number }).statusCode).toBe(404);
    }
    expect((await failure(new EncryptedQueueClient(raw, policy).sendMessage("x"))).code).toBe("NOT_FOUND");
  });

  it("a stale pop receipt: SERVICE_ERROR 400 PopReceiptMismatch naming the message; a caller abort: ABORTED", async () => {
    const raw = await newQueue(azurite.connectionString, "qwe");
    const web = new WebEncryptedQueueClient(raw, policy);
    await web.sendMessage("hello");
    const [m] = await web.receiveMessages({ visibilityTimeout: 1 });
    const updated = await web.updateMessage(m!.messageId, m!.popReceipt!, "new", 0);
    const stale = await failure(web.deleteMessage(m!.messageId, m!.popReceipt!));
    expect(stale.code).toBe("SERVICE_ERROR");
    expect(stale.details).toMatchObject({ messageId: m!.messageId, statusCode: 400, errorCode: "PopReceiptMismatch" });
    await web.deleteMessage(m!.messageId, updated.popReceipt!);
    const ac = new AbortController();
    ac.abort();
    expect((await failure(web.peekMessages({ abortSignal: ac.signal }))).code).toBe("ABORTED");
  });
});
