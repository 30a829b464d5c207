// Operations engine (library): inventory, in-place migration to 2.x, bulk key rotation for blobs and
// table entities, all resumable through a state file and reported as JSON. The CLI commands in
// ../commands/ops.ts are thin wrappers around these functions.
import type { BlobItem, ContainerClient } from "@azure/storage-blob";
import type { TableClient } from "@azure/data-tables";
import { createLocalKeyResolver, V2_DEFAULT_REGION_SIZE, type KeyEncryptionKey } from "@azure-cse/core-envelope";
import { blobPages, classifyForMigrate, classifyForRotate, migrateBlob, planBlob, rotateBlob, verifyBlobs } from "./blob-ops.js";
import type { BlockSizeOptions } from "./blocks.js";
import { ProgressReporter } from "./progress.js";
import { buildReport, type ObjectOutcome, type OpsReport } from "./report.js";
import { runResumable, type ListedPage } from "./runner.js";
import { RunState, type RunIdentity } from "./state.js";
import { classifyEntityForRotate, entityKey, entityPages, planEntity, rotateEntity, verifyTable, type RawEntity } from "./table-ops.js";

export { chooseBlockSize, reencryptedStoredUpperBound, MAX_BLOCKS_PER_BLOB, MAX_BLOCK_SIZE } from "./blocks.js";
export { scanBlobs, scanTable, formatScan, type ScanReport, type ScanBucket } from "./scan.js";
export { ProgressReporter, renderBar, renderLine, estimateRemainingMs, formatBytes, formatDuration, type ProgressMode, type ProgressSnapshot } from "./progress.js";
export { buildReport, exitCodeOf, type OpsReport, type ObjectOutcome, type SkipReason, type VerifyResult } from "./report.js";
export { RunState, writeFileAtomic, STATE_FORMAT, type Checkpoint, type RunIdentity } from "./state.js";
export { runResumable, type ListedPage, type StepContext } from "./runner.js";

interface CommonRunOptions {
  /** Objects processed in parallel; default 4. */
  concurrency?: number;
  /** Resumable state file (created when missing, continued when present). */
  stateFile?: string;
  /** Only list and classify; nothing is written (no state file either). */
  dryRun?: boolean;
  progress?: ProgressReporter;
  /** Listing page size; default 1000. */
  pageSize?: number;
}

export interface MigrateOptions extends CommonRunOptions {
  container: ContainerClient;
  prefix?: string;
  /** Keys offered to unwrap the existing content keys (old keys). */
  keys: readonly KeyEncryptionKey[];
  /** Key that wraps the new content keys. */
  newKey: KeyEncryptionKey;
  to?: "2.0" | "2.1";
  /** Region size for "2.1" (default 4 MiB). */
  regionSize?: number;
  /** Blocks staged in parallel per blob; default 2. */
  blockConcurrency?: number;
  blockSize?: BlockSizeOptions;
}

export interface RotateBlobOptions extends CommonRunOptions {
  container: ContainerClient;
  prefix?: string;
  oldKeys: readonly KeyEncryptionKey[];
  newKey: KeyEncryptionKey;
  verify?: boolean;
}

export interface RotateTableOptions extends CommonRunOptions {
  table: TableClient;
  partitionFrom?: string;
  partitionTo?: string;
  oldKeys: readonly KeyEncryptionKey[];
  newKey: KeyEncryptionKey;
  verify?: boolean;
}

function withoutQuery(url: string): string {
  const u = new URL(url);
  u.search = "";
  return u.toString();
}

function uniqueKeys(keys: readonly KeyEncryptionKey[]): KeyEncryptionKey[] {
  const seen = new Map<string, KeyEncryptionKey>();
  for (const k of keys) if (!seen.has(k.keyId)) seen.set(k.keyId, k);
  return [...seen.values()];
}

/** Counts what a run will visit (objects) and move (bytes of selected objects), concurrently with the run. */
function planTotals<T>(pages: AsyncIterable<ListedPage<T>>, bytesOf: (item: T) => number | undefined, progress: ProgressReporter): Promise<void> {
  return (async () => {
    let objects = 0;
    let bytes = 0;
    for await (const page of pages) {
      for (const item of page.items) {
        objects++;
        bytes += bytesOf(item) ?? 0;
      }
    }
    progress.setTotals(objects, bytes);
  })().catch(() => undefined);
}

async function execute<T>(
  identity: RunIdentity,
  o: CommonRunOptions,
  pages: (from: string | null) => AsyncIterable<ListedPage<T>>,
  keyOf: (item: T) => string,
  bytesOf: (item: T) => number | undefined,
  step: (item: T, ctx: Parameters<Parameters<typeof runResumable<T>>[0]["step"]>[1]) => Promise<ObjectOutcome>,
  plan: (item: T) => ObjectOutcome,
): Promise<OpsReport> {
  const startedAt = new Date().toISOString();
  const progress = o.progress ?? new ProgressReporter("none", () => undefined);
  const state = RunState.open(o.dryRun ? undefined : o.stateFile, identity);
  const previous = state.outcomes();
  if (previous.length > 0) {
    const bytes = previous.reduce((n, p) => n + (p.outcome === "migrated" || p.outcome === "rotated" ? (p.plaintextBytes ?? 0) : 0), 0);
    progress.message(`resuming ${o.stateFile}: ${previous.length} objects already finished`);
    progress.preload(previous.length, bytes, previous.filter((p) => p.outcome === "skipped").length, previous.filter((p) => p.outcome === "failed").length);
  }
  const totals = planTotals(pages(null), bytesOf, progress);
  let complete: boolean;
  try {
    ({ complete } = await runResumable<T>({
      pages,
      keyOf,
      step: o.dryRun ? async (item) => plan(item) : step,
      state,
      concurrency: o.concurrency ?? 4,
      progress,
    }));
  } finally {
    // The planning listing runs alongside; never leave it running after this function settled.
    await totals;
  }
  progress.finish();
  return buildReport(
    {
      operation: identity.operation,
      target: identity.target,
      resource: identity.resource,
      scope: identity.scope,
      settings: identity.settings,
      dryRun: o.dryRun ?? false,
      stateFile: o.dryRun ? null : (o.stateFile ?? null),
      runs: state.checkpoint.runs,
      complete,
      startedAt,
    },
    state.outcomes(),
  );
}

/** Re-encrypts every 1.0 blob, and every 2.x blob under an offered old key, as 2.x under `newKey`, in place. */
export async function runMigrate(o: MigrateOptions): Promise<OpsReport> {
  const to = o.to ?? "2.0";
  const regionSize = to === "2.1" ? (o.regionSize ?? V2_DEFAULT_REGION_SIZE) : V2_DEFAULT_REGION_SIZE;
  const offered = uniqueKeys([...o.keys, o.newKey]);
  const offeredIds = new Set(offered.map((k) => k.keyId));
  const settings = {
    container: o.container,
    readPolicy: { keyResolver: createLocalKeyResolver(offered) },
    writePolicy: { keyEncryptionKey: o.newKey, encryptionVersion: to, ...(to === "2.1" ? { regionSize } : {}) },
    newKeyId: o.newKey.keyId,
    offeredKeyIds: offeredIds,
    regionSize,
    blockConcurrency: o.blockConcurrency,
    blockSize: o.blockSize,
  } as const;
  const identity: RunIdentity = {
    operation: "migrate",
    target: "blob",
    resource: withoutQuery(o.container.url),
    scope: { prefix: o.prefix ?? null },
    settings: { to, regionSize: to === "2.1" ? regionSize : null, newKeyId: o.newKey.keyId },
  };
  const scope = { container: o.container, prefix: o.prefix, pageSize: o.pageSize };
  const classify = (item: BlobItem) => classifyForMigrate(item, o.newKey.keyId, offeredIds);
  return execute<BlobItem>(
    identity,
    o,
    (from) => blobPages(scope, from),
    (item) => item.name,
    (item) => (classify(item).action === "work" ? (item.properties.contentLength ?? 0) : 0),
    (item, ctx) => migrateBlob(item, settings, ctx),
    (item) => planBlob(item, classify(item)),
  );
}

function oldKeyIdsOf(oldKeys: readonly KeyEncryptionKey[], newKey: KeyEncryptionKey): Set<string> {
  const ids = new Set(oldKeys.map((k) => k.keyId));
  ids.delete(newKey.keyId);
  return ids;
}

/** Re-wraps the content keys of blobs under the old keys with `newKey` (metadata only). */
export async function runRotateBlobs(o: RotateBlobOptions): Promise<OpsReport> {
  const oldIds = oldKeyIdsOf(o.oldKeys, o.newKey);
  const settings = { container: o.container, readPolicy: { keyResolver: createLocalKeyResolver(uniqueKeys(o.oldKeys)) }, newKey: o.newKey, oldKeyIds: oldIds };
  const identity: RunIdentity = {
    operation: "rotate-key",
    target: "blob",
    resource: withoutQuery(o.container.url),
    scope: { prefix: o.prefix ?? null },
    settings: { newKeyId: o.newKey.keyId },
  };
  const scope = { container: o.container, prefix: o.prefix, pageSize: o.pageSize };
  const classify = (item: BlobItem) => classifyForRotate(item, o.newKey.keyId, oldIds);
  const report = await execute<BlobItem>(
    identity,
    o,
    (from) => blobPages(scope, from),
    (item) => item.name,
    () => 0,
    (item, ctx) => rotateBlob(item, settings, ctx),
    (item) => {
      const c = classify(item);
      const p = planBlob(item, c);
      if (p.outcome === "planned") delete p.plaintextBytes;
      return p;
    },
  );
  if (o.verify && !o.dryRun) report.verify = await verifyBlobs(scope, o.newKey, oldIds);
  return report;
}

/** Re-wraps the content keys of table entities under the old keys with `newKey` (`_ClientEncryptionMetadata1` only). */
export async function runRotateTable(o: RotateTableOptions): Promise<OpsReport> {
  const oldIds = oldKeyIdsOf(o.oldKeys, o.newKey);
  const settings = { table: o.table, readPolicy: { keyResolver: createLocalKeyResolver(uniqueKeys(o.oldKeys)) }, newKey: o.newKey, oldKeyIds: oldIds };
  const identity: RunIdentity = {
    operation: "rotate-key",
    target: "table",
    resource: withoutQuery(o.table.url),
    scope: { partitionFrom: o.partitionFrom ?? null, partitionTo: o.partitionTo ?? null },
    settings: { newKeyId: o.newKey.keyId },
  };
  const scope = { table: o.table, partitionFrom: o.partitionFrom, partitionTo: o.partitionTo, pageSize: o.pageSize };
  const report = await execute<RawEntity>(
    identity,
    o,
    (from) => entityPages(scope, from, "metadata"),
    (e) => entityKey(e.partitionKey, e.rowKey),
    () => 0,
    (e, ctx) => rotateEntity(e, settings, ctx),
    (e) => planEntity(e, classifyEntityForRotate(e, o.newKey.keyId, oldIds)),
  );
  if (o.verify && !o.dryRun) report.verify = await verifyTable(scope, o.newKey, oldIds);
  return report;
}
