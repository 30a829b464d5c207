// A thin wrapper over the official TableClient (browser or Node build): encrypts selected properties on write,
// decrypts on read. Merge writes are refused (they would mix content keys in one entity).
import { ClientSideEncryptionError, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope/web";
import { decryptWebEntity, encryptWebEntity, type WebEntityRecord, type WebPropertySelection } from "./entity.js";

/** What the wrapper uses of `TableClient` from @azure/data-tables. */
export interface WebTableClientLike {
  createEntity(entity: WebEntityRecord & { partitionKey: string; rowKey: string }): Promise<{ etag?: string }>;
  upsertEntity(entity: WebEntityRecord & { partitionKey: string; rowKey: string }, mode?: "Merge" | "Replace"): Promise<{ etag?: string }>;
  getEntity(partitionKey: string, rowKey: string): Promise<WebEntityRecord>;
  listEntities(options?: { queryOptions?: { filter?: string } }): AsyncIterable<WebEntityRecord>;
}

export class WebEncryptedTableClient {
  constructor(
    readonly table: WebTableClientLike,
    readonly policy: ClientSideEncryptionPolicy,
    readonly selection: WebPropertySelection = {},
  ) {}

  async createEntity(entity: WebEntityRecord): Promise<{ etag?: string; encryptedProperties: string[] }> {
    const e = await encryptWebEntity(entity, this.policy, this.selection);
    const r = await this.table.createEntity(e.entity);
    return { etag: r.etag, encryptedProperties: e.encryptedProperties };
  }

  /** Replace only: a merge would leave properties under another entity's content key. */
  async upsertEntity(entity: WebEntityRecord, mode: "Replace" | "Merge" = "Replace"): Promise<{ etag?: string; encryptedProperties: string[] }> {
    if (mode !== "Replace") throw new ClientSideEncryptionError("UNSUPPORTED_OPERATION", 'Encrypted entities are written whole: use mode "Replace" (a merge would mix content keys).');
    const e = await encryptWebEntity(entity, this.policy, this.selection);
    const r = await this.table.upsertEntity(e.entity, "Replace");
    return { etag: r.etag, encryptedProperties: e.encryptedProperties };
  }

  async getEntity<T extends WebEntityRecord = WebEntityRecord>(partitionKey: string, rowKey: string): Promise<T> {
    return decryptWebEntity((await this.table.getEntity(partitionKey, rowKey)) as T, this.policy);
  }

  async *listEntities<T extends WebEntityRecord = WebEntityRecord>(options: { queryOptions?: { filter?: string } } = {}): AsyncGenerator<T> {
    for await (const e of this.table.listEntities(options)) yield await decryptWebEntity(e as T, this.policy);
  }
}
