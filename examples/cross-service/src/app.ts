// A cross-service application under ONE client-side encryption policy and ONE Key Vault key:
//   1. stores a document as an encrypted blob,
//   2. sends encrypted queue messages about it: a small event pointing to the blob, and the whole document
//      through the opt-in claim check (payload in an encrypted blob, small encrypted pointer in the queue),
//   3. records an encrypted table entity about it,
//   4. reads everything back,
//   5. rotates the key (a new Key Vault key version) for the blob and the entity, and reads them again.
// Every step is verified; the first failed check throws.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { BlobServiceClient } from "@azure/storage-blob";
import { QueueServiceClient } from "@azure/storage-queue";
import { KeyClient, type KeyClientOptions } from "@azure/keyvault-keys";
import { parseEncryptionData, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { createKeyVaultKeyResolver, type KeyVaultKeyResolverOptions, type TokenCredential } from "@azure-cse/keyvault";
import { EncryptedBlobServiceClient } from "@azure-cse/storage-blob";
import { EncryptedQueueServiceClient } from "@azure-cse/storage-queue";
import { EncryptedTableServiceClient } from "@azure-cse/data-tables";
import { encryptedContainerClaimCheckStore } from "./claim-check-store.js";

export interface KeyVaultSettings {
  /** e.g. https://my-vault.vault.azure.net (the local Key Vault: kv.vaultUrl). */
  vaultUrl: string;
  credential: TokenCredential;
  /** Name of the key-encryption key; created (RSA 2048) when missing. */
  keyName: string;
  /** Options for the Key Vault clients (the local Key Vault needs its `clientOptions`). */
  clientOptions?: KeyClientOptions & NonNullable<KeyVaultKeyResolverOptions["clientOptions"]>;
}

export interface CrossServiceOptions {
  /** Storage account connection string (Azurite's works). */
  connectionString: string;
  keyVault: KeyVaultSettings;
  /** Resource names; default unique names with the prefix "xsvc". */
  names?: Partial<{ container: string; claimCheckContainer: string; queue: string; table: string }>;
  /** Size of the generated document in bytes; default 200 KiB (over the 64 KiB queue message limit). */
  documentSize?: number;
  /** Progress lines; default silent. */
  log?: (line: string) => void;
}

export interface CrossServiceReport {
  documentId: string;
  documentSha256: string;
  names: { container: string; claimCheckContainer: string; queue: string; table: string };
  blobName: string;
  /** Name of the claim-check payload the queue client stored (deleted again after the message was processed). */
  claimCheckName: string;
  /** Versioned key id that wrapped everything first, and the new version after rotation. */
  keyIdBefore: string;
  keyIdAfter: string;
  /** The policy object used by every client (the same object throughout). */
  policy: ClientSideEncryptionPolicy;
  /** Every check that passed, in order. */
  checks: string[];
}

function uniqueNames(): CrossServiceReport["names"] {
  const tag = `${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;
  return { container: `xsvc-docs-${tag}`, claimCheckContainer: `xsvc-claims-${tag}`, queue: `xsvc-events-${tag}`, table: `xsvcdocs${tag}` };
}

/** A JSON document of `size` bytes (at least its fixed fields), ASCII. */
function makeDocument(id: string, size: number): { text: string; title: string; owner: string } {
  const title = `Quarterly report ${id.slice(0, 8)}`;
  const owner = "ada@example.com";
  const overhead = JSON.stringify({ id, title, owner, body: "" }).length;
  const line = "Revenue grew in every region; details follow. ";
  const body = line.repeat(Math.ceil(Math.max(0, size - overhead) / line.length) + 1).slice(0, Math.max(0, size - overhead));
  return { text: JSON.stringify({ id, title, owner, body }), title, owner };
}

/** The key id in an entity's `_ClientEncryptionMetadata1` (EncryptionData JSON, legacy table format). */
function storedKid(rawEntity: Record<string, unknown>): string {
  return parseEncryptionData(String(rawEntity._ClientEncryptionMetadata1)).wrappedContentKey.keyId;
}

const sameBytes = (a: unknown, b: unknown) => a instanceof Uint8Array && b instanceof Uint8Array && Buffer.from(a).equals(Buffer.from(b));
const sha256 = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");

export async function runCrossService(options: CrossServiceOptions): Promise<CrossServiceReport> {
  const log = options.log ?? (() => undefined);
  const checks: string[] = [];
  const check = (ok: boolean, what: string) => {
    if (!ok) throw new Error(`check failed: ${what}`);
    checks.push(what);
    log(`  ✔ ${what}`);
  };
  const names = { ...uniqueNames(), ...options.names };
  const { vaultUrl, credential, keyName, clientOptions } = options.keyVault;

  // ---- One Key Vault key, one policy -------------------------------------------------------------
  log("▶ One Key Vault key and one policy for blobs, queue messages and table entities");
  const keyClient = new KeyClient(vaultUrl, credential, clientOptions);
  try {
    await keyClient.getKey(keyName);
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode !== 404) throw e;
    await keyClient.createRsaKey(keyName, { keySize: 2048 });
  }
  const resolver = createKeyVaultKeyResolver(credential, { clientOptions, allowedVaults: [vaultUrl] });
  const versionlessKeyId = `${vaultUrl.replace(/\/$/, "")}/keys/${keyName}`;
  // Wrap with the key's current version (the versioned kid is stored); read whatever version is stored.
  const policy: ClientSideEncryptionPolicy = Object.freeze({ keyEncryptionKey: resolver.getKeyEncryptionKey(versionlessKeyId), keyResolver: resolver });

  const insecure = /DefaultEndpointsProtocol=http;|UseDevelopmentStorage=true|=http:\/\//i.test(options.connectionString);
  const blobs = new EncryptedBlobServiceClient(BlobServiceClient.fromConnectionString(options.connectionString), policy);
  const documents = await blobs.createContainerIfNotExists(names.container);
  const claimChecks = await blobs.createContainerIfNotExists(names.claimCheckContainer);
  const queues = new EncryptedQueueServiceClient(QueueServiceClient.fromConnectionString(options.connectionString), policy, {
    claimCheck: { store: encryptedContainerClaimCheckStore(claimChecks), namePrefix: "queue-payloads/" },
  });
  const queue = queues.getQueueClient(names.queue);
  await queue.queueClient.createIfNotExists();
  const tables = EncryptedTableServiceClient.fromConnectionString(options.connectionString, policy, {
    clientOptions: { allowInsecureConnection: insecure },
    encryptedProperties: ["title", "owner"],
  });
  const table = await tables.createTableIfNotExists(names.table);
  check(blobs.policy === policy && queue.policy === policy && tables.policy === policy, "the blob, queue and table clients hold the one policy object");

  // ---- 1. The document, as an encrypted blob ----------------------------------------------------------
  log("▶ Store the document as an encrypted blob");
  const documentId = randomUUID();
  const doc = makeDocument(documentId, options.documentSize ?? 200 * 1024);
  const docSha = sha256(doc.text);
  const blobName = `documents/${documentId}.json`;
  const blob = documents.getBlobClient(blobName);
  await blob.uploadData(Buffer.from(doc.text), { metadata: { documentid: documentId }, blobHTTPHeaders: { blobContentType: "application/json" } });
  const stored = await blob.blobClient.downloadToBuffer();
  check(!stored.includes(Buffer.from(doc.title)), "the stored blob is ciphertext (the title does not appear in it)");
  const blobData = parseEncryptionData((await blob.blobClient.getProperties()).metadata?.encryptiondata ?? "");
  const keyIdBefore = blobData.wrappedContentKey.keyId;
  check(keyIdBefore.startsWith(`${versionlessKeyId}/`) && keyIdBefore.length > versionlessKeyId.length + 1, `the blob's content key is wrapped by the Key Vault key, versioned kid ${keyIdBefore}`);

  // ---- 2. Queue messages: an event pointing at the blob, and the whole document by claim check ------
  log("▶ Send encrypted queue messages (an event pointing at the blob; the whole document through the claim check)");
  const event = JSON.stringify({ type: "document.stored", documentId, container: names.container, blob: blobName, sha256: docSha });
  const sentEvent = await queue.sendMessage(event);
  check(sentEvent.claimCheck === undefined, "the small event went as one encrypted message");
  const sentDoc = await queue.sendMessage(doc.text);
  const claimCheckName = sentDoc.claimCheck?.name ?? "";
  check(claimCheckName.startsWith("queue-payloads/") && sentDoc.claimCheck?.size === Buffer.byteLength(doc.text), `the ${Buffer.byteLength(doc.text)}-byte document went to the claim-check store as "${claimCheckName}"`);
  const rawMessages = (await queue.queueClient.peekMessages({ numberOfMessages: 32 })).peekedMessageItems;
  check(
    rawMessages.length === 2 && rawMessages.every((m) => m.messageText.startsWith('{"EncryptedMessageContents":') && !m.messageText.includes(documentId) && m.messageText.length < 4096),
    "the queue holds two small encrypted envelopes that do not reveal the document id",
  );
  const claimStored = await claimChecks.containerClient.getBlobClient(claimCheckName).downloadToBuffer();
  check(!claimStored.includes(Buffer.from(doc.title)) && (await claimChecks.getBlobClient(claimCheckName).getProperties()).isClientSideEncrypted === true, "the claim-check payload is an encrypted blob");

  // ---- 3. The table entity ----------------------------------------------------------------------------------
  log("▶ Record an encrypted table entity about the document");
  await table.createEntity({ partitionKey: "documents", rowKey: documentId, title: doc.title, owner: doc.owner, blobName, sha256: docSha, size: Buffer.byteLength(doc.text) });
  const rawEntity = await table.tableClient.getEntity<Record<string, unknown>>("documents", documentId);
  check(
    typeof rawEntity._ClientEncryptionMetadata1 === "string" &&
      rawEntity.title instanceof Uint8Array &&
      !Buffer.from(rawEntity.title).includes(Buffer.from(doc.title)) &&
      rawEntity.owner instanceof Uint8Array &&
      rawEntity.blobName === blobName,
    "the stored entity has title and owner encrypted (legacy format) and blobName in plaintext",
  );
  check(storedKid(rawEntity) === keyIdBefore, "the entity's content key is wrapped by the same Key Vault key version");

  // ---- 4. Read everything back ------------------------------------------------------------------------------
  log("▶ Read everything back");
  check((await blob.downloadToBuffer()).toString() === doc.text, "the blob decrypts to the document");
  const received = await queue.receiveMessages({ numberOfMessages: 32 });
  check(received.failures.length === 0 && received.receivedMessageItems.length === 2, "both messages received and decrypted");
  const eventItem = received.receivedMessageItems.find((m) => m.claimCheck === undefined);
  const docItem = received.receivedMessageItems.find((m) => m.claimCheck !== undefined);
  const parsedEvent = JSON.parse(eventItem?.messageText ?? "{}") as { blob?: string; sha256?: string };
  check(parsedEvent.blob === blobName && parsedEvent.sha256 === docSha, "the event points at the blob (claim check by reference)");
  check(docItem?.messageText === doc.text && docItem.claimCheck?.name === claimCheckName, "the claim-checked message resolved transparently to the whole document");
  const viaEvent = await documents.getBlobClient(parsedEvent.blob ?? "").downloadToBuffer();
  check(sha256(viaEvent) === parsedEvent.sha256, "following the event's pointer gives the document with the announced SHA-256");
  for (const m of received.receivedMessageItems) await queue.deleteMessage(m.messageId, m.popReceipt, { claimCheckName: m.claimCheck?.name });
  check(!(await claimChecks.containerClient.getBlobClient(claimCheckName).exists()), "deleting the message deleted its claim-check payload");
  const entity = await table.getEntity<{ title: string; owner: string; sha256: string }>("documents", documentId);
  check(entity.title === doc.title && entity.owner === doc.owner && entity.sha256 === docSha, "the entity decrypts to the recorded fields");

  // ---- 5. Rotate the key --------------------------------------------------------------------------------------
  log("▶ Rotate the key: a new Key Vault key version; re-wrap the blob's and the entity's content keys");
  const rotated = await keyClient.rotateKey(keyName);
  const keyIdAfter = rotated.id ?? "";
  check(keyIdAfter.startsWith(`${versionlessKeyId}/`) && keyIdAfter !== keyIdBefore, `the key has a new version ${keyIdAfter}`);
  const newKek = resolver.getKeyEncryptionKey(keyIdAfter);
  const blobRotation = await blob.updateKeyEncryptionKey(newKek);
  check(blobRotation.previousKeyId === keyIdBefore && blobRotation.keyId === keyIdAfter, "blob: content key re-wrapped with the new version");
  check((await blob.blobClient.downloadToBuffer()).equals(stored), "blob: stored ciphertext unchanged (metadata-only rotation)");
  const entityRotation = await table.updateKeyEncryptionKey({ partitionKey: "documents", rowKey: documentId }, newKek);
  check(entityRotation.keyId === keyIdAfter, "entity: content key re-wrapped with the new version");
  const afterData = parseEncryptionData((await blob.blobClient.getProperties()).metadata?.encryptiondata ?? "");
  const afterEntity = await table.tableClient.getEntity<Record<string, unknown>>("documents", documentId);
  check(
    afterData.wrappedContentKey.keyId === keyIdAfter && storedKid(afterEntity) === keyIdAfter && sameBytes(afterEntity.title, rawEntity.title),
    "the stored kids name the new version; the entity's ciphertext is unchanged",
  );
  check((await blob.downloadToBuffer()).toString() === doc.text, "the blob still decrypts (through the new version)");
  const entityAfter = await table.getEntity<{ title: string; owner: string }>("documents", documentId);
  check(entityAfter.title === doc.title && entityAfter.owner === doc.owner, "the entity still decrypts (through the new version)");

  return { documentId, documentSha256: docSha, names, blobName, claimCheckName, keyIdBefore, keyIdAfter, policy, checks };
}
