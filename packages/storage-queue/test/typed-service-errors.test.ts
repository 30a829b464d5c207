// Typed service errors (issue 15): every service call of EncryptedQueueClient / EncryptedQueueServiceClient throws a
// ClientSideEncryptionError through core's one mapping (the codes blob and tables throw and the CLI prints), with
// the queue name (and message id) in details, the SDK's error as cause, and never the message text.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QueueClient, QueueServiceClient, StorageSharedKeyCredential } from "@azure/storage-queue";
import { BlobServiceClient, StorageSharedKeyCredential as BlobKeyCredential } from "@azure/storage-blob";
import { AesKeyWrapKey, type ClientSideEncryptionError, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { EncryptedContainerClient } from "@azure-cse/storage-blob";
import { EncryptedQueueClient, EncryptedQueueServiceClient, type ClaimCheckStore } from "@azure-cse/storage-queue";
import { freePort, startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { caught, newQueue } from "./helpers.js";

let az: AzuriteHandle;
const kek = new AesKeyWrapKey("local:typed-errors", Buffer.alloc(32, 0x5a));
const policy: ClientSideEncryptionPolicy = { keyEncryptionKey: kek };
const TEXT = "message-text-7d1e";
let n = 0;

const abortError = () => Object.assign(new Error("The operation was aborted."), { name: "AbortError" });

/** The error carries no message text, in its message or details. */
function expectNoText(e: ClientSideEncryptionError): void {
  expect(e.message).not.toContain(TEXT);
  expect(JSON.stringify(e.details)).not.toContain(TEXT);
}

/** A QueueClient on a loopback port nobody listens on, one try only. */
async function closedQueue(name: string): Promise<QueueClient> {
  const port = await freePort();
  return new QueueClient(`http://127.0.0.1:${port}/${az.accountName}/${name}`, new StorageSharedKeyCredential(az.accountName, az.accountKey), { retryOptions: { maxTries: 1 } });
}

/** The queue client whose every request fails as the SDK fails when a response body is cut short. */
function droppingBodies(q: QueueClient): QueueClient {
  const fail = () => Promise.reject(abortError());
  return Object.assign(Object.create(q) as QueueClient, { sendMessage: fail, receiveMessages: fail, peekMessages: fail, updateMessage: fail, deleteMessage: fail });
}

beforeAll(async () => {
  az = await startAzurite();
});
afterAll(async () => {
  await az?.stop();
});

describe("EncryptedQueueClient: service failures are typed", () => {
  it("a missing queue is NOT_FOUND (statusCode 404, QueueNotFound) naming the queue (and message), with the RestError as cause, on every call", async () => {
    const name = `missing-${process.pid}-${n++}`;
    const c = new EncryptedQueueClient(QueueServiceClient.fromConnectionString(az.connectionString).getQueueClient(name), policy);
    const calls: Array<[string, () => Promise<unknown>, Record<string, unknown>]> = [
      ["sendMessage", () => c.sendMessage(TEXT), {}],
      ["receiveMessages", () => c.receiveMessages(), {}],
      ["peekMessages", () => c.peekMessages(), {}],
      ["updateMessage", () => c.updateMessage("m1", "pop", TEXT, 0), { messageId: "m1" }],
      ["updateMessage (visibility only)", () => c.updateMessage("m1", "pop", undefined, 5), { messageId: "m1" }],
      ["deleteMessage", () => c.deleteMessage("m1", "pop"), { messageId: "m1" }],
    ];
    for (const [label, call, extra] of calls) {
      const e = await caught(call);
      expect(e.code, label).toBe("NOT_FOUND");
      expect(e.details, label).toMatchObject({ queue: name, statusCode: 404, errorCode: "QueueNotFound", ...extra });
      expect((e.cause as { name?: string; statusCode?: number }).statusCode, label).toBe(404);
      expect((e.cause as { name?: string }).name, label).toBe("RestError");
      expectNoText(e);
    }
    expect((await caught(() => c.receiveMessages())).message).toBe(`Storage returned 404 (QueueNotFound) for queue "${name}".`);
    expect((await caught(() => c.deleteMessage("m1", "pop"))).message).toBe(`Storage returned 404 (QueueNotFound) for message "m1" in queue "${name}".`);
  });

  it("a message already deleted is NOT_FOUND naming the message; a stale pop receipt is SERVICE_ERROR 400 PopReceiptMismatch", async () => {
    const raw = await newQueue(az.connectionString, "typed");
    const c = new EncryptedQueueClient(raw, policy);
    await c.sendMessage(TEXT);
    const [m] = (await c.receiveMessages({ visibilityTimeout: 30 })).receivedMessageItems;
    const updated = await c.updateMessage(m!.messageId, m!.popReceipt, TEXT, 30);
    const stale = await caught(() => c.deleteMessage(m!.messageId, m!.popReceipt));
    // The service answers 400 PopReceiptMismatch (no ETag condition exists for messages): SERVICE_ERROR with both.
    expect(stale).toMatchObject({ code: "SERVICE_ERROR", details: { queue: raw.name, messageId: m!.messageId, statusCode: 400, errorCode: "PopReceiptMismatch" } });
    expectNoText(stale);
    await c.deleteMessage(m!.messageId, updated.popReceipt!);
    const gone = await caught(() => c.deleteMessage(m!.messageId, updated.popReceipt!));
    expect(gone).toMatchObject({ code: "NOT_FOUND", details: { queue: raw.name, messageId: m!.messageId, statusCode: 404, errorCode: "MessageNotFound" } });
  });

  it("the caller's abort is ABORTED (cause: the SDK's AbortError); a cut-short response without one is a retryable SERVICE_ERROR", async () => {
    const raw = await newQueue(az.connectionString, "typed");
    const c = new EncryptedQueueClient(raw, policy);
    const sent = await c.sendMessage(TEXT);
    const ac = new AbortController();
    ac.abort();
    for (const call of [
      () => c.receiveMessages({ abortSignal: ac.signal }),
      () => c.peekMessages({ abortSignal: ac.signal }),
      () => c.deleteMessage(sent.messageId, sent.popReceipt, { abortSignal: ac.signal }),
      () => c.updateMessage(sent.messageId, sent.popReceipt, undefined, 0, { abortSignal: ac.signal }),
    ]) {
      const e = await caught(call);
      expect(e.code).toBe("ABORTED");
      expect(e.details.queue).toBe(raw.name);
      expect((e.cause as { name?: string }).name).toBe("AbortError");
    }
    const d = new EncryptedQueueClient(droppingBodies(raw), policy);
    const live = new AbortController();
    for (const call of [
      () => d.sendMessage(TEXT, { abortSignal: live.signal }),
      () => d.receiveMessages({ abortSignal: live.signal }),
      () => d.peekMessages(),
      () => d.updateMessage(sent.messageId, sent.popReceipt, TEXT, 0),
      () => d.deleteMessage(sent.messageId, sent.popReceipt),
    ]) {
      const e = await caught(call);
      expect(e).toMatchObject({ code: "SERVICE_ERROR", details: { queue: raw.name, errorCode: "ResponseIncomplete" } });
      expectNoText(e);
    }
    expect((await c.peekMessages()).peekedMessageItems.map((m) => m.messageText)).toEqual([TEXT]);
  });

  it("connection refused (retryOptions maxTries 1) is SERVICE_ERROR with errorCode ECONNREFUSED naming the queue", async () => {
    const c = new EncryptedQueueClient(await closedQueue("nowhere"), policy);
    for (const call of [() => c.sendMessage(TEXT), () => c.receiveMessages(), () => c.peekMessages(), () => c.deleteMessage("m1", "pop")]) {
      const e = await caught(call);
      expect(e).toMatchObject({ code: "SERVICE_ERROR", details: { queue: "nowhere", errorCode: "ECONNREFUSED" } });
      expect(e.details.statusCode).toBeUndefined();
      expect(e.message).toMatch(/^The storage request for (message "m1" in )?queue "nowhere" failed \(ECONNREFUSED\)/);
      expect(e.cause).toBeDefined();
      expectNoText(e);
    }
  });

  it("EncryptedQueueServiceClient.createQueueIfNotExists: connection refused is SERVICE_ERROR ECONNREFUSED naming the queue", async () => {
    const port = await freePort();
    const service = new EncryptedQueueServiceClient(
      new QueueServiceClient(`http://127.0.0.1:${port}/${az.accountName}`, new StorageSharedKeyCredential(az.accountName, az.accountKey), { retryOptions: { maxTries: 1 } }),
      policy,
    );
    expect(await caught(() => service.createQueueIfNotExists("nowhere"))).toMatchObject({ code: "SERVICE_ERROR", details: { queue: "nowhere", errorCode: "ECONNREFUSED" } });
  });

  it("a claim-check store's AbortError is ABORTED only when the caller aborted; otherwise a retryable SERVICE_ERROR", async () => {
    const raw = await newQueue(az.connectionString, "typed");
    const store: ClaimCheckStore = { put: () => Promise.reject(abortError()), get: () => Promise.reject(abortError()), delete: () => Promise.reject(abortError()) };
    const c = new EncryptedQueueClient(raw, policy, { claimCheck: { store, thresholdBytes: 0 } });
    const e = await caught(() => c.sendMessage(TEXT));
    expect(e).toMatchObject({ code: "SERVICE_ERROR", details: { errorCode: "ResponseIncomplete" } });
    expect(typeof e.details.claimCheckName).toBe("string");
    expectNoText(e);
    const ac = new AbortController();
    const aborting: ClaimCheckStore = {
      ...store,
      put: () => {
        ac.abort();
        return Promise.reject(abortError());
      },
    };
    const a = new EncryptedQueueClient(raw, policy, { claimCheck: { store: aborting, thresholdBytes: 0 } });
    expect((await caught(() => a.sendMessage(TEXT, { abortSignal: ac.signal }))).code).toBe("ABORTED");
    expect((await raw.peekMessages()).peekedMessageItems).toEqual([]);
  });
});

describe("the same situation gives the same code in blob and queue", () => {
  const situations = ["missing container / queue", "caller abort", "connection refused"] as const;
  type Situation = (typeof situations)[number];

  async function blobCase(s: Situation): Promise<ClientSideEncryptionError> {
    const service = BlobServiceClient.fromConnectionString(az.connectionString);
    if (s === "missing container / queue") {
      const c = new EncryptedContainerClient(service.getContainerClient(`missing-${process.pid}-${n++}`), policy);
      return caught(() => c.getBlobClient("b").uploadData(Buffer.from(TEXT)));
    }
    if (s === "caller abort") {
      const raw = service.getContainerClient(`abort-${process.pid}-${n++}`);
      await raw.create();
      await raw.getBlockBlobClient("b").upload("x", 1);
      const ac = new AbortController();
      ac.abort();
      return caught(() => new EncryptedContainerClient(raw, policy).getBlobClient("b").delete({ abortSignal: ac.signal }));
    }
    const port = await freePort();
    const closed = new BlobServiceClient(`http://127.0.0.1:${port}/${az.accountName}`, new BlobKeyCredential(az.accountName, az.accountKey), { retryOptions: { maxTries: 1 } });
    return caught(() => new EncryptedContainerClient(closed.getContainerClient("nowhere"), policy).getBlobClient("b").uploadData(Buffer.from(TEXT)));
  }

  async function queueCase(s: Situation): Promise<ClientSideEncryptionError> {
    if (s === "missing container / queue") {
      const c = new EncryptedQueueClient(QueueServiceClient.fromConnectionString(az.connectionString).getQueueClient(`missing-${process.pid}-${n++}`), policy);
      return caught(() => c.sendMessage(TEXT));
    }
    if (s === "caller abort") {
      const ac = new AbortController();
      ac.abort();
      return caught(() => new EncryptedQueueClient(QueueServiceClient.fromConnectionString(az.connectionString).getQueueClient("q"), policy).receiveMessages({ abortSignal: ac.signal }));
    }
    return caught(async () => new EncryptedQueueClient(await closedQueue("nowhere"), policy).sendMessage(TEXT));
  }

  const expected: Record<Situation, { code: string; statusCode?: number; errorCode?: string }> = {
    "missing container / queue": { code: "NOT_FOUND", statusCode: 404 },
    "caller abort": { code: "ABORTED" },
    "connection refused": { code: "SERVICE_ERROR", errorCode: "ECONNREFUSED" },
  };

  for (const s of situations) {
    it(`${s}: ${expected[s].code}`, async () => {
      const [b, q] = [await blobCase(s), await queueCase(s)];
      for (const e of [b, q]) {
        expect(e.code).toBe(expected[s].code);
        if (expected[s].statusCode !== undefined) expect(e.details.statusCode).toBe(expected[s].statusCode);
        if (expected[s].errorCode !== undefined) expect(e.details.errorCode).toBe(expected[s].errorCode);
        expect(e.cause).toBeDefined();
        expectNoText(e);
      }
    });
  }
});
