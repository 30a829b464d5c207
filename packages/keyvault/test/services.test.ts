// Blob, queue message and table entity round trips with a Key Vault key-encryption key: the local
// Key Vault (real @azure/keyvault-keys client) + Azurite (real Azure Storage SDKs) + the @azure-cse
// service packages. The service packages are not dependencies of @azure-cse/keyvault, so they are
// loaded by name at run time (vitest aliases, see vitest.config.ts) and used untyped here.
/* eslint-disable @typescript-eslint/no-explicit-any -- untyped modules, see above */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KeyClient } from "@azure/keyvault-keys";
import { parseEncryptionData, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { createKeyVaultKeyResolver, type KeyVaultKeyResolver } from "@azure-cse/keyvault";
import { startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { startLocalKeyVault, type LocalKeyVault } from "../../../tools/local-keyvault/index.mjs";

const load = (specifier: string): Promise<any> => import(specifier);

let kv: LocalKeyVault;
let azurite: AzuriteHandle;
let keys: KeyClient;
let blobSdk: any, queueSdk: any, tableSdk: any, cseBlob: any, cseQueue: any, cseTable: any;
let n = 0;
const unique = (p: string) => `${p}${process.pid}x${Date.now().toString(36)}x${n++}`.toLowerCase();

beforeAll(async () => {
  [kv, azurite] = await Promise.all([startLocalKeyVault(), startAzurite()]);
  keys = new KeyClient(kv.vaultUrl, kv.credential, kv.clientOptions);
  [blobSdk, queueSdk, tableSdk, cseBlob, cseQueue, cseTable] = await Promise.all(
    ["@azure/storage-blob", "@azure/storage-queue", "@azure/data-tables", "@azure-cse/storage-blob", "@azure-cse/storage-queue", "@azure-cse/data-tables"].map(load),
  );
});
afterAll(async () => {
  await Promise.all([kv?.stop(), azurite?.stop()]);
});

const resolverFor = (): KeyVaultKeyResolver => createKeyVaultKeyResolver(kv.credential, { clientOptions: kv.clientOptions });
/** The documented setup: wrap with the versionless key (current version), read through the resolver. */
function policyFor(keyName: string, resolver = resolverFor()): ClientSideEncryptionPolicy {
  return { keyEncryptionKey: resolver.getKeyEncryptionKey(kv.keyId(keyName)), keyResolver: resolver };
}
async function newContainer() {
  const c = blobSdk.BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(unique("c"));
  await c.create();
  return c;
}

describe("service round trips with a Key Vault key-encryption key", () => {
  it("blob: upload/download round trip stores the versioned kid and reads back after the key gets a new version", async () => {
    const v1 = (await keys.createRsaKey("svc-blob")).id!;
    const container = await newContainer();
    const writer = new cseBlob.EncryptedContainerClient(container, policyFor("svc-blob"));
    const data = randomBytes(300_000);
    await writer.getBlobClient("b1").uploadData(data);
    const props = await container.getBlobClient("b1").getProperties();
    expect(parseEncryptionData(props.metadata.encryptiondata).wrappedContentKey.keyId).toBe(v1);
    await keys.rotateKey("svc-blob");
    const reader = new cseBlob.EncryptedContainerClient(container, { keyResolver: resolverFor() });
    expect((await reader.getBlobClient("b1").downloadToBuffer()).equals(data)).toBe(true);
    expect((await reader.getBlobClient("b1").downloadToBuffer(1000, 5000)).equals(data.subarray(1000, 6000))).toBe(true);
  });

  it("blob: 200 downloads of blobs under one key make exactly one key lookup while unwraps stay one per blob", async () => {
    await keys.createRsaKey("svc-blob-200");
    const container = await newContainer();
    const writer = new cseBlob.EncryptedContainerClient(container, policyFor("svc-blob-200"));
    const names = Array.from({ length: 200 }, (_, i) => `blob-${i}`);
    for (let i = 0; i < names.length; i += 25) {
      await Promise.all(names.slice(i, i + 25).map((name) => writer.getBlobClient(name).uploadData(Buffer.from(`content of ${name}`))));
    }
    const resolver = resolverFor();
    const reader = new cseBlob.EncryptedContainerClient(container, { keyResolver: resolver });
    kv.resetCounters();
    for (const name of names) expect((await reader.getBlobClient(name).downloadToBuffer()).toString()).toBe(`content of ${name}`);
    expect(kv.count("getKey", { authenticated: true })).toBe(1);
    expect(kv.count("unwrapKey", { status: 200 })).toBe(200);
    expect(resolver.stats.lookups).toBe(1);
  });

  it("queue message: send/receive round trip; the envelope names the versioned kid", async () => {
    const v1 = (await keys.createRsaKey("svc-queue")).id!;
    const raw = queueSdk.QueueServiceClient.fromConnectionString(azurite.connectionString).getQueueClient(unique("q"));
    await raw.create();
    await new cseQueue.EncryptedQueueClient(raw, policyFor("svc-queue")).sendMessage("hello from Key Vault ✓");
    const stored = (await raw.peekMessages()).peekedMessageItems[0].messageText;
    expect(JSON.parse(stored).EncryptionData.WrappedContentKey.KeyId).toBe(v1);
    await keys.rotateKey("svc-queue");
    const r = await new cseQueue.EncryptedQueueClient(raw, { keyResolver: resolverFor() }).receiveMessages();
    expect(r.failures).toEqual([]);
    expect(r.receivedMessageItems.map((m: any) => [m.messageText, m.keyId])).toEqual([["hello from Key Vault ✓", v1]]);
  });

  it("table entity: create/get round trip; _ClientEncryptionMetadata1 names the versioned kid", async () => {
    const v1 = (await keys.createRsaKey("svc-table")).id!;
    const table = tableSdk.TableClient.fromConnectionString(azurite.connectionString, unique("t").replace(/[^a-z0-9]/g, ""), { allowInsecureConnection: true });
    await table.createTable();
    const writer = new cseTable.EncryptedTableClient(table, policyFor("svc-table"), { encryptedProperties: ["Secret"] });
    await writer.createEntity({ partitionKey: "p", rowKey: "r", Secret: "table secret é", Plain: "visible" });
    const rawEntity = await table.getEntity("p", "r");
    expect(rawEntity.Secret).not.toBe("table secret é");
    expect(JSON.parse(rawEntity._ClientEncryptionMetadata1).WrappedContentKey.KeyId).toBe(v1);
    await keys.rotateKey("svc-table");
    const got = await new cseTable.EncryptedTableClient(table, { keyResolver: resolverFor() }).getEntity("p", "r");
    expect(got).toMatchObject({ Secret: "table secret é", Plain: "visible" });
  });
});
