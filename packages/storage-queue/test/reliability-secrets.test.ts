// Secrets canary (docs/security.md §6): queue operations and failures with the Azure SDK logger at verbose;
// no canary plaintext, KEK bytes or CEK appears in anything emitted or thrown.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QueueClient } from "@azure/storage-queue";
import { AesKeyWrapKey, createLocalKeyResolver, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { EncryptedQueueClient } from "@azure-cse/storage-queue";
import { startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { proxiedConnectionString, startFaultProxy, type FaultProxy } from "../../../tools/fault-proxy/index.mjs";
import { FAST_RETRIES, canaryKeyBytes, canaryNeedles, captureOutput, failureCollector, findLeaks, loadAzureLogger, recordingRandom } from "@azure-cse/testkit/reliability";

const CANARY = "CANARY-PLAINTEXT-queue-51c2e8-jumps-over-the-lazy-dog-";
const kekBytes = canaryKeyBytes("queue1");
const kek2Bytes = canaryKeyBytes("queue2");
const kek = new AesKeyWrapKey("local:canary-q1", kekBytes);
const kek2 = new AesKeyWrapKey("local:canary-q2", kek2Bytes);
const recorder = recordingRandom("queue");
const policy: ClientSideEncryptionPolicy = { keyEncryptionKey: kek, keyResolver: createLocalKeyResolver([kek, kek2]), random: recorder.random };

let azurite: AzuriteHandle;
let proxy: FaultProxy;

beforeAll(async () => {
  azurite = await startAzurite();
  proxy = await startFaultProxy({ target: azurite.queueUrl, seed: 11 });
});
afterAll(async () => {
  await proxy?.stop();
  await azurite?.stop();
});

describe("secrets canary: queue operations with the Azure SDK logger at verbose", () => {
  it("send/receive/peek/update/delete and 14 failure paths (12 thrown, 2 per-message) leak no plaintext, KEK bytes or CEKs", async () => {
    const logger = await loadAzureLogger("@azure/storage-queue");
    const raw = new QueueClient(azurite.connectionString, "canary");
    await raw.create();
    const q = new EncryptedQueueClient(raw, policy);
    const faulty = new EncryptedQueueClient(new QueueClient(proxiedConnectionString(azurite.connectionString, "queue", proxy.url), "canary", { retryOptions: FAST_RETRIES }), policy);
    const { errors, problems, fail } = failureCollector();
    const capture = captureOutput(logger);
    let captured = "";
    let azureLines = 0;
    try {
      console.warn("capture-marker-console");
      await q.sendMessage(`${CANARY}1`);
      await q.sendMessage(Buffer.from(`${CANARY}2`));
      await new EncryptedQueueClient(raw, { ...policy, encryptionVersion: "1.0", allowDeprecatedV1Encryption: true }).sendMessage(`${CANARY}3`);
      const peeked = await q.peekMessages({ numberOfMessages: 32 });
      expect(peeked.peekedMessageItems.map((m) => m.messageText).sort()).toEqual([`${CANARY}1`, `${CANARY}2`, `${CANARY}3`]);
      const got = await q.receiveMessages({ numberOfMessages: 32 });
      expect(got.receivedMessageItems).toHaveLength(3);
      const first = got.receivedMessageItems[0]!;
      await q.updateMessage(first.messageId, first.popReceipt, `${CANARY}updated`, 0);
      for (const m of got.receivedMessageItems.slice(1)) await q.deleteMessage(m.messageId, m.popReceipt);
      // Through the fault proxy: retried 503s and resets appear in the pipeline log.
      proxy.setFaults({ status503: 0.3, reset: 0.1 });
      await faulty.sendMessage(`${CANARY}4`);
      const r2 = await faulty.receiveMessages({ numberOfMessages: 32 });
      expect(r2.receivedMessageItems.map((m) => m.messageText).sort()).toEqual([`${CANARY}4`, `${CANARY}updated`]);
      proxy.setFaults({});

      // Failure paths (thrown errors, and per-message failures of a batch).
      await fail("too large", () => q.sendMessage(CANARY.repeat(2000)), "PAYLOAD_TOO_LARGE");
      await fail("1.0 without opt-in", () => new EncryptedQueueClient(raw, { ...policy, encryptionVersion: "1.0" }).sendMessage(CANARY), "DEPRECATED_PROTOCOL");
      await fail("2.1 for a queue", () => new EncryptedQueueClient(raw, { ...policy, encryptionVersion: "2.1" }).sendMessage(CANARY), "UNSUPPORTED_OPERATION");
      const envelope = await q.encryptMessageText(`${CANARY}5`);
      await fail("wrong key bytes, same id", () => new EncryptedQueueClient(raw, { keyEncryptionKey: new AesKeyWrapKey(kek.keyId, canaryKeyBytes("wrong")) }).decryptMessageText(envelope), "DECRYPTION_FAILED");
      await fail("other key configured", () => new EncryptedQueueClient(raw, { keyEncryptionKey: kek2 }).decryptMessageText(envelope), "KID_MISMATCH");
      await fail("no key", () => new EncryptedQueueClient(raw, {}).decryptMessageText(envelope), "KEY_NOT_FOUND");
      const parsed = JSON.parse(envelope);
      const c = Buffer.from(parsed.EncryptedMessageContents, "base64");
      c[20]! ^= 1;
      const tampered = JSON.stringify({ ...parsed, EncryptedMessageContents: c.toString("base64") });
      await fail("tampered ciphertext", () => q.decryptMessageText(tampered), "DECRYPTION_FAILED");
      await fail("plaintext message", () => q.decryptMessageText(CANARY), "ENCRYPTION_REQUIRED");
      await fail("base64 mode on a raw payload", () => new EncryptedQueueClient(raw, policy, { messageEncoding: "base64" }).decryptMessageText(envelope), "DECRYPTION_FAILED");
      await fail("bad metadata", () => q.decryptMessageText(JSON.stringify({ ...parsed, EncryptionData: { ...parsed.EncryptionData, EncryptionAgent: { Protocol: CANARY, EncryptionAlgorithm: "AES_GCM_256" } } })), "UNSUPPORTED_PROTOCOL");
      await raw.sendMessage(tampered);
      await raw.sendMessage(CANARY);
      const mixed = await q.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 1 });
      for (const f of mixed.failures) errors.push([`per-message ${f.error.code}`, f.error]);
      if (mixed.failures.length !== 2) problems.push(`expected 2 per-message failures, got ${mixed.failures.length}`);
      await fail("bad pop receipt", () => q.deleteMessage(mixed.failures[0]?.messageId ?? "x", "AAAAAAAAAAAAAAAA"), "SERVICE_ERROR");
      proxy.setFaults({ status500: 1 });
      await fail("persistent 500", () => faulty.sendMessage(CANARY), "SERVICE_ERROR");
      proxy.setFaults({});
    } finally {
      captured = capture.text();
      azureLines = capture.azureLines();
      capture.restore();
    }

    expect(problems).toEqual([]);
    expect(errors.length).toBe(14);
    expect(azureLines).toBeGreaterThan(30);
    expect(captured).toContain("capture-marker-console");
    expect(captured).toMatch(/503|retry|Retry/);

    expect(recorder.ceks.length).toBeGreaterThanOrEqual(6);
    expect(findLeaks(captured, errors, canaryNeedles({ plaintext: CANARY, keks: { "KEK 1": kekBytes, "KEK 2": kek2Bytes }, ceks: recorder.ceks }))).toEqual([]);
  });
});
