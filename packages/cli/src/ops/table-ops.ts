// Table side of the operations engine: entity pages over a partition range, rotation of the content key
// wrap in `_ClientEncryptionMetadata1` only (through EncryptedTableClient.updateKeyEncryptionKey, which
// merges that one property If-Match the ETag), and verification with the new key alone.
import { odata, type TableClient, type TableEntityResultPage } from "@azure/data-tables";
import { parseEncryptionData, toTypedError, type ClientSideEncryptionPolicy, type EncryptionProtocol, type KeyEncryptionKey } from "@azure-cse/core-envelope";
import { decryptEntity, EncryptedTableClient, METADATA1, METADATA2 } from "@azure-cse/data-tables";
import type { ListedPage, StepContext } from "./runner.js";
import { emptyVerify, verifyNote, type ObjectOutcome, type SkipReason, type VerifyResult } from "./report.js";

export type RawEntity = Record<string, unknown> & { partitionKey: string; rowKey: string; etag: string };

export interface TableScope {
  table: TableClient;
  /** PartitionKey range [partitionFrom, partitionTo): disjoint ranges split the work across workers. */
  partitionFrom?: string;
  partitionTo?: string;
  pageSize?: number;
}

export function partitionFilter(scope: Pick<TableScope, "partitionFrom" | "partitionTo">): string | undefined {
  const parts: string[] = [];
  if (scope.partitionFrom !== undefined) parts.push(odata`PartitionKey ge ${scope.partitionFrom}`);
  if (scope.partitionTo !== undefined) parts.push(odata`PartitionKey lt ${scope.partitionTo}`);
  return parts.length ? parts.join(" and ") : undefined;
}

export function entityKey(pk: string, rk: string): string {
  return JSON.stringify([pk, rk]);
}

/** Entity pages; "metadata" selects only the keys and `_ClientEncryptionMetadata1` (rotation), "all" whole entities. */
export async function* entityPages(scope: TableScope, from: string | null, columns: "metadata" | "all"): AsyncGenerator<ListedPage<RawEntity>> {
  const filter = partitionFilter(scope);
  const select = columns === "metadata" ? ["PartitionKey", "RowKey", METADATA1] : undefined;
  const iter = scope.table
    .listEntities<Record<string, unknown>>({ queryOptions: { ...(filter ? { filter } : {}), ...(select ? { select } : {}) } })
    .byPage({ maxPageSize: scope.pageSize ?? 1000, continuationToken: from ?? undefined });
  let token = from;
  try {
    for await (const page of iter as AsyncIterable<TableEntityResultPage<Record<string, unknown>>>) {
      const next = page.continuationToken ? page.continuationToken : null;
      yield { token, next, items: [...page] as RawEntity[] };
      token = next;
    }
  } catch (e) {
    throw toTypedError(e, { table: scope.table.tableName });
  }
}

type Classified = { action: "work"; keyId: string } | { action: "skip"; reason: SkipReason; keyId?: string } | { action: "fail"; code: string; message: string };

export function classifyEntityForRotate(e: RawEntity, newKeyId: string, oldKeyIds: ReadonlySet<string>): Classified {
  const m1 = e[METADATA1];
  if (m1 === undefined || m1 === null) return { action: "skip", reason: "not-encrypted" };
  let keyId: string;
  try {
    if (typeof m1 !== "string") throw new Error("not a string");
    keyId = parseEncryptionData(m1).wrappedContentKey.keyId;
  } catch (err) {
    const t = toTypedError(err);
    return { action: "fail", code: t.code === "SERVICE_ERROR" ? "INVALID_ENCRYPTION_DATA" : t.code, message: `${METADATA1} is unreadable.` };
  }
  if (keyId === newKeyId) return { action: "skip", reason: "already-current", keyId };
  if (!oldKeyIds.has(keyId)) return { action: "skip", reason: "other-key", keyId };
  return { action: "work", keyId };
}

function base(e: RawEntity): Pick<ObjectOutcome, "key" | "partitionKey" | "rowKey"> {
  return { key: entityKey(e.partitionKey, e.rowKey), partitionKey: e.partitionKey, rowKey: e.rowKey };
}

function notWork(e: RawEntity, c: Exclude<Classified, { action: "work" }>, ctx: StepContext | undefined): ObjectOutcome {
  if (c.action === "fail") return { ...base(e), outcome: "failed", code: c.code, message: c.message };
  const state = c.keyId !== undefined ? { protocol: "1.0", keyId: c.keyId } : undefined;
  if (c.reason === "already-current" && ctx?.recoveredEtag !== undefined && ctx.recoveredEtag !== e.etag) {
    return { ...base(e), outcome: "rotated", to: state, recovered: true };
  }
  return { ...base(e), outcome: "skipped", reason: c.reason, ...(state ? { from: state } : {}) };
}

export function planEntity(e: RawEntity, c: Classified): ObjectOutcome {
  if (c.action === "work") return { ...base(e), outcome: "planned", from: { protocol: "1.0", keyId: c.keyId } };
  return notWork(e, c, undefined);
}

export interface TableRotateSettings {
  table: TableClient;
  readPolicy: ClientSideEncryptionPolicy;
  newKey: KeyEncryptionKey;
  oldKeyIds: ReadonlySet<string>;
  attempts?: number;
}

/** Re-wraps one entity's content key (only `_ClientEncryptionMetadata1` is merged, If-Match the ETag). */
export async function rotateEntity(entity: RawEntity, s: TableRotateSettings, ctx: StepContext): Promise<ObjectOutcome> {
  const client = new EncryptedTableClient(s.table, s.readPolicy);
  let current = entity;
  const attempts = s.attempts ?? 3;
  for (let attempt = 0; ; attempt++) {
    const c = classifyEntityForRotate(current, s.newKey.keyId, s.oldKeyIds);
    if (c.action !== "work") return notWork(current, c, ctx);
    const from = { protocol: "1.0", keyId: c.keyId };
    await ctx.markInFlight(current.etag);
    try {
      const r = await client.updateKeyEncryptionKey({ partitionKey: current.partitionKey, rowKey: current.rowKey, etag: current.etag }, s.newKey);
      return { ...base(current), outcome: "rotated", from, to: { protocol: "1.0", keyId: r.keyId } };
    } catch (e) {
      const err = toTypedError(e);
      if (err.code === "NOT_FOUND") return { ...base(current), outcome: "skipped", reason: "deleted", from };
      if (err.code !== "CONDITION_NOT_MET") return { ...base(current), outcome: "failed", code: err.code, message: err.message, from };
      if (attempt + 1 >= attempts) return { ...base(current), outcome: "skipped", reason: "changed", from };
    }
    try {
      current = (await s.table.getEntity<Record<string, unknown>>(current.partitionKey, current.rowKey, { queryOptions: { select: ["PartitionKey", "RowKey", METADATA1] } })) as RawEntity;
    } catch (e) {
      const err = toTypedError(e);
      if (err.code === "NOT_FOUND") return { ...base(current), outcome: "skipped", reason: "deleted", from };
      return { ...base(current), outcome: "failed", code: err.code, message: err.message, from };
    }
  }
}

/** Every encrypted entity in scope must decrypt with the new key alone, and none may name an old key id. */
export async function verifyTable(scope: TableScope, newKey: KeyEncryptionKey, oldKeyIds: ReadonlySet<string>, select?: (e: RawEntity) => boolean, allowedReadProtocols?: readonly EncryptionProtocol[]): Promise<VerifyResult> {
  const v = emptyVerify();
  const policy: ClientSideEncryptionPolicy = { keyEncryptionKey: newKey, ...(allowedReadProtocols ? { allowedReadProtocols } : {}) };
  for await (const page of entityPages(scope, null, "all")) {
    for (const e of page.items) {
      if (select && !select(e)) continue;
      const key = entityKey(e.partitionKey, e.rowKey);
      if ((e[METADATA1] === undefined || e[METADATA1] === null) && (e[METADATA2] === undefined || e[METADATA2] === null)) {
        v.unencrypted++;
        continue;
      }
      v.checked++;
      let keyId: string | undefined;
      try {
        keyId = parseEncryptionData(String(e[METADATA1])).wrappedContentKey.keyId;
        if (oldKeyIds.has(keyId)) {
          verifyNote(v, "stillOldKey", { key, keyId });
          continue;
        }
        await decryptEntity(e, policy);
        v.ok++;
      } catch (err) {
        verifyNote(v, "failed", { key, code: toTypedError(err).code, ...(keyId !== undefined ? { keyId } : {}) });
      }
    }
  }
  v.passed = v.stillOldKeyCount === 0 && v.failedCount === 0;
  return v;
}
