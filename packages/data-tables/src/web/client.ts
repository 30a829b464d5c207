// A thin wrapper over the official TableClient (browser or Node build): encrypts selected properties on write,
// decrypts on read. A merge (updateEntity/upsertEntity mode "Merge") is allowed under the Node client's rule: it may
// write no property the selection encrypts and touch none the stored entity has encrypted (checked against the
// stored metadata, then merged If-Match the ETag read); merge actions in transactions are refused. Key rotation rewrites only `_ClientEncryptionMetadata1`, conditional on the ETag read.
import {
  ClientSideEncryptionError,
  rewrapContentKey,
  toTypedError,
  type AbortSignalLike,
  type ServiceErrorContext,
  type ClientSideEncryptionPolicy,
  type KeyEncryptionKey,
} from "@azure-cse/core-envelope/web";
import {
  ENTITY_CHANGED_MESSAGE,
  METADATA1,
  METADATA2,
  MERGE_REFUSED_MESSAGE,
  getOwn,
  isDroppedOnWrite,
  isMetadataProperty,
  isPresent,
  storedEncryptedClash,
  storedEncryptedMergeMessage,
  stringValue,
  tryEntityKeys,
} from "../shared/entity-format.js";
import { decryptWebEntity, encryptWebEntity, openWebEntity, webSelectedProperties, type WebEntityRecord, type WebPropertySelection } from "./entity.js";

type Keyed = WebEntityRecord & { partitionKey: string; rowKey: string };

/** What the wrapper uses of `TableClient` from @azure/data-tables (the methods marked optional only by the calls that need them). */
export interface WebTableClientLike {
  createEntity(entity: Keyed): Promise<{ etag?: string }>;
  upsertEntity(entity: Keyed, mode?: "Merge" | "Replace"): Promise<{ etag?: string }>;
  getEntity(partitionKey: string, rowKey: string, options?: { queryOptions?: { select?: string[] }; abortSignal?: AbortSignalLike }): Promise<WebEntityRecord>;
  listEntities(options?: { queryOptions?: { filter?: string } }): AsyncIterable<WebEntityRecord>;
  /** Used by `updateEntity`, `upsertEntity` mode "Merge" and `updateKeyEncryptionKey`. */
  updateEntity?(entity: Keyed, mode?: "Merge" | "Replace", options?: { etag?: string; abortSignal?: AbortSignalLike }): Promise<{ etag?: string }>;
  /** Used by `deleteEntity`. */
  deleteEntity?(partitionKey: string, rowKey: string, options?: { etag?: string; abortSignal?: AbortSignalLike }): Promise<unknown>;
  /** Used by `submitTransaction`. */
  submitTransaction?(actions: WebTransactionAction[]): Promise<unknown>;
}

/** A transaction action as @azure/data-tables takes it: `["create" | "delete" | "update" | "upsert", entity, mode?, options?]`. */
export type WebTransactionAction =
  | ["create", Keyed]
  | ["delete", Keyed]
  | ["update" | "upsert", Keyed, ("Merge" | "Replace")?, { etag?: string }?];

export interface WebUpdateKeyEncryptionKeyOptions {
  /** Wrap algorithm for the new key; default its defaultWrapAlgorithm. */
  keyWrapAlgorithm?: string;
  abortSignal?: AbortSignalLike;
}

export interface WebUpdateKeyEncryptionKeyResult {
  /** ETag of the entity after the metadata update. */
  etag: string | undefined;
  /** Key id stored in `_ClientEncryptionMetadata1` before the rotation. */
  previousKeyId: string;
  /** Key id now stored. */
  keyId: string;
  keyWrapAlgorithm: string;
}

const invalid = (m: string) => new ClientSideEncryptionError("INVALID_ARGUMENT", m);
const mergeRefused = () => new ClientSideEncryptionError("UNSUPPORTED_OPERATION", MERGE_REFUSED_MESSAGE);
const wholeOnly = () => new ClientSideEncryptionError("UNSUPPORTED_OPERATION", 'Encrypted entities are written whole: use mode "Replace" (a merge would mix content keys).');
const conditionNotMet = (cause?: unknown, details?: ClientSideEncryptionError["details"]) =>
  new ClientSideEncryptionError("CONDITION_NOT_MET", ENTITY_CHANGED_MESSAGE, { ...(cause === undefined ? {} : { cause }), ...(details ? { details } : {}) });

/**
 * Runs a table request; failures become core's typed errors (the table and entity named, the caller's signal
 * decides ABORTED), a failed ETag condition with the Node client's CONDITION_NOT_MET message.
 */
async function tableCall<T>(table: WebTableClientLike, request: () => Promise<T>, context: ServiceErrorContext, signal?: AbortSignalLike): Promise<T> {
  try {
    return await request();
  } catch (e) {
    if (ClientSideEncryptionError.is(e)) throw e;
    const typed = toTypedError(e, { table: tableNameOf(table), ...context }, { callerSignal: signal });
    if (typed.code !== "CONDITION_NOT_MET") throw typed;
    throw conditionNotMet(e, typed.details);
  }
}

/** The table's name for error details (the official TableClient has `tableName`; "" for other clients). */
function tableNameOf(table: WebTableClientLike): string {
  const name = (table as { tableName?: unknown }).tableName;
  return typeof name === "string" ? name : "";
}

/** PartitionKey and RowKey for error details (never property values). */
function keysOf(entity: WebEntityRecord): ServiceErrorContext {
  const pk = getOwn(entity, "partitionKey");
  const rk = getOwn(entity, "rowKey");
  return { partitionKey: typeof pk === "string" ? pk : undefined, rowKey: typeof rk === "string" ? rk : undefined };
}

function checkKeys(partitionKey: unknown, rowKey: unknown): void {
  if (typeof partitionKey !== "string") throw invalid("partitionKey must be a string.");
  if (typeof rowKey !== "string") throw invalid("rowKey must be a string.");
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (!a || !b || a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

const asBytes = (v: unknown): Uint8Array | undefined => (v instanceof Uint8Array ? v : undefined);

/** A property name in a message: a JSON string literal, cut at 200 characters (the Node entry's display quoting for ordinary names). */
const quoteName = (n: string): string => JSON.stringify(n.length > 200 ? `${n.slice(0, 200)}…` : n);

/** How many times a merge-upsert reads again after a concurrent writer (as the Node client): 3 attempts in all. */
const MERGE_UPSERT_ATTEMPTS = 3;

function checkMode(mode: unknown): "Merge" | "Replace" {
  if (mode !== "Merge" && mode !== "Replace") throw invalid('mode must be "Merge" or "Replace".');
  return mode;
}

/** A typed HTTP 409 (e.g. EntityAlreadyExists): someone created the entity between the read and the insert. */
const isConflict = (e: unknown): boolean => ClientSideEncryptionError.hasCode(e, "SERVICE_ERROR") && e.details.statusCode === 409;

/**
 * What a merge sends: the keys and the caller's properties as given (etag, Timestamp and `odata.*` bookkeeping
 * dropped). The metadata names are reserved (INVALID_ARGUMENT), as on every web write.
 */
function mergeBody(entity: WebEntityRecord): Keyed {
  if (typeof entity !== "object" || entity === null || Array.isArray(entity)) throw invalid("The entity must be an object.");
  const keys = tryEntityKeys(entity);
  if (!keys) throw invalid("The entity needs string partitionKey and rowKey values.");
  const out = Object.create(null) as Keyed;
  out.partitionKey = keys.partitionKey;
  out.rowKey = keys.rowKey;
  for (const [name, value] of Object.entries(entity)) {
    if (isMetadataProperty(name)) throw invalid(`The property name ${quoteName(name)} is reserved for the encryption metadata.`);
    if (name === "__proto__") throw invalid('A property named "__proto__" cannot be written through the web entry (the SDK drops it); use the Node entry.');
    if (isDroppedOnWrite(name)) continue;
    out[name] = value;
  }
  return out;
}

export class WebEncryptedTableClient {
  constructor(
    readonly table: WebTableClientLike,
    readonly policy: ClientSideEncryptionPolicy,
    readonly selection: WebPropertySelection = {},
  ) {}

  #need(name: "updateEntity" | "deleteEntity" | "submitTransaction"): void {
    if (typeof this.table[name] !== "function") throw invalid(`The table client has no ${name} (pass the official TableClient).`);
  }

  async createEntity(entity: WebEntityRecord): Promise<{ etag?: string; encryptedProperties: string[] }> {
    const e = await encryptWebEntity(entity, this.policy, this.selection);
    const r = await tableCall(this.table, () => this.table.createEntity(e.entity), keysOf(e.entity));
    return { etag: r.etag, encryptedProperties: e.encryptedProperties };
  }

  /**
   * Replace mode (the default) encrypts like createEntity. Mode "Merge" follows updateEntity's rule; when the entity
   * does not exist yet it is inserted with encryption metadata (so it stays readable under requireEncryption). A
   * concurrent writer between the read and the write makes it read again (3 attempts in all, as the Node client),
   * then CONDITION_NOT_MET (or the insert's conflict).
   */
  async upsertEntity(entity: WebEntityRecord, mode: "Replace" | "Merge" = "Replace"): Promise<{ etag?: string; encryptedProperties: string[] }> {
    if (checkMode(mode) === "Merge") return this.#mergeUpsert(entity);
    const e = await encryptWebEntity(entity, this.policy, this.selection);
    const r = await tableCall(this.table, () => this.table.upsertEntity(e.entity, "Replace"), keysOf(e.entity));
    return { etag: r.etag, encryptedProperties: e.encryptedProperties };
  }

  /**
   * Replaces an existing entity, encrypted with a fresh content key and IV (like createEntity). With `etag` the write
   * is conditional: an entity changed since is CONDITION_NOT_MET.
   *
   * Mode "Merge" (the Node client's rule and messages): refused with UNSUPPORTED_OPERATION when any property would be
   * encrypted under the selection, or when it names a property the stored entity has encrypted (checked by reading
   * the stored metadata); otherwise merged If-Match the ETag read, so a concurrent writer is CONDITION_NOT_MET, as is
   * an `etag` that is not the stored one. A missing entity is NOT_FOUND. Nothing is encrypted
   * (`encryptedProperties` is empty).
   */
  async updateEntity(entity: WebEntityRecord, mode: "Replace" | "Merge" = "Replace", options: { etag?: string; abortSignal?: AbortSignalLike } = {}): Promise<{ etag?: string; encryptedProperties: string[] }> {
    checkMode(mode);
    if (typeof options !== "object" || options === null) throw invalid("options must be an object.");
    this.#need("updateEntity");
    if (mode === "Merge") return this.#mergeUpdate(entity, options);
    const e = await encryptWebEntity(entity, this.policy, this.selection, options.abortSignal ? { abortSignal: options.abortSignal } : {});
    const r = await tableCall(this.table, () => this.table.updateEntity!(e.entity, "Replace", options), keysOf(e.entity), options.abortSignal);
    return { etag: r.etag, encryptedProperties: e.encryptedProperties };
  }

  #context(keys: { partitionKey: string; rowKey: string }): ServiceErrorContext {
    return { table: tableNameOf(this.table), partitionKey: keys.partitionKey, rowKey: keys.rowKey };
  }

  /** The body of an allowed merge; UNSUPPORTED_OPERATION (MERGE_REFUSED_MESSAGE) if the selection would encrypt any of it. */
  #mergeable(entity: WebEntityRecord): Keyed {
    const body = mergeBody(entity);
    if (webSelectedProperties(body, this.selection).length > 0) throw mergeRefused();
    return body;
  }

  /** Reads the stored metadata (undefined: no such entity); refuses a merge that would overwrite a stored encrypted property with plaintext. */
  async #storedForMerge(body: Keyed, signal: AbortSignalLike | undefined): Promise<{ etag: string } | undefined> {
    const { partitionKey, rowKey } = body;
    let stored: WebEntityRecord;
    try {
      stored = await tableCall(this.table, () => this.table.getEntity(partitionKey, rowKey, { queryOptions: { select: [METADATA1, METADATA2] }, ...(signal ? { abortSignal: signal } : {}) }), { partitionKey, rowKey }, signal);
    } catch (e) {
      if (ClientSideEncryptionError.hasCode(e, "NOT_FOUND")) return undefined;
      throw e;
    }
    const etag = stringValue(getOwn(stored, "etag"));
    if (etag === undefined) throw new ClientSideEncryptionError("SERVICE_ERROR", "The entity was returned without an ETag, so it cannot be merged conditionally; nothing was changed.", { details: { partitionKey, rowKey } });
    const m1 = getOwn(stored, METADATA1);
    const m2 = getOwn(stored, METADATA2);
    if (isPresent(m1) && isPresent(m2)) {
      const opened = await openWebEntity(m1, m2, partitionKey, rowKey, this.policy, signal ? { abortSignal: signal } : {});
      opened.contentKey.fill(0);
      const clash = storedEncryptedClash(opened.names, body);
      if (clash.length > 0) throw new ClientSideEncryptionError("UNSUPPORTED_OPERATION", storedEncryptedMergeMessage(clash, quoteName));
    }
    return { etag };
  }

  async #mergeUpdate(entity: WebEntityRecord, options: { etag?: string; abortSignal?: AbortSignalLike }): Promise<{ etag?: string; encryptedProperties: string[] }> {
    const body = this.#mergeable(entity);
    const keys = { partitionKey: body.partitionKey, rowKey: body.rowKey };
    const stored = await this.#storedForMerge(body, options.abortSignal);
    // A missing entity: the service reports it as a plain merge would (NOT_FOUND).
    if (!stored) return { etag: (await tableCall(this.table, () => this.table.updateEntity!(body, "Merge", options), keys, options.abortSignal)).etag, encryptedProperties: [] };
    if (options.etag !== undefined && options.etag !== "*" && options.etag !== stored.etag) throw conditionNotMet(undefined, this.#context(keys));
    const r = await tableCall(this.table, () => this.table.updateEntity!(body, "Merge", { ...options, etag: stored.etag }), keys, options.abortSignal);
    return { etag: r.etag, encryptedProperties: [] };
  }

  async #mergeUpsert(entity: WebEntityRecord): Promise<{ etag?: string; encryptedProperties: string[] }> {
    this.#need("updateEntity");
    const body = this.#mergeable(entity);
    const keys = { partitionKey: body.partitionKey, rowKey: body.rowKey };
    for (let attempt = 1; ; attempt++) {
      const stored = await this.#storedForMerge(body, undefined);
      try {
        if (stored) return { etag: (await tableCall(this.table, () => this.table.updateEntity!(body, "Merge", { etag: stored.etag }), keys)).etag, encryptedProperties: [] };
        const e = await encryptWebEntity(entity, this.policy, this.selection);
        const r = await tableCall(this.table, () => this.table.createEntity(e.entity), keys);
        return { etag: r.etag, encryptedProperties: e.encryptedProperties };
      } catch (e) {
        // Someone created or changed the entity in between: read again (bounded).
        const raced = stored ? ClientSideEncryptionError.hasCode(e, "CONDITION_NOT_MET") : isConflict(e);
        if (!raced || attempt >= MERGE_UPSERT_ATTEMPTS) throw e;
      }
    }
  }

  /** Deletes an entity (no encryption involved); with `etag`, only that version (CONDITION_NOT_MET otherwise). */
  async deleteEntity(partitionKey: string, rowKey: string, options: { etag?: string; abortSignal?: AbortSignalLike } = {}): Promise<unknown> {
    checkKeys(partitionKey, rowKey);
    this.#need("deleteEntity");
    return tableCall(this.table, () => this.table.deleteEntity!(partitionKey, rowKey, options), { partitionKey, rowKey }, options.abortSignal);
  }

  async getEntity<T extends WebEntityRecord = WebEntityRecord>(partitionKey: string, rowKey: string): Promise<T> {
    return decryptWebEntity((await tableCall(this.table, () => this.table.getEntity(partitionKey, rowKey), { partitionKey, rowKey })) as T, this.policy);
  }

  async *listEntities<T extends WebEntityRecord = WebEntityRecord>(options: { queryOptions?: { filter?: string } } = {}): AsyncGenerator<T> {
    const pages = this.table.listEntities(options)[Symbol.asyncIterator]();
    for (;;) {
      const next = await tableCall(this.table, () => pages.next(), {});
      if (next.done) return;
      yield await decryptWebEntity(next.value as T, this.policy);
    }
  }

  /**
   * Submits a transaction (one partition, at most 100 actions). Every created entity, and every update/upsert in mode
   * "Replace", is encrypted with its own content key and IV; deletes pass through. A merge action (mode "Merge", the
   * SDK's default) is refused with UNSUPPORTED_OPERATION before anything is sent — with the Node client's message when
   * it would write a property the selection encrypts.
   */
  async submitTransaction(actions: WebTransactionAction[]): Promise<unknown> {
    if (!Array.isArray(actions)) throw invalid("actions must be an array of transaction actions.");
    this.#need("submitTransaction");
    const prepared: WebTransactionAction[] = [];
    for (const action of actions as unknown[]) {
      if (!Array.isArray(action) || !["create", "delete", "update", "upsert"].includes(action[0] as string) || typeof action[1] !== "object" || action[1] === null) {
        throw invalid('Each transaction action must be ["create" | "delete" | "update" | "upsert", entity, mode?, options?].');
      }
      const [kind, entity, mode, actionOptions] = action as [string, WebEntityRecord, unknown, { etag?: string } | undefined];
      if (kind === "delete") {
        prepared.push(action as WebTransactionAction);
        continue;
      }
      if (kind !== "create") {
        const m = mode ?? "Merge";
        if (m !== "Merge" && m !== "Replace") throw invalid('mode must be "Merge" or "Replace".');
        if (m === "Merge") throw webSelectedProperties(entity, this.selection).length > 0 ? mergeRefused() : wholeOnly();
      }
      const e = (await encryptWebEntity(entity, this.policy, this.selection)).entity;
      if (kind === "create") prepared.push(["create", e]);
      else if (actionOptions === undefined) prepared.push([kind as "update" | "upsert", e, "Replace"]);
      else prepared.push([kind as "update" | "upsert", e, "Replace", actionOptions]);
    }
    const first = prepared[0]?.[1];
    return tableCall(this.table, () => this.table.submitTransaction!(prepared), first ? { partitionKey: keysOf(first).partitionKey } : {});
  }

  /**
   * Re-wraps an entity's content key under `newKek` (the Node client's `updateKeyEncryptionKey`): unwraps with the
   * policy's keys, checks that the name list decrypts, reads the metadata a second time (it must be identical), wraps
   * with the new key and checks that it unwraps back (core's `rewrapContentKey`), then merges only
   * `_ClientEncryptionMetadata1`, If-Match the ETag read (or `entity.etag`): a concurrent writer yields
   * CONDITION_NOT_MET. Ciphertexts and the entity IV are not touched.
   */
  async updateKeyEncryptionKey(entity: { partitionKey: string; rowKey: string; etag?: string }, newKek: KeyEncryptionKey, options: WebUpdateKeyEncryptionKeyOptions = {}): Promise<WebUpdateKeyEncryptionKeyResult> {
    if (typeof entity !== "object" || entity === null) throw invalid("entity must be an object with partitionKey and rowKey.");
    const { partitionKey, rowKey } = entity;
    checkKeys(partitionKey, rowKey);
    if (typeof options !== "object" || options === null) throw invalid("options must be an object.");
    this.#need("updateEntity");
    const signal = options.abortSignal ? { abortSignal: options.abortSignal } : {};
    const read = async () => {
      const r = await tableCall(this.table, () => this.table.getEntity(partitionKey, rowKey, { queryOptions: { select: [METADATA1, METADATA2] }, ...signal }), { partitionKey, rowKey }, options.abortSignal);
      return { etag: stringValue(getOwn(r, "etag")), m1: stringValue(getOwn(r, METADATA1)), m2: getOwn(r, METADATA2) };
    };
    const stored = await read();
    if (stored.etag === undefined) throw new ClientSideEncryptionError("SERVICE_ERROR", "The entity was returned without an ETag, so it cannot be updated conditionally; nothing was changed.", { details: { partitionKey, rowKey } });
    if (entity.etag !== undefined && entity.etag !== "*" && entity.etag !== stored.etag) throw conditionNotMet();
    if (stored.m1 === undefined || !isPresent(stored.m2)) {
      throw new ClientSideEncryptionError("ENCRYPTION_REQUIRED", "The entity is not client-side encrypted: there is no content key to rotate.", { details: { partitionKey, rowKey } });
    }
    // The rewritten metadata keeps the stored entity IV verbatim and CBC has no integrity: the metadata is read a
    // second time and must be identical (same ETag, same text) before anything is written.
    const again = await read();
    if (again.etag !== stored.etag) throw conditionNotMet();
    if (again.m1 !== stored.m1 || !(again.m2 === stored.m2 || sameBytes(asBytes(again.m2), asBytes(stored.m2)))) {
      throw new ClientSideEncryptionError("SERVICE_ERROR", "Two reads of the entity's encryption metadata disagree (corrupted in transit?); nothing was changed.", {
        details: { errorCode: "InconsistentRead", partitionKey, rowKey },
      });
    }
    const opened = await openWebEntity(stored.m1, stored.m2, partitionKey, rowKey, this.policy, signal);
    try {
      // Table metadata is always wrapped the 1.0 way (no protocol prefix).
      const r = await rewrapContentKey(stored.m1, "1.0", opened.contentKey, newKek, {
        ...(options.keyWrapAlgorithm !== undefined ? { keyWrapAlgorithm: options.keyWrapAlgorithm } : {}),
        ...signal,
        argumentName: "newKek",
        details: { partitionKey, rowKey },
      });
      const res = await tableCall(this.table, () => this.table.updateEntity!({ partitionKey, rowKey, [METADATA1]: r.encryptionDataJson }, "Merge", { etag: stored.etag, ...signal }), { partitionKey, rowKey }, options.abortSignal);
      return { etag: res.etag, previousKeyId: r.previousKeyId, keyId: r.keyId, keyWrapAlgorithm: r.keyWrapAlgorithm };
    } finally {
      opened.contentKey.fill(0);
    }
  }
}
