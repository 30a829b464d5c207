// Secrets canary (docs/security.md §6): table operations and failures with the Azure SDK logger at verbose;
// no canary plaintext (in encrypted properties), KEK bytes or CEK appears in anything emitted or thrown.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TableClient } from "@azure/data-tables";
import { AesKeyWrapKey, createLocalKeyResolver, type ClientSideEncryptionPolicy, type KeyEncryptionKey } from "@azure-cse/core-envelope";
import { EncryptedTableClient, METADATA1 } from "@azure-cse/data-tables";
import { startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { proxiedConnectionString, startFaultProxy, type FaultProxy } from "../../../tools/fault-proxy/index.mjs";
import { FAST_RETRIES, canaryKeyBytes, canaryNeedles, captureOutput, failureCollector, findLeaks, loadAzureLogger, recordingRandom } from "@azure-cse/testkit/reliability";

const CANARY = "CANARY-PLAINTEXT-table-9d04b7-pack-my-box-with-five-dozen-";
const kekBytes = canaryKeyBytes("table1");
const kek2Bytes = canaryKeyBytes("table2");
const kek = new AesKeyWrapKey("local:canary-t1", kekBytes);
const kek2 = new AesKeyWrapKey("local:canary-t2", kek2Bytes);
const recorder = recordingRandom("table");
const policy: ClientSideEncryptionPolicy = { keyEncryptionKey: kek, keyResolver: createLocalKeyResolver([kek, kek2]), random: recorder.random };
const selection = { encryptedProperties: ["Secret", "Card"] };

let azurite: AzuriteHandle;
let proxy: FaultProxy;

beforeAll(async () => {
  azurite = await startAzurite();
  proxy = await startFaultProxy({ target: azurite.tableUrl, seed: 13 });
});
afterAll(async () => {
  await proxy?.stop();
  await azurite?.stop();
});

describe("secrets canary: table operations with the Azure SDK logger at verbose", () => {
  it("create/get/list/upsert/update/merge/rotate/transaction and 14 failure paths leak no plaintext, KEK bytes or CEKs", async () => {
    const logger = await loadAzureLogger("@azure/data-tables");
    const raw = TableClient.fromConnectionString(azurite.connectionString, "canary", { allowInsecureConnection: true });
    await raw.createTable();
    const t = new EncryptedTableClient(raw, policy, selection);
    const faulty = new EncryptedTableClient(
      TableClient.fromConnectionString(proxiedConnectionString(azurite.connectionString, "table", proxy.url), "canary", { allowInsecureConnection: true, retryOptions: FAST_RETRIES }),
      policy,
      selection,
    );
    const { errors, problems, fail } = failureCollector();
    const capture = captureOutput(logger);
    let captured = "";
    let azureLines = 0;
    try {
      console.warn("capture-marker-console");
      await t.createEntity({ partitionKey: "p", rowKey: "1", Secret: `${CANARY}1`, Card: `${CANARY}card`, Plain: "visible" });
      const got = await t.getEntity("p", "1");
      expect(got.Secret).toBe(`${CANARY}1`);
      for await (const e of t.listEntities()) expect(String(e.Secret)).toContain(CANARY);
      await t.upsertEntity({ partitionKey: "p", rowKey: "2", Secret: `${CANARY}2` }, "Replace");
      await t.updateEntity({ partitionKey: "p", rowKey: "1", Secret: `${CANARY}1b`, Card: `${CANARY}card` }, "Replace", { etag: got.etag });
      await t.updateEntity({ partitionKey: "p", rowKey: "1", Plain: "merged" }, "Merge");
      await t.updateKeyEncryptionKey({ partitionKey: "p", rowKey: "1" }, kek2);
      await t.submitTransaction([
        ["create", { partitionKey: "p", rowKey: "3", Secret: `${CANARY}3` }],
        ["upsert", { partitionKey: "p", rowKey: "4", Secret: `${CANARY}4` }, "Replace"],
      ]);
      expect((await t.getEntity("p", "1")).Secret).toBe(`${CANARY}1b`);
      proxy.setFaults({ status503: 0.3, reset: 0.1 });
      await faulty.upsertEntity({ partitionKey: "p", rowKey: "5", Secret: `${CANARY}5` }, "Replace");
      expect((await faulty.getEntity("p", "5")).Secret).toBe(`${CANARY}5`);
      proxy.setFaults({});

      // Failure paths.
      await fail("wrong key bytes, same id", () => new EncryptedTableClient(raw, { keyEncryptionKey: new AesKeyWrapKey(kek.keyId, canaryKeyBytes("wrong")) }).getEntity("p", "2"), "DECRYPTION_FAILED");
      await fail("other key configured", () => new EncryptedTableClient(raw, { keyEncryptionKey: kek2 }).getEntity("p", "2"), "KID_MISMATCH");
      await fail("no key", () => new EncryptedTableClient(raw, {}).getEntity("p", "2"), "KEY_NOT_FOUND");
      const stored = await raw.getEntity<Record<string, unknown>>("p", "2");
      const secret = Buffer.from(stored.Secret as Uint8Array);
      secret[secret.length - 1]! ^= 0x5a;
      const { etag: _etag, timestamp: _ts, ...copy } = stored;
      await raw.upsertEntity({ ...copy, partitionKey: "p", rowKey: "tampered", Secret: new Uint8Array(secret) }, "Replace");
      await fail("tampered ciphertext (fails padding or the swapped-row IV)", () => t.getEntity("p", "tampered"), "DECRYPTION_FAILED");
      await raw.upsertEntity({ partitionKey: "p", rowKey: "plain", Secret: CANARY }, "Replace");
      await fail("no metadata under requireEncryption", () => t.getEntity("p", "plain"), "ENCRYPTION_REQUIRED");
      await raw.upsertEntity({ partitionKey: "p", rowKey: "badmeta", [METADATA1]: `{"Protocol":"${CANARY}"`, _ClientEncryptionMetadata2: new Uint8Array(16) }, "Replace");
      await fail("malformed metadata", () => t.getEntity("p", "badmeta"), "INVALID_ENCRYPTION_DATA");
      await fail("merge of an encrypted property", () => t.updateEntity({ partitionKey: "p", rowKey: "1", Secret: CANARY }, "Merge"), "UNSUPPORTED_OPERATION");
      await fail("non-string chosen for encryption", () => t.createEntity({ partitionKey: "p", rowKey: "n", Secret: 42 }), "INVALID_ARGUMENT");
      await fail("too large", () => t.createEntity({ partitionKey: "p", rowKey: "big", Secret: CANARY.repeat(2000) }), "PAYLOAD_TOO_LARGE");
      await fail("stale ETag", () => t.updateEntity({ partitionKey: "p", rowKey: "1", Secret: CANARY }, "Replace", { etag: got.etag }), "CONDITION_NOT_MET");
      await fail("missing entity", () => t.getEntity("p", "absent"), "NOT_FOUND");
      await fail("duplicate insert", () => t.createEntity({ partitionKey: "p", rowKey: "2", Secret: CANARY }), "SERVICE_ERROR");
      const liar: KeyEncryptionKey = {
        keyId: "local:liar",
        defaultWrapAlgorithm: "A256KW",
        wrapKey: (alg, key, o) => kek2.wrapKey(alg, key, o),
        unwrapKey: async () => Buffer.from(kekBytes),
      };
      await fail("rotation to a key that does not round-trip", () => t.updateKeyEncryptionKey({ partitionKey: "p", rowKey: "2" }, liar), "KEY_OPERATION_FAILED");
      proxy.setFaults({ status500: 1 });
      await fail("persistent 500", () => faulty.upsertEntity({ partitionKey: "p", rowKey: "6", Secret: CANARY }, "Replace"), "SERVICE_ERROR");
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
    // The row written raw with the canary in clear ("plain") travels only in a request body, which the SDK never logs.
    expect(findLeaks(captured, errors, canaryNeedles({ plaintext: CANARY, keks: { "KEK 1": kekBytes, "KEK 2": kek2Bytes }, ceks: recorder.ceks }))).toEqual([]);
  });
});
