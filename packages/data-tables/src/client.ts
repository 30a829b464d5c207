// EncryptedTableClient: composes an @azure/data-tables TableClient and encrypts/decrypts entity
// properties in the legacy SDKs' format. Spec: queue-table-keys-format.md §2.
import {
  ClientSideEncryptionError,
  rewrapContentKey,
  toTypedError,
  type ClientSideEncryptionPolicy,
  type KeyEncryptionKey,
  type KeyOperationOptions,
  type ServiceErrorContext,
} from "@azure-cse/core-envelope";
import { decryptionFailed, isServiceFailure, nothingToRotate, statusCodeOf } from "@azure-cse/core-envelope/internal";
import type {
  CreateTableEntityResponse,
  DeleteTableEntityOptions,
  DeleteTableEntityResponse,
  GetTableEntityOptions,
  ListTableEntitiesOptions,
  TableClient,
  TableEntity,
  TableEntityQueryOptions,
  TableEntityResult,
  TableEntityResultPage,
  TableTransactionResponse,
  TransactionAction,
  UpdateEntityResponse,
  UpdateMode,
  UpdateTableEntityOptions,
  UpsertEntityResponse,
} from "@azure/data-tables";
import {
  checkPropertyList,
  checkResolver,
  decryptEntity,
  encryptEntity,
  entityKeys,
  openEntity,
  selectProperties,
  type EntityRecord,
  type PropertySelection,
} from "./entity-crypto.js";
import { copyRecord, fromSdkEntity, getOwn, installEntityNamesPolicy, marked, toSdkEntity } from "./entity-names.js";
import { METADATA1, METADATA2, stringValue } from "./format.js";
import { ENTITY_CHANGED_MESSAGE, MERGE_REFUSED_MESSAGE, storedEncryptedClash, storedEncryptedMergeMessage, tryEntityKeys } from "./shared/entity-format.js";
import { checkOptionsObject, describeValue, guardKek, guardPolicy, invalidArgument, quoteForDisplay as quote } from "@azure-cse/core-envelope/internal";

type OperationOptions = NonNullable<Parameters<TableClient["createEntity"]>[1]>;

/** Table-specific choices; the encryption policy itself is the shared ClientSideEncryptionPolicy. */
export interface EncryptedTableClientOptions extends PropertySelection {
  /** Called for every user property of every written entity; true encrypts it. OR-ed with the name lists. */
  encryptionResolver?: PropertySelection["encryptionResolver"];
  /** Property names encrypted whenever an entity has them (in addition to per-call lists). */
  encryptedProperties?: readonly string[];
}

/** Per-call additions to the client's selection. */
export interface EncryptedWriteOptions extends OperationOptions {
  /** Extra property names to encrypt in this call (OR-ed with the client's resolver and list). */
  encryptedProperties?: readonly string[];
}

export type EncryptedUpdateOptions = UpdateTableEntityOptions & EncryptedWriteOptions;

export interface UpdateKeyEncryptionKeyOptions extends OperationOptions {
  /** Wrap algorithm for the new key; default its defaultWrapAlgorithm. */
  keyWrapAlgorithm?: string;
}

export interface UpdateKeyEncryptionKeyResponse {
  /** ETag of the entity after the metadata update. */
  etag: string | undefined;
  /** Key id stored in `_ClientEncryptionMetadata1` before the rotation. */
  previousKeyId: string;
  /** Key id now stored in `_ClientEncryptionMetadata1`. */
  keyId: string;
  /** Algorithm of the new wrap. */
  keyWrapAlgorithm: string;
}

/** Iterates decrypted entities; `byPage()` yields decrypted pages with their continuation tokens. */
export interface EncryptedEntityIterator<T extends object> extends AsyncIterableIterator<TableEntityResult<T>> {
  byPage(settings?: { continuationToken?: string; maxPageSize?: number }): AsyncIterableIterator<TableEntityResultPage<T>>;
}

type AbortSignalOption = { readonly aborted: boolean } | undefined;

/**
 * Types a failure of a table service call with core's one mapping (as for blobs and queues): 404 → NOT_FOUND,
 * 412 and condition codes → CONDITION_NOT_MET (with this package's ETag message), other statuses and socket
 * failures → SERVICE_ERROR (`statusCode`, `errorCode`), an abort of the caller's signal → ABORTED; `context`
 * (table, partitionKey, rowKey) goes into details and the SDK's error is the cause. Our own errors pass unchanged.
 * On a read, a failure that is no service answer (@azure/data-tables throws a plain Error "Unknown EDM type ..."
 * for a damaged or hostile response) is SERVICE_ERROR "could not be read", so every read fails typed.
 */
function tableFailure(e: unknown, context: ServiceErrorContext, callerSignal: AbortSignalOption, read = false): ClientSideEncryptionError {
  if (ClientSideEncryptionError.is(e)) return e;
  if (read && !isServiceFailure(e)) {
    return new ClientSideEncryptionError("SERVICE_ERROR", "The table service response could not be read.", { cause: e, details: context });
  }
  const typed = toTypedError(e, context, { callerSignal });
  // Same typed conflict (and message) for every write, key rotation and transaction: the entity changed since the caller's ETag.
  return typed.code === "CONDITION_NOT_MET" ? conditionNotMet(e, typed.details) : typed;
}

/** A typed answer of HTTP 409 (e.g. EntityAlreadyExists), or a raw one. */
function isConflict(e: unknown): boolean {
  return statusCodeOf(e) === 409 || (ClientSideEncryptionError.hasCode(e, "SERVICE_ERROR") && e.details.statusCode === 409);
}

/**
 * The index of the failing action of a rejected transaction: the service prefixes its error message with it
 * ("1:The specified entity already exists."), which @azure/data-tables copies into the RestError's message.
 */
function failedActionIndex(e: unknown, count: number): number | undefined {
  const err = (typeof e === "object" && e !== null ? e : {}) as { index?: unknown; message?: unknown };
  const fromMessage = typeof err.message === "string" ? /^(\d{1,3}):/.exec(err.message)?.[1] : undefined;
  const i = typeof err.index === "number" ? err.index : fromMessage !== undefined ? Number(fromMessage) : undefined;
  return i !== undefined && Number.isSafeInteger(i) && i >= 0 && i < count ? i : undefined;
}

/** Equality of two Edm.Binary values as the SDK returns them (Uint8Array, or base64 text when untyped). */
function sameBinary(a: unknown, b: unknown): boolean {
  const bytes = (v: unknown): Buffer | undefined =>
    v instanceof Uint8Array ? Buffer.from(v) : typeof v === "string" ? Buffer.from(v, "base64") : undefined;
  const x = bytes(a);
  const y = bytes(b);
  return x !== undefined && y !== undefined && x.equals(y);
}

function conditionNotMet(cause: unknown, details: ClientSideEncryptionError["details"]): ClientSideEncryptionError {
  return new ClientSideEncryptionError("CONDITION_NOT_MET", ENTITY_CHANGED_MESSAGE, {
    details,
    ...(cause === undefined ? {} : { cause }),
  });
}


/** Adds what decryption needs to a projection; returns what was added so it can be removed from results. */
function withMetadataColumns(
  query: TableEntityQueryOptions | undefined,
  needKeys: boolean,
): { query: TableEntityQueryOptions | undefined; added: string[]; select: readonly string[] | undefined } {
  checkOptionsObject(query, "queryOptions");
  if (query?.filter !== undefined && typeof query.filter !== "string") throw invalidArgument(`queryOptions.filter must be an OData filter string; it is ${describeValue(query.filter)}.`);
  const select = query?.select === undefined ? undefined : checkPropertyList(query.select, "queryOptions.select");
  if (!select || select.length === 0 || select.includes("*")) return { query, added: [], select: undefined };
  const wanted = [METADATA1, METADATA2, ...(needKeys ? ["partitionKey", "rowKey"] : [])];
  const has = (n: string) => select.includes(n) || (n === "partitionKey" && select.includes("PartitionKey")) || (n === "rowKey" && select.includes("RowKey"));
  const added = wanted.filter((n) => !has(n));
  return { query: { ...query, select: [...select, ...added] }, added, select };
}

function stripAdded<T extends object>(entity: T, added: readonly string[]): T {
  if (added.length === 0) return entity;
  const out = copyRecord(entity) as Record<string, unknown>;
  for (const n of added) delete out[n];
  return out as T;
}

function splitWriteOptions<O extends EncryptedWriteOptions>(options: O | undefined): { extra: readonly string[]; rest: Omit<O, "encryptedProperties"> } {
  checkOptionsObject(options);
  const { encryptedProperties, ...rest } = options ?? ({} as O);
  return { extra: checkPropertyList(encryptedProperties, "options.encryptedProperties"), rest };
}

function checkKeys(partitionKey: unknown, rowKey: unknown): void {
  if (typeof partitionKey !== "string") throw invalidArgument(`partitionKey must be a string; it is ${describeValue(partitionKey)}.`);
  if (typeof rowKey !== "string") throw invalidArgument(`rowKey must be a string; it is ${describeValue(rowKey)}.`);
}

function checkMode(mode: unknown): UpdateMode {
  if (mode !== "Merge" && mode !== "Replace") throw invalidArgument(`mode must be "Merge" or "Replace"; it is ${typeof mode === "string" ? quote(mode, 40) : describeValue(mode)}.`);
  return mode;
}

/**
 * A TableClient wrapper that encrypts chosen string properties on insert/replace and decrypts on read,
 * in the format of the legacy .NET (WindowsAzure.Storage), Java (v8) and Python (azure-cosmosdb-table)
 * table SDKs. Tables only ever had protocol 1.0 (AES-256-CBC) in every SDK, so that is what is written,
 * whatever `encryptionVersion` the shared policy names.
 *
 * Service failures of its calls are typed by core's one mapping (as for blobs and queues): a missing table or
 * entity is `NOT_FOUND`, a refused ETag `CONDITION_NOT_MET`, other HTTP statuses and socket failures `SERVICE_ERROR`
 * (`details.statusCode`, `details.errorCode`), an abort of the caller's `abortSignal` `ABORTED`; `details` names the
 * table and the entity's keys (a rejected transaction: `failedActionIndex`), and the SDK's `RestError` is the `cause`.
 */
export class EncryptedTableClient {
  readonly #client: TableClient;
  readonly #policy: ClientSideEncryptionPolicy;
  readonly #selection: PropertySelection;

  constructor(tableClient: TableClient, policy: ClientSideEncryptionPolicy, options: EncryptedTableClientOptions = {}) {
    if (!tableClient || typeof tableClient.getEntity !== "function") {
      throw new ClientSideEncryptionError("INVALID_ARGUMENT", "EncryptedTableClient needs an @azure/data-tables TableClient.");
    }
    this.#policy = guardPolicy(policy);
    checkOptionsObject(options);
    this.#selection = {
      encryptionResolver: checkResolver(options.encryptionResolver, "options.encryptionResolver"),
      encryptedProperties: [...checkPropertyList(options.encryptedProperties, "options.encryptedProperties")],
    };
    this.#client = tableClient;
    installEntityNamesPolicy(tableClient);
  }

  /** The wrapped client (no encryption). */
  get tableClient(): TableClient {
    return this.#client;
  }

  get tableName(): string {
    return this.#client.tableName;
  }

  /** Error context: the table, and the entity's keys when known (never property values). */
  #ctx(keys?: { partitionKey?: unknown; rowKey?: unknown }): ServiceErrorContext {
    const c: ServiceErrorContext = { table: this.#client.tableName };
    if (typeof keys?.partitionKey === "string") c.partitionKey = keys.partitionKey;
    if (typeof keys?.rowKey === "string") c.rowKey = keys.rowKey;
    return c;
  }

  #entityCtx(entity: object): ServiceErrorContext {
    return this.#ctx(typeof entity === "object" && entity !== null ? tryEntityKeys(entity) : undefined);
  }

  /** One service call, its failure typed (tableFailure). */
  async #call<T>(context: ServiceErrorContext, fn: () => Promise<T>, callerSignal: AbortSignalOption, read = false): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw tableFailure(e, context, callerSignal, read);
    }
  }

  #selectionWith(extra: readonly string[]): PropertySelection {
    return { encryptionResolver: this.#selection.encryptionResolver, encryptedProperties: [...(this.#selection.encryptedProperties ?? []), ...extra] };
  }

  async #encrypt<T extends object>(entity: TableEntity<T>, extra: readonly string[], options: KeyOperationOptions): Promise<TableEntity<EntityRecord>> {
    const { entity: out } = await encryptEntity(entity as EntityRecord, this.#policy, this.#selectionWith(extra), { abortSignal: options.abortSignal });
    return toSdkEntity(out);
  }

  /** Inserts an entity with the selected properties encrypted (fresh content key and IV). */
  async createEntity<T extends object>(entity: TableEntity<T>, options?: EncryptedWriteOptions): Promise<CreateTableEntityResponse> {
    const { extra, rest } = splitWriteOptions(options);
    const encrypted = await this.#encrypt(entity, extra, rest);
    return this.#call(this.#entityCtx(entity), () => this.#client.createEntity(encrypted, rest), rest.abortSignal);
  }

  /**
   * Replace mode encrypts like createEntity. Merge mode (the SDK default) is refused with UNSUPPORTED_OPERATION
   * when any property would be encrypted; otherwise it is allowed only if the stored entity's encrypted
   * properties are untouched (checked by reading its metadata, then merging conditionally on that ETag).
   */
  async updateEntity<T extends object>(entity: TableEntity<T>, mode: UpdateMode = "Merge", options?: EncryptedUpdateOptions): Promise<UpdateEntityResponse> {
    checkMode(mode);
    const { extra, rest } = splitWriteOptions(options);
    if (mode === "Replace") {
      const encrypted = await this.#encrypt(entity, extra, rest);
      return this.#call(this.#entityCtx(entity), () => this.#client.updateEntity(encrypted, "Replace", rest), rest.abortSignal);
    }
    this.#assertMergeable(entity as EntityRecord, extra);
    const stored = await this.#storedForMerge(entity as EntityRecord, rest);
    if (!stored) {
      // Let the service report the missing entity exactly as a plain merge would (typed: NOT_FOUND).
      return this.#call(this.#entityCtx(entity), () => this.#client.updateEntity(toSdkEntity(entity), "Merge", rest), rest.abortSignal);
    }
    this.#checkCallerEtag(rest.etag, stored.etag, this.#entityCtx(entity));
    return this.#merge(entity, stored.etag, rest);
  }

  /**
   * Replace mode encrypts. Merge mode follows updateEntity's rule; when the entity does not exist yet it is
   * inserted with encryption metadata (so it stays readable under requireEncryption).
   */
  async upsertEntity<T extends object>(entity: TableEntity<T>, mode: UpdateMode = "Merge", options?: EncryptedWriteOptions): Promise<UpsertEntityResponse> {
    checkMode(mode);
    const { extra, rest } = splitWriteOptions(options);
    const context = this.#entityCtx(entity);
    if (mode === "Replace") {
      const encrypted = await this.#encrypt(entity, extra, rest);
      return this.#call(context, () => this.#client.upsertEntity(encrypted, "Replace", rest), rest.abortSignal);
    }
    this.#assertMergeable(entity as EntityRecord, extra);
    for (let attempt = 0; ; attempt++) {
      const stored = await this.#storedForMerge(entity as EntityRecord, rest);
      try {
        if (stored) return await this.#merge(entity, stored.etag, rest);
        const encrypted = await this.#encrypt(entity, extra, rest);
        return (await this.#call(context, () => this.#client.createEntity(encrypted, rest), rest.abortSignal)) as UpsertEntityResponse;
      } catch (e) {
        // Someone created or changed the entity in between: read again (bounded).
        const raced = (ClientSideEncryptionError.hasCode(e, "CONDITION_NOT_MET") && stored) || (isConflict(e) && !stored);
        if (!raced || attempt >= 2) throw e;
      }
    }
  }

  #assertMergeable(entity: EntityRecord, extra: readonly string[]): void {
    if (selectProperties(entity, this.#selectionWith(extra)).length > 0) {
      throw new ClientSideEncryptionError("UNSUPPORTED_OPERATION", MERGE_REFUSED_MESSAGE);
    }
  }

  #checkCallerEtag(callerEtag: string | undefined, storedEtag: string, context: ServiceErrorContext): void {
    if (callerEtag !== undefined && callerEtag !== "*" && callerEtag !== storedEtag) throw conditionNotMet(undefined, context);
  }

  /** Reads the stored metadata; refuses a merge that would overwrite an encrypted property with plaintext. */
  async #storedForMerge(entity: EntityRecord, options: OperationOptions): Promise<{ etag: string } | undefined> {
    const { partitionKey, rowKey } = entityKeys(entity);
    let stored: EntityRecord & { etag: string };
    try {
      stored = await this.#client.getEntity<EntityRecord>(partitionKey, rowKey, marked({ abortSignal: options.abortSignal, queryOptions: { select: [METADATA1, METADATA2] } }));
    } catch (e) {
      if (statusCodeOf(e) === 404) return undefined;
      throw tableFailure(e, this.#ctx({ partitionKey, rowKey }), options.abortSignal, true);
    }
    const m1 = getOwn(stored, METADATA1);
    const m2 = getOwn(stored, METADATA2);
    if (m1 !== undefined && m1 !== null && m2 !== undefined && m2 !== null) {
      const opened = await openEntity(m1, m2, partitionKey, rowKey, this.#policy, { abortSignal: options.abortSignal });
      opened.contentKey.fill(0);
      const clash = storedEncryptedClash(opened.names, entity);
      if (clash.length > 0) throw new ClientSideEncryptionError("UNSUPPORTED_OPERATION", storedEncryptedMergeMessage(clash, (n) => quote(n)));
    }
    return { etag: stored.etag };
  }

  async #merge<T extends object>(entity: TableEntity<T>, etag: string, options: OperationOptions): Promise<UpdateEntityResponse> {
    return this.#call(this.#entityCtx(entity), () => this.#client.updateEntity(toSdkEntity(entity), "Merge", { ...options, etag }), options.abortSignal);
  }

  /** Reads and decrypts one entity. A `select` projection gets both metadata columns added (and removed from the result). */
  async getEntity<T extends object = Record<string, unknown>>(partitionKey: string, rowKey: string, options: GetTableEntityOptions = {}): Promise<TableEntityResult<T>> {
    checkKeys(partitionKey, rowKey);
    checkOptionsObject(options);
    const { query, added, select } = withMetadataColumns(options.queryOptions, false);
    const stored = await this.#call(
      this.#ctx({ partitionKey, rowKey }),
      () => this.#client.getEntity<EntityRecord>(partitionKey, rowKey, marked({ ...options, queryOptions: query })),
      options.abortSignal,
      true,
    );
    const raw = fromSdkEntity(stored);
    const decrypted = await decryptEntity(raw, this.#policy, { typedValues: options.disableTypeConversion ?? false, partitionKey, rowKey, abortSignal: options.abortSignal, select });
    return stripAdded(decrypted, added) as unknown as TableEntityResult<T>;
  }

  /** Queries and decrypts entities (entities are decrypted one after another, one key unwrap each). */
  listEntities<T extends object = Record<string, unknown>>(options: ListTableEntitiesOptions = {}): EncryptedEntityIterator<T> {
    checkOptionsObject(options);
    const { query, added, select } = withMetadataColumns(options.queryOptions, true);
    const inner = this.#client.listEntities<EntityRecord>(marked({ ...options, queryOptions: query }));
    const policy = this.#policy;
    const context = this.#ctx();
    const reading = <R>(read: () => Promise<R>): Promise<R> => this.#call(context, read, options.abortSignal, true);
    const decryptOne = async (e: EntityRecord): Promise<TableEntityResult<T>> => {
      const entity = fromSdkEntity(e);
      // The keys were asked for (they enter every property IV): a listed entity without them is broken stored
      // data, not a caller error.
      const claimsEncryption = (getOwn(entity, METADATA1) ?? getOwn(entity, METADATA2) ?? null) !== null;
      if (claimsEncryption && (typeof getOwn(entity, "partitionKey") !== "string" || typeof getOwn(entity, "rowKey") !== "string")) throw decryptionFailed();
      const decrypted = await decryptEntity(entity, policy, { typedValues: options.disableTypeConversion ?? false, abortSignal: options.abortSignal, select });
      return stripAdded(decrypted, added) as unknown as TableEntityResult<T>;
    };
    const iterator: EncryptedEntityIterator<T> = {
      async next() {
        const r = await reading(() => inner.next());
        if (r.done) return { done: true, value: undefined };
        return { done: false, value: await decryptOne(r.value) };
      },
      [Symbol.asyncIterator]() {
        return this;
      },
      byPage(settings) {
        const pages = inner.byPage(settings);
        return (async function* () {
          for (;;) {
            const next = await reading(() => pages.next());
            if (next.done) return;
            const page = next.value;
            const out: TableEntityResult<T>[] = [];
            for (const e of page) out.push(await decryptOne(e));
            yield Object.assign(out, { continuationToken: page.continuationToken }) as TableEntityResultPage<T>;
          }
        })();
      },
    };
    return iterator;
  }

  /** Deletes an entity (no encryption involved). */
  async deleteEntity(partitionKey: string, rowKey: string, options?: DeleteTableEntityOptions): Promise<DeleteTableEntityResponse> {
    checkKeys(partitionKey, rowKey);
    checkOptionsObject(options);
    return this.#call(this.#ctx({ partitionKey, rowKey }), () => this.#client.deleteEntity(partitionKey, rowKey, options), options?.abortSignal);
  }

  /**
   * Submits a transaction. Every created/replaced entity is encrypted with its own content key and IV.
   * Merge actions follow updateEntity's rule (refused if anything would be encrypted; otherwise checked
   * against the stored metadata and made conditional on its ETag; a merge-upsert of a missing entity
   * becomes an encrypted insert).
   */
  async submitTransaction(actions: TransactionAction[], options?: EncryptedWriteOptions): Promise<TableTransactionResponse> {
    if (!Array.isArray(actions)) throw invalidArgument(`actions must be an array of transaction actions; it is ${describeValue(actions)}.`);
    const { extra, rest } = splitWriteOptions(options);
    const prepared: TransactionAction[] = [];
    for (const action of actions) {
      if (!Array.isArray(action) || !["create", "delete", "update", "upsert"].includes(action[0] as string) || typeof action[1] !== "object" || action[1] === null) {
        throw invalidArgument('Each transaction action must be ["create" | "delete" | "update" | "upsert", entity, mode?, options?].');
      }
      if (action[0] !== "create" && action[0] !== "delete") checkMode(action[2] ?? "Merge");
      const [kind, entity] = action;
      if (kind === "delete") {
        prepared.push(action);
      } else if (kind === "create") {
        prepared.push(["create", await this.#encrypt(entity, extra, rest)]);
      } else {
        const mode = action[2] ?? "Merge";
        const actionOptions = action[3];
        if (mode === "Replace") {
          prepared.push([kind, await this.#encrypt(entity, extra, rest), "Replace", actionOptions]);
          continue;
        }
        this.#assertMergeable(entity, extra);
        const stored = await this.#storedForMerge(entity, rest);
        if (stored) {
          this.#checkCallerEtag(actionOptions?.etag, stored.etag, this.#entityCtx(entity));
          prepared.push(["update", toSdkEntity(entity), "Merge", { ...actionOptions, etag: stored.etag }]);
        } else if (kind === "upsert") {
          prepared.push(["create", await this.#encrypt(entity, extra, rest)]);
        } else {
          prepared.push([kind, toSdkEntity(entity), mode, actionOptions] as TransactionAction);
        }
      }
    }
    const partitionKey = tryEntityKeys(actions[0]?.[1] ?? {})?.partitionKey;
    try {
      return await this.#client.submitTransaction(prepared, rest);
    } catch (e) {
      throw this.#transactionFailure(e, actions, partitionKey, rest.abortSignal);
    }
  }

  /**
   * A rejected transaction, typed like any call; when the service names the failing action, `details` carries its
   * `failedActionIndex` (into the caller's `actions`) and its rowKey. Nothing of a rejected transaction was applied.
   */
  #transactionFailure(e: unknown, actions: TransactionAction[], partitionKey: string | undefined, callerSignal: AbortSignalOption): ClientSideEncryptionError {
    const typed = tableFailure(e, this.#ctx({ partitionKey }), callerSignal);
    const index = typed === e ? undefined : failedActionIndex(e, actions.length);
    if (index === undefined) return typed;
    const rowKey = tryEntityKeys(actions[index]![1])?.rowKey;
    return new ClientSideEncryptionError(typed.code, `${typed.message} Action ${index} of the transaction failed; no action of it was applied.`, {
      cause: e,
      details: { ...typed.details, failedActionIndex: index, ...(rowKey !== undefined ? { rowKey } : {}) },
    });
  }

  /**
   * Rewraps an entity's content key with `newKek`: unwraps with the policy's keys, checks that the stored name
   * list decrypts, wraps with the new key and checks that the new key unwraps it back, then merges only
   * `_ClientEncryptionMetadata1`, conditional on the ETag read (or the `etag` given). Ciphertexts, the entity IV
   * and KeyWrappingMetadata stay as stored, so entities from every writer stay readable.
   */
  async updateKeyEncryptionKey(entity: { partitionKey: string; rowKey: string; etag?: string }, newKek: KeyEncryptionKey, options: UpdateKeyEncryptionKeyOptions = {}): Promise<UpdateKeyEncryptionKeyResponse> {
    const { partitionKey, rowKey } = entityKeys(entity as EntityRecord);
    guardKek(newKek, "newKek");
    checkOptionsObject(options);
    if (options.keyWrapAlgorithm !== undefined && (typeof options.keyWrapAlgorithm !== "string" || options.keyWrapAlgorithm.length === 0)) {
      throw invalidArgument(`options.keyWrapAlgorithm must be a non-empty string; it is ${describeValue(options.keyWrapAlgorithm)}.`);
    }
    const context = this.#ctx({ partitionKey, rowKey });
    const readMetadata = () =>
      this.#call(
        context,
        () => this.#client.getEntity<EntityRecord>(partitionKey, rowKey, marked({ abortSignal: options.abortSignal, queryOptions: { select: [METADATA1, METADATA2] } })),
        options.abortSignal,
        true,
      );
    const stored = await readMetadata();
    this.#checkCallerEtag(entity.etag, stored.etag, context);
    const m1 = stringValue(getOwn(stored, METADATA1));
    const m2 = getOwn(stored, METADATA2);
    if (m1 === undefined || m2 === undefined || m2 === null) {
      throw nothingToRotate(`Entity (${quote(partitionKey)}, ${quote(rowKey)})`, { partitionKey, rowKey });
    }
    // The rewritten metadata keeps the stored entity IV verbatim and CBC has no integrity: a bit flipped in
    // transit would be persisted and make every property unreadable. Decrypting the name list above catches
    // that only probabilistically, so the metadata is read a second time and must be identical (same ETag,
    // same text) before anything is written.
    const again = await readMetadata();
    if (again.etag !== stored.etag) throw conditionNotMet(undefined, context);
    if (stringValue(getOwn(again, METADATA1)) !== m1 || !sameBinary(getOwn(again, METADATA2), m2)) {
      throw new ClientSideEncryptionError("SERVICE_ERROR", "Two reads of the entity's encryption metadata disagree (corrupted in transit?); nothing was changed.", {
        details: { errorCode: "InconsistentRead", partitionKey, rowKey },
      });
    }
    const keyOptions: KeyOperationOptions = { abortSignal: options.abortSignal };
    const opened = await openEntity(m1, m2, partitionKey, rowKey, this.#policy, keyOptions);
    const cek = opened.contentKey;
    try {
      // Table metadata is always wrapped the 1.0 way (no protocol prefix), whatever the stored protocol says.
      const r = await rewrapContentKey(m1, "1.0", cek, newKek, { keyWrapAlgorithm: options.keyWrapAlgorithm, abortSignal: options.abortSignal, argumentName: "newKek", details: { partitionKey, rowKey } });
      const res = await this.#call(
        context,
        () => this.#client.updateEntity({ partitionKey, rowKey, [METADATA1]: r.encryptionDataJson }, "Merge", { etag: stored.etag, abortSignal: options.abortSignal }),
        options.abortSignal,
      );
      return { etag: res.etag, previousKeyId: r.previousKeyId, keyId: r.keyId, keyWrapAlgorithm: r.keyWrapAlgorithm };
    } finally {
      cek.fill(0);
    }
  }
}
