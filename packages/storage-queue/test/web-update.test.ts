// @azure-cse/storage-queue/web: updateMessage and clearMessages against Azurite (Web Crypto in Node, the official
// QueueClient's Node build). What the web client writes on update is read by the Node client, and the reverse; a
// new content gets a fresh content key; a visibility-only update leaves the stored envelope byte for byte.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { typedErrorAssertions } from "@azure-cse/testkit/assertions";
import type { QueueClient } from "@azure/storage-queue";
import { AesKeyWrapKey, ClientSideEncryptionError, RsaKey, createLocalKeyResolver, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { EncryptedQueueClient } from "@azure-cse/storage-queue";
import { WebEncryptedQueueClient } from "@azure-cse/storage-queue/web";
import { startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { newQueue } from "./helpers.js";

const aes = AesKeyWrapKey.generate("local:q-web-upd-aes");
const rsa = RsaKey.generate("local:q-web-upd-rsa", 2048, "RSA-OAEP");
const policy: ClientSideEncryptionPolicy = { keyEncryptionKey: aes, keyResolver: createLocalKeyResolver([aes, rsa]) };

let azurite: AzuriteHandle;
beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.stop();
});

const { codeOf } = typedErrorAssertions(ClientSideEncryptionError);

async function setup(p: ClientSideEncryptionPolicy = policy) {
  const raw: QueueClient = await newQueue(azurite.connectionString, "qwu");
  return { raw, web: new WebEncryptedQueueClient(raw, p), node: new EncryptedQueueClient(raw, p) };
}

const storedText = async (raw: QueueClient) => (await raw.peekMessages()).peekedMessageItems[0]!.messageText;
const wrappedKeyOf = (text: string) => JSON.parse(text).EncryptionData.WrappedContentKey.EncryptedKey as string;

describe("WebEncryptedQueueClient.updateMessage on Azurite", () => {
  it("new content is re-encrypted under a fresh content key; the Node client reads it; the old pop receipt is void", async () => {
    const { raw, web, node } = await setup();
    await web.sendMessage("first version");
    const before = await storedText(raw);
    const [m] = await web.receiveMessages({ visibilityTimeout: 30 });
    const r = await web.updateMessage(m!.messageId, m!.popReceipt!, "second version ✓ 😀", 0);
    expect(r.popReceipt).toBeTruthy();
    expect(r.popReceipt).not.toBe(m!.popReceipt);
    expect(r.nextVisibleOn).toBeInstanceOf(Date);
    const after = await storedText(raw);
    expect(after).not.toContain("second");
    expect(Object.keys(JSON.parse(after))).toEqual(["EncryptedMessageContents", "EncryptionData"]);
    // A fresh content key: the wrapped key (and so the content key under one KEK) changed.
    expect(wrappedKeyOf(after)).not.toBe(wrappedKeyOf(before));
    const read = await node.receiveMessages();
    expect(read.failures).toEqual([]);
    expect(read.receivedMessageItems.map((x) => [x.messageText, x.protocol, x.keyId])).toEqual([["second version ✓ 😀", "2.0", aes.keyId]]);
    // The pop receipt of the receive before the update no longer works.
    expect(await codeOf(web.deleteMessage(m!.messageId, m!.popReceipt!))).not.toBe("resolved");
    const last = read.receivedMessageItems[0]!;
    await web.deleteMessage(last.messageId, last.popReceipt);
    expect((await raw.peekMessages()).peekedMessageItems).toHaveLength(0);
  });

  it("bytes and the base64 message encoding: web updates what Node sent, Node reads the update", async () => {
    const raw = await newQueue(azurite.connectionString, "qwu");
    const node = new EncryptedQueueClient(raw, policy, { messageEncoding: "base64" });
    const web = new WebEncryptedQueueClient(raw, policy, { messageEncoding: "base64" });
    await node.sendMessage("from node");
    const [m] = await web.receiveMessages();
    expect(m!.messageText).toBe("from node");
    const bytes = new Uint8Array(Array.from({ length: 300 }, (_, i) => (i * 7) % 256));
    await web.updateMessage(m!.messageId, m!.popReceipt!, bytes, 0);
    const read = await node.receiveMessages();
    expect([...read.receivedMessageItems[0]!.messageBytes]).toEqual([...bytes]);
  });

  it("with message undefined only the visibility changes: the stored envelope stays exactly as it was", async () => {
    const { raw, web } = await setup();
    await web.sendMessage("keep me");
    const before = await storedText(raw);
    const [m] = await web.receiveMessages({ visibilityTimeout: 30 });
    expect((await web.peekMessages()).length).toBe(0);
    const r = await web.updateMessage(m!.messageId, m!.popReceipt!, undefined, 0);
    expect(r.popReceipt).toBeTruthy();
    expect(await storedText(raw)).toBe(before);
    expect((await web.peekMessages()).map((x) => x.messageText)).toEqual(["keep me"]);
  });

  it("an update under another key: a reader holding only another key gets KID_MISMATCH; a tampered update is DECRYPTION_FAILED", async () => {
    const { raw, web } = await setup();
    await web.sendMessage("v1");
    const [m] = await web.receiveMessages();
    const rsaWriter = new WebEncryptedQueueClient(raw, { keyEncryptionKey: rsa });
    const r = await rsaWriter.updateMessage(m!.messageId, m!.popReceipt!, "v2 under rsa", 0);
    const aesOnly = new WebEncryptedQueueClient(raw, { keyEncryptionKey: aes });
    expect(await codeOf(aesOnly.peekMessages())).toBe("KID_MISMATCH");
    expect((await web.peekMessages()).map((x) => [x.messageText, x.keyId])).toEqual([["v2 under rsa", rsa.keyId]]);
    // Flip one ciphertext bit in the stored envelope (plain update of the raw text).
    const env = JSON.parse(await storedText(raw));
    const c = Buffer.from(env.EncryptedMessageContents, "base64");
    c[c.length - 1]! ^= 1;
    await raw.updateMessage(m!.messageId, r.popReceipt!, JSON.stringify({ ...env, EncryptedMessageContents: c.toString("base64") }), 0);
    expect(await codeOf(web.peekMessages())).toBe("DECRYPTION_FAILED");
  });

  it("checks its arguments before any request; oversize content is PAYLOAD_TOO_LARGE and the message stays", async () => {
    const { raw, web } = await setup();
    await web.sendMessage("small");
    const [m] = await web.receiveMessages({ visibilityTimeout: 1 });
    expect(await codeOf(web.updateMessage("", m!.popReceipt!, "x"))).toBe("INVALID_ARGUMENT");
    expect(await codeOf(web.updateMessage(m!.messageId, "", "x"))).toBe("INVALID_ARGUMENT");
    expect(await codeOf(web.updateMessage(m!.messageId, m!.popReceipt!, "x", -1))).toBe("INVALID_ARGUMENT");
    expect(await codeOf(web.updateMessage(m!.messageId, m!.popReceipt!, 42 as unknown as string))).toBe("INVALID_ARGUMENT");
    expect(await codeOf(web.updateMessage(m!.messageId, m!.popReceipt!, "x".repeat(48 * 1024), 0))).toBe("PAYLOAD_TOO_LARGE");
    const shape = { sendMessage: raw.sendMessage.bind(raw), receiveMessages: raw.receiveMessages.bind(raw), peekMessages: raw.peekMessages.bind(raw), deleteMessage: raw.deleteMessage.bind(raw) };
    const noUpdate = new WebEncryptedQueueClient(shape, policy);
    expect(await codeOf(noUpdate.updateMessage(m!.messageId, m!.popReceipt!, "x"))).toBe("INVALID_ARGUMENT");
    expect(await codeOf(noUpdate.clearMessages())).toBe("INVALID_ARGUMENT");
    // Nothing was changed by the refused calls.
    await new Promise((r) => setTimeout(r, 1100));
    expect((await web.peekMessages()).map((x) => x.messageText)).toEqual(["small"]);
  });

  it("clearMessages empties the queue", async () => {
    const { raw, web } = await setup();
    for (const t of ["a", "b", "c"]) await web.sendMessage(t);
    expect((await web.peekMessages({ numberOfMessages: 32 })).length).toBe(3);
    await web.clearMessages();
    expect((await raw.peekMessages({ numberOfMessages: 32 })).peekedMessageItems).toHaveLength(0);
  });
});
