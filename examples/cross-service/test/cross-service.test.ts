// The cross-service example end to end: Azurite + the local Key Vault server, then independent checks of
// what the app left behind (rotation to the new key version, nothing left in the queue or the claim-check store).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlobServiceClient } from "@azure/storage-blob";
import { QueueServiceClient } from "@azure/storage-queue";
import { TableClient } from "@azure/data-tables";
import { parseEncryptionData } from "@azure-cse/core-envelope";
import { createKeyVaultKeyResolver } from "@azure-cse/keyvault";
import { EncryptedBlobServiceClient } from "@azure-cse/storage-blob";
import { EncryptedTableClient } from "@azure-cse/data-tables";
import { startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { startLocalKeyVault, type LocalKeyVault } from "../../../tools/local-keyvault/index.mjs";
import { runCrossService, type CrossServiceReport } from "../src/app.js";

let azurite: AzuriteHandle;
let kv: LocalKeyVault;
let report: CrossServiceReport;
const lines: string[] = [];

beforeAll(async () => {
  [azurite, kv] = await Promise.all([startAzurite(), startLocalKeyVault()]);
  report = await runCrossService({
    connectionString: azurite.connectionString,
    keyVault: { vaultUrl: kv.vaultUrl, credential: kv.credential, keyName: "xsvc-kek", clientOptions: kv.clientOptions },
    log: (l) => lines.push(l),
  });
});
afterAll(async () => {
  await Promise.all([azurite?.stop(), kv?.stop()]);
});

const version = (kid: string) => kid.split("/").pop();

describe("examples/cross-service against Azurite and the local Key Vault", () => {
  it("runs every step and every check passes (blob, queue with claim check, table, read back, rotation)", () => {
    expect(report.checks.length).toBe(lines.filter((l) => l.startsWith("  ✔")).length);
    expect(report.checks.length).toBeGreaterThanOrEqual(20);
    for (const step of ["encrypted blob", "claim check", "table entity", "Read everything back", "Rotate the key"]) {
      expect(lines.some((l) => l.startsWith("▶") && l.includes(step)), step).toBe(true);
    }
    expect(Object.isFrozen(report.policy)).toBe(true);
  });

  it("the key was created in the vault and got a second version: before and after are versioned kids of one key", () => {
    const base = `${kv.vaultUrl}/keys/xsvc-kek/`;
    expect(report.keyIdBefore.startsWith(base) && report.keyIdAfter.startsWith(base)).toBe(true);
    expect(version(report.keyIdBefore)).toMatch(/^[0-9a-f]{32}$/);
    expect(version(report.keyIdAfter)).toMatch(/^[0-9a-f]{32}$/);
    expect(report.keyIdAfter).not.toBe(report.keyIdBefore);
    expect(kv.count("rotateKey", { status: 200 })).toBe(1);
  });

  it("after rotation a fresh reader (new resolver, no cache) unwraps the blob and the entity with the new version only", async () => {
    const policy = { keyResolver: createKeyVaultKeyResolver(kv.credential, { clientOptions: kv.clientOptions }) };
    const blobs = new EncryptedBlobServiceClient(BlobServiceClient.fromConnectionString(azurite.connectionString), policy);
    const blob = blobs.getBlobClient(report.names.container, report.blobName);
    const raw = await blob.blobClient.getProperties();
    expect(parseEncryptionData(raw.metadata!.encryptiondata!).wrappedContentKey.keyId).toBe(report.keyIdAfter);
    const table = new EncryptedTableClient(TableClient.fromConnectionString(azurite.connectionString, report.names.table, { allowInsecureConnection: true }), policy);
    const from = kv.requests.length;
    const text = (await blob.downloadToBuffer()).toString();
    const entity = await table.getEntity<{ title: string; sha256: string }>("documents", report.documentId);
    expect(JSON.parse(text).id).toBe(report.documentId);
    expect(entity.sha256).toBe(report.documentSha256);
    expect(entity.title).toContain(report.documentId.slice(0, 8));
    const unwraps = kv.requests.slice(from).filter((r) => r.route === "unwrapKey" && r.status === 200);
    expect(unwraps.map((r) => r.version)).toEqual([version(report.keyIdAfter), version(report.keyIdAfter)]);
  });

  it("the processed messages and their claim-check payload are gone: the queue and the claim-check container are empty", async () => {
    const queue = QueueServiceClient.fromConnectionString(azurite.connectionString).getQueueClient(report.names.queue);
    expect((await queue.getProperties()).approximateMessagesCount).toBe(0);
    const claims = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(report.names.claimCheckContainer);
    const left: string[] = [];
    for await (const b of claims.listBlobsFlat()) left.push(b.name);
    expect(left).toEqual([]);
    expect(report.claimCheckName).toMatch(/^queue-payloads\//);
  });
});
