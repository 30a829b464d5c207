// Opt-in claim check against Azurite, with a real client-side encrypted blob container as the store
// (@azure-cse/storage-blob is a dev dependency only; the package itself depends on no blob package).
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { QueueServiceClient, type QueueClient } from "@azure/storage-queue";
import { AesKeyWrapKey, ClientSideEncryptionError, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { EncryptedContainerClient } from "@azure-cse/storage-blob";
import {
  CLAIM_CHECK_POINTER_KEY,
  EncryptedQueueClient,
  EncryptedQueueServiceClient,
  decryptQueueMessage,
  encryptQueueMessage,
  type ClaimCheckStore,
  type EncryptedQueueClientOptions,
} from "@azure-cse/storage-queue";
import { startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { expectCode, expectNoSecrets, newQueue } from "./helpers.js";

const kek = new AesKeyWrapKey("local:claim-1", Buffer.alloc(32, 7));
const policy: ClientSideEncryptionPolicy = { keyEncryptionKey: kek };

let azurite: AzuriteHandle;
let blobService: BlobServiceClient;
let counter = 0;
beforeAll(async () => {
  azurite = await startAzurite();
  blobService = BlobServiceClient.fromConnectionString(azurite.connectionString);
});
afterAll(async () => {
  await azurite?.stop();
});

/** The adapter an application writes: payloads as client-side encrypted blobs. Counts calls. */
function blobStore(container: EncryptedContainerClient) {
  const calls = { put: 0, get: 0, delete: 0 };
  const store: ClaimCheckStore = {
    async put(name, payload, options) {
      calls.put++;
      await container.getBlobClient(name).uploadData(payload, { abortSignal: options?.abortSignal, conditions: { ifNoneMatch: "*" } });
    },
    async get(name, options) {
      calls.get++;
      try {
        return await container.getBlobClient(name).downloadToBuffer(0, undefined, { abortSignal: options?.abortSignal });
      } catch (e) {
        if (ClientSideEncryptionError.hasCode(e, "NOT_FOUND")) return undefined;
        throw e;
      }
    },
    async delete(name, options) {
      calls.delete++;
      await container.getBlobClient(name).deleteIfExists({ abortSignal: options?.abortSignal });
    },
  };
  return { store, calls };
}

async function setup(options: Omit<EncryptedQueueClientOptions, "claimCheck"> & { thresholdBytes?: number } = {}) {
  const raw: QueueClient = await newQueue(azurite.connectionString, "cc");
  const rawContainer: ContainerClient = blobService.getContainerClient(`cc-${process.pid}-${counter++}`);
  await rawContainer.create();
  const container = new EncryptedContainerClient(rawContainer, policy);
  const { store, calls } = blobStore(container);
  const { thresholdBytes, ...queueOptions } = options;
  const enc = new EncryptedQueueClient(raw, policy, { ...queueOptions, claimCheck: { store, thresholdBytes } });
  const blobNames = async () => {
    const names: string[] = [];
    for await (const b of rawContainer.listBlobsFlat()) names.push(b.name);
    return names;
  };
  return { raw, rawContainer, container, store, calls, enc, blobNames };
}

describe("claim check: oversized payloads go to the store, a small encrypted pointer goes to the queue", () => {
  it("a 200 KiB payload is stored as an encrypted blob; the queue holds a pointer envelope under 1 KiB; receive resolves it", async () => {
    const { raw, rawContainer, container, enc, blobNames } = await setup();
    const payload = randomBytes(200 * 1024);
    const sent = await enc.sendMessage(payload);
    expect(sent.claimCheck).toEqual({ name: expect.stringMatching(/^claim-check\/[0-9a-f-]{36}$/), size: payload.length });
    expect(await blobNames()).toEqual([sent.claimCheck!.name]);
    // The stored payload is a client-side encrypted blob, not the plaintext.
    const storedBlob = await rawContainer.getBlobClient(sent.claimCheck!.name).downloadToBuffer();
    expect(storedBlob.length).toBe(payload.length + 28);
    expect(storedBlob.includes(payload.subarray(0, 32))).toBe(false);
    expect((await container.getBlobClient(sent.claimCheck!.name).getProperties()).isClientSideEncrypted).toBe(true);
    // The queue message is an ordinary encrypted envelope; its plaintext is the pointer (name, size, SHA-256).
    const [stored] = (await raw.peekMessages()).peekedMessageItems;
    expect(stored!.messageText.length).toBeLessThan(1024);
    expect(stored!.messageText).not.toContain(sent.claimCheck!.name);
    const pointer = JSON.parse((await decryptQueueMessage(stored!.messageText, policy)).messageText) as Record<string, Record<string, unknown>>;
    expect(Object.keys(pointer)).toEqual([CLAIM_CHECK_POINTER_KEY]);
    expect(pointer[CLAIM_CHECK_POINTER_KEY]).toEqual({ v: 1, name: sent.claimCheck!.name, size: payload.length, sha256: expect.stringMatching(/^[A-Za-z0-9+/]{43}=$/) });

    const r = await enc.receiveMessages();
    expect(r.failures).toEqual([]);
    const m = r.receivedMessageItems[0]!;
    expect(m.messageBytes.equals(payload)).toBe(true);
    expect(m).toMatchObject({ messageId: sent.messageId, encrypted: true, protocol: "2.0", keyId: "local:claim-1", claimCheck: sent.claimCheck });
  });

  it("a payload that fits stays in the message (no store call); the same client sends both kinds", async () => {
    const { enc, calls, blobNames } = await setup();
    const sent = await enc.sendMessage("small order");
    expect(sent.claimCheck).toBeUndefined();
    expect(calls.put).toBe(0);
    const r = await enc.receiveMessages();
    expect(r.receivedMessageItems[0]).toMatchObject({ messageText: "small order", encrypted: true });
    expect(r.receivedMessageItems[0]!.claimCheck).toBeUndefined();
    expect(calls.get).toBe(0);
    expect(await blobNames()).toEqual([]);
  });

  it("the default threshold is the message limit itself: a payload just over the plaintext budget is claim-checked, one just under is not", async () => {
    const { enc, raw, calls } = await setup();
    // Without a claim check, find the largest payload that fits (PAYLOAD_TOO_LARGE names the budget).
    const plain = new EncryptedQueueClient(raw, policy);
    const err = await expectCode(() => plain.sendMessage(Buffer.alloc(60_000)), "PAYLOAD_TOO_LARGE");
    const budget = Number(err.details.plaintextBudget);
    expect(budget).toBeGreaterThan(40_000);
    expect((await enc.sendMessage(Buffer.alloc(budget, 1))).claimCheck).toBeUndefined();
    expect(calls.put).toBe(0);
    expect((await enc.sendMessage(Buffer.alloc(budget + 1, 2))).claimCheck?.size).toBe(budget + 1);
    expect(calls.put).toBe(1);
    const r = await enc.receiveMessages({ numberOfMessages: 2 });
    expect(r.receivedMessageItems.map((m) => m.messageBytes.length).sort()).toEqual([budget, budget + 1]);
  });

  it("thresholdBytes sends smaller payloads through the store too", async () => {
    const { enc, calls } = await setup({ thresholdBytes: 10 });
    expect((await enc.sendMessage("0123456789")).claimCheck).toBeUndefined();
    expect((await enc.sendMessage("0123456789A")).claimCheck?.size).toBe(11);
    expect(calls.put).toBe(1);
    const texts = (await enc.receiveMessages({ numberOfMessages: 2 })).receivedMessageItems.map((m) => m.messageText).sort();
    expect(texts).toEqual(["0123456789", "0123456789A"]);
  });

  it("peek resolves pointers without deleting anything; deleteMessage with claimCheckName deletes the message, then the payload", async () => {
    const { enc, raw, blobNames } = await setup();
    const payload = "é".repeat(50_000);
    const sent = await enc.sendMessage(payload);
    const peeked = await enc.peekMessages();
    expect(peeked.peekedMessageItems[0]).toMatchObject({ messageText: payload, claimCheck: sent.claimCheck });
    expect(await blobNames()).toHaveLength(1);
    const [m] = (await enc.receiveMessages()).receivedMessageItems;
    await enc.deleteMessage(m!.messageId, m!.popReceipt, { claimCheckName: m!.claimCheck!.name });
    expect(await blobNames()).toEqual([]);
    expect((await raw.getProperties()).approximateMessagesCount).toBe(0);
  });

  it("updateMessage with oversized content stores it and replaces the message with a pointer", async () => {
    const { enc, calls } = await setup();
    await enc.sendMessage("v1");
    const [m] = (await enc.receiveMessages()).receivedMessageItems;
    const big = randomBytes(100_000);
    const upd = await enc.updateMessage(m!.messageId, m!.popReceipt, big, 0);
    expect(upd.claimCheck?.size).toBe(big.length);
    expect(calls.put).toBe(1);
    const [again] = (await enc.receiveMessages()).receivedMessageItems;
    expect(again!.messageBytes.equals(big)).toBe(true);
  });

  it("updateMessage with previousClaimCheckName deletes the replaced payload once the new content is in place (big → big, big → small)", async () => {
    const { enc, blobNames } = await setup();
    const first = randomBytes(90_000);
    const sent = await enc.sendMessage(first);
    let [m] = (await enc.receiveMessages()).receivedMessageItems;
    const second = randomBytes(80_000);
    const upd = await enc.updateMessage(m!.messageId, m!.popReceipt, second, 0, { previousClaimCheckName: m!.claimCheck!.name });
    expect(upd.previousClaimCheck).toEqual({ name: sent.claimCheck!.name, deleted: true });
    expect(await blobNames()).toEqual([upd.claimCheck!.name]);
    [m] = (await enc.receiveMessages()).receivedMessageItems;
    expect(m!.messageBytes.equals(second)).toBe(true);
    const small = await enc.updateMessage(m!.messageId, m!.popReceipt, "small now", 0, { previousClaimCheckName: m!.claimCheck!.name });
    expect(small.claimCheck).toBeUndefined();
    expect(small.previousClaimCheck?.deleted).toBe(true);
    expect(await blobNames()).toEqual([]);
    [m] = (await enc.receiveMessages()).receivedMessageItems;
    expect(m!.messageText).toBe("small now");
  });

  it("previousClaimCheckName: refused for a visibility-only update or without a store; a failed deletion keeps the update and its pop receipt", async () => {
    const { raw, enc, store, blobNames } = await setup();
    const sent = await enc.sendMessage(randomBytes(70_000));
    let [m] = (await enc.receiveMessages()).receivedMessageItems;
    await expectCode(() => enc.updateMessage(m!.messageId, m!.popReceipt, undefined, 0, { previousClaimCheckName: m!.claimCheck!.name }), "INVALID_ARGUMENT");
    await expectCode(() => enc.updateMessage(m!.messageId, m!.popReceipt, "x", 0, { previousClaimCheckName: "" }), "INVALID_ARGUMENT");
    const noStore = new EncryptedQueueClient(raw, policy);
    await expectCode(() => noStore.updateMessage(m!.messageId, m!.popReceipt, "x", 0, { previousClaimCheckName: m!.claimCheck!.name }), "INVALID_ARGUMENT");
    expect(await blobNames()).toEqual([sent.claimCheck!.name]); // nothing was changed by the refused calls

    // The store cannot delete: the update stands, the old payload stays, the caller learns why and keeps going.
    const failing = new EncryptedQueueClient(raw, policy, {
      claimCheck: { store: { put: store.put.bind(store), get: store.get.bind(store), delete: () => Promise.reject(new Error("store offline")) } },
    });
    const upd = await failing.updateMessage(m!.messageId, m!.popReceipt, "replaced", 0, { previousClaimCheckName: m!.claimCheck!.name });
    expect(upd.previousClaimCheck).toMatchObject({ name: sent.claimCheck!.name, deleted: false });
    const err = (upd.previousClaimCheck as { error: ClientSideEncryptionError }).error;
    expect(err.code).toBe("SERVICE_ERROR");
    expect(err.details.claimCheckName).toBe(sent.claimCheck!.name);
    expect(await blobNames()).toEqual([sent.claimCheck!.name]);
    [m] = (await enc.receiveMessages()).receivedMessageItems;
    expect(m!.messageText).toBe("replaced");
    await enc.deleteMessage(m!.messageId, m!.popReceipt);
  });

  it('messageEncoding "base64" (Python\'s encode policy) applies to the pointer; the stored payload is the raw bytes', async () => {
    const { enc, container } = await setup({ messageEncoding: "base64" });
    const payload = randomBytes(70_000);
    const sent = await enc.sendMessage(payload);
    expect((await container.getBlobClient(sent.claimCheck!.name).downloadToBuffer()).equals(payload)).toBe(true);
    const [m] = (await enc.receiveMessages()).receivedMessageItems;
    expect(m!.messageBytes.equals(payload)).toBe(true);
  });

  it("EncryptedQueueServiceClient hands the same policy and claim-check options to every queue", async () => {
    const { rawContainer } = await setup();
    const container = new EncryptedContainerClient(rawContainer, policy);
    const service = new EncryptedQueueServiceClient(QueueServiceClient.fromConnectionString(azurite.connectionString), policy, { claimCheck: { store: blobStore(container).store } });
    const q = service.getQueueClient(`svc-cc-${process.pid}`);
    expect(q.policy).toBe(policy);
    expect(q.claimCheckEnabled).toBe(true);
    await q.queueClient.createIfNotExists();
    const payload = randomBytes(80_000);
    expect((await q.sendMessage(payload)).claimCheck).toBeDefined();
    const [m] = (await service.getQueueClient(q.name).receiveMessages()).receivedMessageItems;
    expect(m!.messageBytes.equals(payload)).toBe(true);
    expect(service.getQueueClient(q.name, { claimCheck: undefined }).claimCheckEnabled).toBe(false);
  });

  it("EncryptedQueueServiceClient.createQueueIfNotExists creates the queue (again: no error) and returns its encrypted client; a bad name is typed", async () => {
    const service = new EncryptedQueueServiceClient(QueueServiceClient.fromConnectionString(azurite.connectionString), policy);
    const name = `svc-create-${process.pid}`;
    const q = await service.createQueueIfNotExists(name);
    expect(await q.queueClient.exists()).toBe(true);
    await q.sendMessage("hello");
    const again = await service.createQueueIfNotExists(name);
    expect((await again.receiveMessages()).receivedMessageItems[0]!.messageText).toBe("hello");
    await expect(service.createQueueIfNotExists("Bad_Name")).rejects.toMatchObject({ code: "SERVICE_ERROR", details: { statusCode: 400, queue: "Bad_Name" } });
  });
});

describe("claim check: typed errors when the pointed-to payload is not the one sent", () => {
  it("a missing payload is a per-message NOT_FOUND failure naming the payload and the message; decryptMessageText throws it", async () => {
    const { enc, raw, rawContainer } = await setup();
    const sent = await enc.sendMessage(randomBytes(90_000));
    await enc.sendMessage("ordinary");
    await rawContainer.getBlobClient(sent.claimCheck!.name).delete();
    const r = await enc.receiveMessages({ numberOfMessages: 2 });
    expect(r.receivedMessageItems.map((m) => m.messageText)).toEqual(["ordinary"]);
    expect(r.failures).toHaveLength(1);
    const f = r.failures[0]!;
    expect(f.messageId).toBe(sent.messageId);
    expect(f.popReceipt).toBeTruthy();
    expect(f.error.code).toBe("NOT_FOUND");
    expect(f.error.details).toMatchObject({ claimCheckName: sent.claimCheck!.name, messageId: sent.messageId });
    expect(f.error.message).toContain(sent.claimCheck!.name);
    // The failed message stays in the queue (invisible until its timeout) for the caller to delete or move.
    expect((await raw.getProperties()).approximateMessagesCount).toBe(2);
  });

  it("decryptMessageText of a pointer whose payload is gone throws NOT_FOUND", async () => {
    const { enc, raw, rawContainer } = await setup();
    const sent = await enc.sendMessage(randomBytes(90_000));
    const [stored] = (await raw.peekMessages()).peekedMessageItems;
    await rawContainer.getBlobClient(sent.claimCheck!.name).delete();
    const e = await expectCode(() => enc.decryptMessageText(stored!.messageText), "NOT_FOUND");
    expect(e.details.claimCheckName).toBe(sent.claimCheck!.name);
  });

  it("a payload replaced in the store (validly encrypted, other bytes) fails authentication: DECRYPTION_FAILED, no content returned", async () => {
    const { enc, container } = await setup();
    const original = randomBytes(90_000);
    const sent = await enc.sendMessage(original);
    const forged = randomBytes(90_000);
    await container.getBlobClient(sent.claimCheck!.name).uploadData(forged);
    const r = await enc.receiveMessages();
    expect(r.receivedMessageItems).toEqual([]);
    expect(r.failures[0]!.error.code).toBe("DECRYPTION_FAILED");
    expectNoSecrets(r.failures[0]!.error, [forged.subarray(0, 64), original.subarray(0, 64), Buffer.alloc(32, 7)]);
  });

  it("a payload whose blob fails decryption (tampered ciphertext) surfaces the blob's DECRYPTION_FAILED", async () => {
    const { enc, rawContainer } = await setup();
    const sent = await enc.sendMessage(randomBytes(90_000));
    const blob = rawContainer.getBlockBlobClient(sent.claimCheck!.name);
    const [bytes, props] = await Promise.all([blob.downloadToBuffer(), blob.getProperties()]);
    bytes[100]! ^= 1;
    await blob.upload(bytes, bytes.length, { metadata: props.metadata });
    const r = await enc.receiveMessages();
    expect(r.failures[0]!.error.code).toBe("DECRYPTION_FAILED");
  });

  it("a receiver without a claim-check store reports the pointer as UNSUPPORTED_OPERATION, never as the message", async () => {
    const { enc, raw } = await setup();
    const sent = await enc.sendMessage(randomBytes(90_000));
    const r = await new EncryptedQueueClient(raw, policy).receiveMessages();
    expect(r.receivedMessageItems).toEqual([]);
    expect(r.failures[0]!.error.code).toBe("UNSUPPORTED_OPERATION");
    expect(r.failures[0]!.error.details.claimCheckName).toBe(sent.claimCheck!.name);
  });

  it("an encrypted pointer of an unknown version is INVALID_ENCRYPTION_DATA; the store is not asked", async () => {
    const { enc, raw, calls } = await setup();
    await raw.sendMessage(await encryptQueueMessage(JSON.stringify({ [CLAIM_CHECK_POINTER_KEY]: { v: 2, name: "x", size: 1, sha256: "A".repeat(43) + "=" } }), policy));
    const r = await enc.receiveMessages();
    expect(r.failures[0]!.error.code).toBe("INVALID_ENCRYPTION_DATA");
    expect(calls.get).toBe(0);
  });

  it("a plaintext message shaped like a pointer is never followed (requireEncryption: false returns it as text)", async () => {
    const { raw, store, calls } = await setup();
    const fake = JSON.stringify({ [CLAIM_CHECK_POINTER_KEY]: { v: 1, name: "secret-report", size: 3, sha256: "A".repeat(43) + "=" } });
    await raw.sendMessage(fake);
    const lax = new EncryptedQueueClient(raw, { ...policy, requireEncryption: false }, { claimCheck: { store } });
    const [m] = (await lax.receiveMessages()).receivedMessageItems;
    expect(m).toMatchObject({ messageText: fake, encrypted: false });
    expect(m!.claimCheck).toBeUndefined();
    expect(calls.get).toBe(0);
  });

  it("a failed send deletes the payload it stored and rethrows the service error, typed", async () => {
    const { store, blobNames } = await setup();
    const missingQueue = QueueServiceClient.fromConnectionString(azurite.connectionString).getQueueClient(`missing-${process.pid}`);
    const enc = new EncryptedQueueClient(missingQueue, policy, { claimCheck: { store } });
    await expect(enc.sendMessage(randomBytes(90_000))).rejects.toMatchObject({ code: "NOT_FOUND", details: { statusCode: 404, queue: missingQueue.name }, cause: { statusCode: 404 } });
    expect(await blobNames()).toEqual([]);
  });

  it("a store failure on put is a typed SERVICE_ERROR naming the payload, and no message is sent", async () => {
    const { raw } = await setup();
    const broken: ClaimCheckStore = {
      put: async () => {
        throw new Error("disk full");
      },
      get: async () => undefined,
      delete: async () => undefined,
    };
    const enc = new EncryptedQueueClient(raw, policy, { claimCheck: { store: broken } });
    const e = await expectCode(() => enc.sendMessage(randomBytes(90_000)), "SERVICE_ERROR");
    expect(e.details.claimCheckName).toMatch(/^claim-check\//);
    expect((await raw.getProperties()).approximateMessagesCount).toBe(0);
  });

  it("bad options and arguments are INVALID_ARGUMENT; maxPayloadBytes bounds what the store takes (PAYLOAD_TOO_LARGE)", async () => {
    const { raw, store } = await setup();
    for (const claimCheck of [{ store: {} }, { store, thresholdBytes: -1 }, { store, maxPayloadBytes: 0 }, { store, namePrefix: 5 }]) {
      await expectCode(() => new EncryptedQueueClient(raw, policy, { claimCheck: claimCheck as never }), "INVALID_ARGUMENT");
    }
    await expectCode(() => new EncryptedQueueClient(raw, policy).deleteMessage("id", "pop", { claimCheckName: "n" }), "INVALID_ARGUMENT");
    const small = new EncryptedQueueClient(raw, policy, { claimCheck: { store, maxPayloadBytes: 100_000 } });
    const e = await expectCode(() => small.sendMessage(Buffer.alloc(100_001)), "PAYLOAD_TOO_LARGE");
    expect(e.details).toMatchObject({ payloadBytes: 100_001, limit: 100_000 });
  });

  it('encryptionVersion "2.1" is refused before anything is stored (UNSUPPORTED_OPERATION)', async () => {
    const { raw, store, calls } = await setup();
    const enc = new EncryptedQueueClient(raw, { ...policy, encryptionVersion: "2.1" }, { claimCheck: { store } });
    await expectCode(() => enc.sendMessage(randomBytes(90_000)), "UNSUPPORTED_OPERATION");
    expect(calls.put).toBe(0);
  });
});
