// EncryptedQueueClient against Azurite: every operation, batches with mixed messages, size limit at the service.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QueueClient } from "@azure/storage-queue";
import { AesKeyWrapKey, createLocalKeyResolver, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { EncryptedQueueClient, QUEUE_MESSAGE_MAX_LENGTH } from "@azure-cse/storage-queue";
import { startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { caught, expectCode, newQueue } from "./helpers.js";

const kek = new AesKeyWrapKey("local:az-1", Buffer.alloc(32, 1));
const otherKek = new AesKeyWrapKey("local:az-2", Buffer.alloc(32, 2));
const policy: ClientSideEncryptionPolicy = { keyEncryptionKey: kek };

let azurite: AzuriteHandle;
beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.stop();
});

async function setup(p: ClientSideEncryptionPolicy = policy, options = {}) {
  const raw: QueueClient = await newQueue(azurite.connectionString);
  return { raw, enc: new EncryptedQueueClient(raw, p, options) };
}

async function rawPeekAll(raw: QueueClient) {
  return (await raw.peekMessages({ numberOfMessages: 32 })).peekedMessageItems;
}

describe("EncryptedQueueClient on Azurite", () => {
  it("the README example runs as written (send, receive, delete; failures listed)", async () => {
    const readmeKek = AesKeyWrapKey.generate("local:orders-kek");
    const queue = new QueueClient(azurite.connectionString, `orders-${process.pid}`);
    await queue.createIfNotExists();
    const orders = new EncryptedQueueClient(queue, { keyEncryptionKey: readmeKek });
    await orders.sendMessage("order #42 for Ada");
    const { receivedMessageItems, failures } = await orders.receiveMessages({ numberOfMessages: 16 });
    expect(receivedMessageItems.map((m) => m.messageText)).toEqual(["order #42 for Ada"]);
    expect(failures).toEqual([]);
    for (const m of receivedMessageItems) await orders.deleteMessage(m.messageId, m.popReceipt);
    expect((await queue.getProperties()).approximateMessagesCount).toBe(0);
  });

  it("sendMessage stores only the envelope; receiveMessages returns the plaintext", async () => {
    const { raw, enc } = await setup();
    const sent = await enc.sendMessage("hello queue ✓ 😀");
    expect(sent.messageId).toBeTruthy();
    const [stored] = await rawPeekAll(raw);
    expect(stored!.messageText).not.toContain("hello");
    expect(Object.keys(JSON.parse(stored!.messageText))).toEqual(["EncryptedMessageContents", "EncryptionData"]);
    const r = await enc.receiveMessages();
    expect(r.failures).toEqual([]);
    expect(r.receivedMessageItems).toHaveLength(1);
    const m = r.receivedMessageItems[0]!;
    expect(m).toMatchObject({ messageId: sent.messageId, messageText: "hello queue ✓ 😀", encrypted: true, protocol: "2.0", keyId: "local:az-1", dequeueCount: 1 });
    expect(m.popReceipt).toBeTruthy();
  });

  it("peekMessages decrypts without changing visibility (Q6)", async () => {
    const { enc } = await setup();
    await enc.sendMessage("peek me");
    const p1 = await enc.peekMessages();
    expect(p1.peekedMessageItems.map((m) => m.messageText)).toEqual(["peek me"]);
    const r = await enc.receiveMessages();
    expect(r.receivedMessageItems.map((m) => m.messageText)).toEqual(["peek me"]);
  });

  it("deleteMessage removes a received message", async () => {
    const { raw, enc } = await setup();
    await enc.sendMessage("delete me");
    const m = (await enc.receiveMessages()).receivedMessageItems[0]!;
    await enc.deleteMessage(m.messageId, m.popReceipt);
    expect(await rawPeekAll(raw)).toHaveLength(0);
    expect((await raw.getProperties()).approximateMessagesCount).toBe(0);
  });

  it("updateMessage with new text re-encrypts it under a fresh content key", async () => {
    const { raw, enc } = await setup();
    await enc.sendMessage("first");
    const before = (await rawPeekAll(raw))[0]!.messageText;
    const m = (await enc.receiveMessages()).receivedMessageItems[0]!;
    await enc.updateMessage(m.messageId, m.popReceipt, "second ü", 0);
    const after = (await rawPeekAll(raw))[0]!.messageText;
    expect(after).not.toContain("second");
    expect(JSON.parse(after).EncryptionData.WrappedContentKey.EncryptedKey).not.toBe(JSON.parse(before).EncryptionData.WrappedContentKey.EncryptedKey);
    expect((await enc.peekMessages()).peekedMessageItems[0]!.messageText).toBe("second ü");
  });

  it("a visibility-only updateMessage sends no body: the stored envelope is unchanged byte for byte", async () => {
    const { raw, enc } = await setup();
    await enc.sendMessage("keep my body");
    const before = (await rawPeekAll(raw))[0]!.messageText;
    const m = (await enc.receiveMessages({ visibilityTimeout: 60 })).receivedMessageItems[0]!;
    expect(await rawPeekAll(raw)).toHaveLength(0);
    const u = await enc.updateMessage(m.messageId, m.popReceipt, undefined, 0);
    expect(u.popReceipt).toBeTruthy();
    const stored = await rawPeekAll(raw);
    expect(stored).toHaveLength(1);
    expect(stored[0]!.messageText).toBe(before);
    expect((await enc.receiveMessages()).receivedMessageItems[0]!.messageText).toBe("keep my body");
  });

  it("protocol 1.0 and base64 encoding round trip through the service", async () => {
    const { raw, enc } = await setup({ keyEncryptionKey: kek, encryptionVersion: "1.0", allowDeprecatedV1Encryption: true }, { messageEncoding: "base64" });
    const bytes = Buffer.from([0, 1, 2, 250, 251, 252]);
    await enc.sendMessage(bytes);
    await enc.sendMessage("text ä");
    const stored = JSON.parse((await rawPeekAll(raw))[0]!.messageText);
    expect(stored.EncryptionData.EncryptionAgent.Protocol).toBe("1.0");
    const r = await enc.receiveMessages({ numberOfMessages: 2 });
    expect(r.receivedMessageItems[0]!.messageBytes.equals(bytes)).toBe(true);
    expect(r.receivedMessageItems[1]!.messageText).toBe("text ä");
  });

  it("an empty message is sent encrypted and received as the empty text", async () => {
    const { raw, enc } = await setup();
    await enc.sendMessage("");
    expect((await rawPeekAll(raw))[0]!.messageText.length).toBeGreaterThan(100);
    expect((await enc.receiveMessages()).receivedMessageItems[0]).toMatchObject({ messageText: "", encrypted: true });
  });

  it("a batch with good, tampered, wrong-key, plaintext and plaintext-JSON messages delivers the good ones and reports each failure with its id", async () => {
    const { raw, enc } = await setup({ keyEncryptionKey: kek, keyResolver: createLocalKeyResolver([kek]) });
    const good1 = await enc.sendMessage("good one");
    const tamperedText = await enc.encryptMessageText("tampered");
    const t = JSON.parse(tamperedText);
    const c = Buffer.from(t.EncryptedMessageContents, "base64");
    c[20]! ^= 1;
    t.EncryptedMessageContents = c.toString("base64");
    const tampered = await raw.sendMessage(JSON.stringify(t));
    const wrongKey = await raw.sendMessage(await new EncryptedQueueClient(raw, { keyEncryptionKey: otherKek }).encryptMessageText("other key"));
    const plain = await raw.sendMessage("just text");
    const plainJson = await raw.sendMessage("null");
    const plainObj = await raw.sendMessage('{"a":1}');
    const good2 = await enc.sendMessage("good two");

    const r = await enc.receiveMessages({ numberOfMessages: 32 });
    expect(r.receivedMessageItems.map((m) => [m.messageId, m.messageText])).toEqual([
      [good1.messageId, "good one"],
      [good2.messageId, "good two"],
    ]);
    const byId = Object.fromEntries(r.failures.map((f) => [f.messageId, f]));
    expect(Object.keys(byId).sort()).toEqual([tampered.messageId, wrongKey.messageId, plain.messageId, plainJson.messageId, plainObj.messageId].sort());
    expect(byId[tampered.messageId]!.error.code).toBe("DECRYPTION_FAILED");
    expect(byId[wrongKey.messageId]!.error.code).toBe("KEY_NOT_FOUND");
    for (const id of [plain.messageId, plainJson.messageId, plainObj.messageId]) expect(byId[id]!.error.code).toBe("ENCRYPTION_REQUIRED");
    for (const f of r.failures) {
      expect(f.popReceipt).toBeTruthy();
      expect(f.dequeueCount).toBe(1);
      expect(f.error.details.messageId).toBe(f.messageId);
      expect(f.error.message).not.toContain("just text");
    }
    // A failed message can be deleted (poison handling) with the reported pop receipt.
    await enc.deleteMessage(byId[plain.messageId]!.messageId, byId[plain.messageId]!.popReceipt!);
  });

  it("peekMessages reports failures the same way (no pop receipt)", async () => {
    const { raw, enc } = await setup();
    await raw.sendMessage("plain");
    await enc.sendMessage("secret");
    const p = await enc.peekMessages({ numberOfMessages: 5 });
    expect(p.peekedMessageItems.map((m) => m.messageText)).toEqual(["secret"]);
    expect(p.failures).toHaveLength(1);
    expect(p.failures[0]!.error.code).toBe("ENCRYPTION_REQUIRED");
    expect(p.failures[0]!.popReceipt).toBeUndefined();
  });

  it("with requireEncryption false, plaintext messages (including JSON) are delivered unchanged with encrypted: false", async () => {
    const { raw, enc } = await setup({ keyEncryptionKey: kek, requireEncryption: false });
    await raw.sendMessage("plain text");
    await raw.sendMessage("123");
    await raw.sendMessage('{"EncryptedMessageContents":"x","EncryptionData":{},"More":1}');
    await enc.sendMessage("secret");
    const r = await enc.receiveMessages({ numberOfMessages: 10 });
    expect(r.failures).toEqual([]);
    expect(r.receivedMessageItems.map((m) => [m.messageText, m.encrypted])).toEqual([
      ["plain text", false],
      ["123", false],
      ['{"EncryptedMessageContents":"x","EncryptionData":{},"More":1}', false],
      ["secret", true],
    ]);
  });

  it("sending without a keyEncryptionKey fails and nothing reaches the queue", async () => {
    const { raw, enc } = await setup({ keyResolver: createLocalKeyResolver([kek]), requireEncryption: false });
    await expectCode(() => enc.sendMessage("never plaintext"), "KEY_NOT_FOUND");
    expect(await rawPeekAll(raw)).toHaveLength(0);
  });

  it("a message of exactly the plaintext budget is accepted by the service; one byte more is refused before sending", async () => {
    for (const p of [policy, { keyEncryptionKey: kek, encryptionVersion: "1.0", allowDeprecatedV1Encryption: true } as ClientSideEncryptionPolicy]) {
      const { raw, enc } = await setup(p);
      const e = await caught(() => enc.sendMessage("z".repeat(100_000)));
      const budget = e.details.plaintextBudget as number;
      await enc.sendMessage("z".repeat(budget));
      const stored = (await rawPeekAll(raw))[0]!.messageText;
      expect(stored.length).toBeLessThanOrEqual(QUEUE_MESSAGE_MAX_LENGTH);
      expect((await enc.receiveMessages()).receivedMessageItems[0]!.messageText).toBe("z".repeat(budget));
      await expectCode(() => enc.sendMessage("z".repeat(budget + 1)), "PAYLOAD_TOO_LARGE");
      expect(await rawPeekAll(raw)).toHaveLength(0);
    }
  });

  it("the 65536-character limit is the service's: a longer envelope sent without the check is rejected by Azurite", async () => {
    const { raw, enc } = await setup(policy, { maxMessageLength: 70_000 });
    const text = await enc.encryptMessageText("y".repeat(49_500));
    expect(text.length).toBeGreaterThan(QUEUE_MESSAGE_MAX_LENGTH);
    const err = (await raw.sendMessage(text).then(
      () => undefined,
      (e: unknown) => e,
    )) as { statusCode?: number } | undefined;
    expect(err?.statusCode).toBeGreaterThanOrEqual(400);
    expect("x".repeat(QUEUE_MESSAGE_MAX_LENGTH).length).toBe(65536);
    await raw.sendMessage("x".repeat(QUEUE_MESSAGE_MAX_LENGTH));
  });

  it("the constructor refuses a missing QueueClient and an unknown messageEncoding", async () => {
    const { raw } = await setup();
    await expectCode(() => new EncryptedQueueClient(undefined as never, policy), "INVALID_ARGUMENT");
    await expectCode(() => new EncryptedQueueClient(raw, policy, { messageEncoding: "utf16" as never }), "INVALID_ARGUMENT");
  });

  it("an abort during decryption rejects the whole receive with ABORTED (not a per-message failure)", async () => {
    const { enc } = await setup();
    await enc.sendMessage("x");
    const ac = new AbortController();
    // The resolver aborts after the service call returned; the key's unwrap then sees the aborted signal.
    const reader = new EncryptedQueueClient(enc.queueClient, {
      keyResolver: (id) => {
        ac.abort();
        return id === kek.keyId ? kek : undefined;
      },
    });
    await expectCode(() => reader.receiveMessages({ abortSignal: ac.signal }), "ABORTED");
  });

  it("a resolver that throws an untyped error fails only that message, as KEY_OPERATION_FAILED", async () => {
    const { enc } = await setup();
    await enc.sendMessage("x");
    const reader = new EncryptedQueueClient(enc.queueClient, {
      keyResolver: () => Promise.reject(new Error("vault unreachable")),
    });
    const r = await reader.receiveMessages();
    expect(r.receivedMessageItems).toEqual([]);
    expect(r.failures.map((f) => f.error.code)).toEqual(["KEY_OPERATION_FAILED"]);
  });
});
