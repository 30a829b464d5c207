// One ClientSideEncryptionPolicy object, unchanged, for blobs, queue messages and table entities — directly
// and through the service-level clients that hand it down. Runs against Azurite with the built packages.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlobServiceClient } from "@azure/storage-blob";
import { QueueServiceClient } from "@azure/storage-queue";
import { TableClient, TableServiceClient } from "@azure/data-tables";
import { AesKeyWrapKey, ClientSideEncryptionError, createLocalKeyResolver, parseEncryptionData, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { EncryptedBlobClient, EncryptedBlobServiceClient } from "@azure-cse/storage-blob";
import { EncryptedQueueClient, EncryptedQueueServiceClient } from "@azure-cse/storage-queue";
import { EncryptedTableClient, EncryptedTableServiceClient } from "@azure-cse/data-tables";
import { startAzurite, type AzuriteHandle } from "@azure-cse/testkit";

let azurite: AzuriteHandle;
let n = 0;
const unique = (p: string) => `${p}${process.pid}x${Date.now().toString(36)}x${n++}`;
beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.stop();
});

const kek1 = new AesKeyWrapKey("local:one-policy-1", Buffer.alloc(32, 1));
const kek2 = new AesKeyWrapKey("local:one-policy-2", Buffer.alloc(32, 2));

/** A deeply frozen policy: any attempt by a client to change it would throw in strict mode. */
function frozenPolicy(extra: Partial<ClientSideEncryptionPolicy> = {}): ClientSideEncryptionPolicy {
  return Object.freeze({ keyEncryptionKey: kek1, keyResolver: createLocalKeyResolver([kek1, kek2]), ...extra });
}
const snapshot = (p: ClientSideEncryptionPolicy) => ({ ...p });

async function resources() {
  const blobService = BlobServiceClient.fromConnectionString(azurite.connectionString);
  const container = blobService.getContainerClient(unique("c"));
  await container.create();
  const queue = QueueServiceClient.fromConnectionString(azurite.connectionString).getQueueClient(unique("q"));
  await queue.create();
  const table = TableClient.fromConnectionString(azurite.connectionString, unique("t"), { allowInsecureConnection: true });
  await table.createTable();
  return { container, queue, table };
}

describe("one policy object, every service", () => {
  it("EncryptedBlobClient, EncryptedQueueClient and EncryptedTableClient take the same frozen policy object and round-trip with it; it is unchanged afterwards", async () => {
    const policy = frozenPolicy();
    const before = snapshot(policy);
    const { container, queue, table } = await resources();
    const blob = new EncryptedBlobClient(container.getBlobClient("doc"), policy);
    const messages = new EncryptedQueueClient(queue, policy);
    const entities = new EncryptedTableClient(table, policy, { encryptedProperties: ["secret"] });

    await blob.uploadData(Buffer.from("blob plaintext"));
    await messages.sendMessage("queue plaintext");
    await entities.createEntity({ partitionKey: "p", rowKey: "r", secret: "table plaintext" });

    expect((await blob.downloadToBuffer()).toString()).toBe("blob plaintext");
    expect((await messages.receiveMessages()).receivedMessageItems.map((m) => m.messageText)).toEqual(["queue plaintext"]);
    expect((await entities.getEntity<{ secret: string }>("p", "r")).secret).toBe("table plaintext");
    expect(blob.policy).toBe(policy);
    expect(messages.policy).toBe(policy);
    expect(snapshot(policy)).toEqual(before);

    // All three wrapped their content keys with the policy's one key-encryption key.
    const blobKid = parseEncryptionData((await container.getBlobClient("doc").getProperties()).metadata!.encryptiondata!).wrappedContentKey.keyId;
    const raw = await table.getEntity<Record<string, unknown>>("p", "r");
    const tableKid = parseEncryptionData(String(raw._ClientEncryptionMetadata1)).wrappedContentKey.keyId;
    await messages.sendMessage("again");
    const queueKid = (await messages.peekMessages()).peekedMessageItems[0]!.keyId;
    expect([blobKid, queueKid, tableKid]).toEqual(["local:one-policy-1", "local:one-policy-1", "local:one-policy-1"]);
  });

  it("the service-level clients hand the same object down: blob service → container → blob, queue service → queue, table service → table", async () => {
    const policy = frozenPolicy();
    const { container, queue, table } = await resources();
    const blobs = new EncryptedBlobServiceClient(BlobServiceClient.fromConnectionString(azurite.connectionString), policy);
    const queues = new EncryptedQueueServiceClient(QueueServiceClient.fromConnectionString(azurite.connectionString), policy);
    const tables = EncryptedTableServiceClient.fromConnectionString(azurite.connectionString, policy, {
      clientOptions: { allowInsecureConnection: true },
      encryptedProperties: ["secret"],
    });
    expect(blobs.policy).toBe(policy);
    expect(blobs.getContainerClient(container.containerName).getBlobClient("x").policy).toBe(policy);
    expect(blobs.getBlobClient(container.containerName, "x").policy).toBe(policy);
    expect(queues.policy).toBe(policy);
    expect(queues.getQueueClient(queue.name).policy).toBe(policy);
    expect(tables.policy).toBe(policy);

    // Written through the service-level clients, read through directly constructed ones (and the reverse).
    await blobs.getBlobClient(container.containerName, "via-service").uploadData(Buffer.from("from the blob service"));
    expect((await new EncryptedBlobClient(container.getBlobClient("via-service"), policy).downloadToBuffer()).toString()).toBe("from the blob service");
    await new EncryptedQueueClient(queue, policy).sendMessage("direct");
    expect((await queues.getQueueClient(queue.name).receiveMessages()).receivedMessageItems[0]!.messageText).toBe("direct");
    const viaService = tables.getTableClient(table.tableName);
    await viaService.createEntity({ partitionKey: "p", rowKey: "s", secret: "from the table service", plain: "visible" });
    const rawEntity = await table.getEntity<Record<string, unknown>>("p", "s");
    expect(rawEntity.secret).toBeInstanceOf(Uint8Array);
    expect(rawEntity.plain).toBe("visible");
    expect((await new EncryptedTableClient(table, policy).getEntity<{ secret: string }>("p", "s")).secret).toBe("from the table service");
  });

  it("service-level creation helpers are idempotent and return clients with the policy", async () => {
    const policy = frozenPolicy();
    const blobs = new EncryptedBlobServiceClient(BlobServiceClient.fromConnectionString(azurite.connectionString), policy);
    const name = unique("cc");
    const c1 = await blobs.createContainerIfNotExists(name);
    const c2 = await blobs.createContainerIfNotExists(name);
    expect(c1.containerName).toBe(name);
    expect(c2.getBlobClient("b").policy).toBe(policy);
    const tables = new EncryptedTableServiceClient(TableServiceClient.fromConnectionString(azurite.connectionString, { allowInsecureConnection: true }), policy, {
      createTableClient: (t) => TableClient.fromConnectionString(azurite.connectionString, t, { allowInsecureConnection: true }),
    });
    const tname = unique("tt");
    await tables.createTableIfNotExists(tname);
    const t = await tables.createTableIfNotExists(tname, { encryptedProperties: ["s"] });
    await t.createEntity({ partitionKey: "a", rowKey: "b", s: "x" });
    expect((await t.tableClient.getEntity<Record<string, unknown>>("a", "b")).s).toBeInstanceOf(Uint8Array);
  });

  it('each service applies the shared encryptionVersion within its format: "2.1" writes 2.1 blobs, is refused for queue messages (UNSUPPORTED_OPERATION), tables write 1.0', async () => {
    const policy = frozenPolicy({ encryptionVersion: "2.1", regionSize: 64 * 1024 });
    const { container, queue, table } = await resources();
    await new EncryptedBlobClient(container.getBlobClient("v21"), policy).uploadData(Buffer.alloc(100_000, 3));
    const data = parseEncryptionData((await container.getBlobClient("v21").getProperties()).metadata!.encryptiondata!);
    expect(data.protocol).toBe("2.1");
    const e = await new EncryptedQueueClient(queue, policy).sendMessage("m").catch((x: unknown) => x);
    expect(ClientSideEncryptionError.hasCode(e, "UNSUPPORTED_OPERATION")).toBe(true);
    await new EncryptedTableClient(table, policy, { encryptedProperties: ["s"] }).createEntity({ partitionKey: "p", rowKey: "r", s: "x" });
    const raw = await table.getEntity<Record<string, unknown>>("p", "r");
    expect(parseEncryptionData(String(raw._ClientEncryptionMetadata1)).protocol).toBe("1.0");
  });

  it("the service clients refuse a missing policy or client with INVALID_ARGUMENT", () => {
    const codeOf = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return ClientSideEncryptionError.is(e) ? e.code : `untyped: ${String(e)}`;
      }
      return "no error";
    };
    const blobService = BlobServiceClient.fromConnectionString(azurite.connectionString);
    const queueService = QueueServiceClient.fromConnectionString(azurite.connectionString);
    expect(codeOf(() => new EncryptedBlobServiceClient(blobService, undefined as never))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => new EncryptedBlobServiceClient({} as never, frozenPolicy()))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => new EncryptedQueueServiceClient(queueService, undefined as never))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => new EncryptedQueueServiceClient(queueService, frozenPolicy(), { messageEncoding: "hex" as never }))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => new EncryptedTableServiceClient(TableServiceClient.fromConnectionString(azurite.connectionString), frozenPolicy(), {} as never))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => EncryptedTableServiceClient.fromConnectionString(azurite.connectionString, frozenPolicy()).getTableClient(""))).toBe("INVALID_ARGUMENT");
  });
});
