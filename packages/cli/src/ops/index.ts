// Operations engine (library): inventory, in-place migration to 2.x, bulk key rotation for blobs and
// table entities, all resumable through a state file and reported as JSON. The CLI commands in
// ../commands/ops.ts are thin wrappers around these functions.
import type { BlobItem, ContainerClient } from "@azure/storage-blob";
import type { TableClient } from "@azure/data-tables";
import { createLocalKeyResolver, V2_DEFAULT_REGION_SIZE, type EncryptionProtocol, type KeyEncryptionKey } from "@azure-cse/core-envelope";
import { blobPages, classifyForMigrate, classifyForRotate, migrateBlob, planBlob, quoteEtag, rotateBlob, verifyBlobs } from "./blob-ops.js";
import type { BlockSizeOptions } from "./blocks.js";
import { ProgressReporter } from "./progress.js";
import type { ObjectOutcome, OpsReport } from "./report.js";
import { materializeReport, type OpsRun } from "./report-stream.js";
import { runResumable, type ListedPage } from "./runner.js";
import { formatShard, shardOfEntity, shardOfName, type Shard } from "./shard.js";
import { RunState, type RunIdentity } from "./state.js";
import { classifyEntityForRotate, entityKey, entityPages, planEntity, rotateEntity, verifyTable, type RawEntity } from "./table-ops.js";

export { chooseBlockSize, reencryptedStoredUpperBound, MAX_BLOCKS_PER_BLOB, MAX_BLOCK_SIZE } from "./blocks.js";
export { scanBlobs, scanTable, formatScan, type ScanReport, type ScanBucket } from "./scan.js";
export { ProgressReporter, renderBar, renderLine, estimateRemainingMs, formatBytes, formatDuration, type ProgressMode, type ProgressSnapshot } from "./progress.js";
export { buildReport, exitCodeOf, exitCodeOfSummary, mergeSummaries, EXIT_LOCAL, FAILED_SAMPLE, type OpsReport, type ObjectOutcome, type RunSummary, type SkipReason, type VerifyResult } from "./report.js";
export { exitCodeOfRun, materializeReport, summaryReport, writeFileStreamed, writeFullReport, writeOutcomes, SORTED_REPORT_LIMIT, type OpsRun, type SummaryReport } from "./report-stream.js";
export { RunState, writeFileAtomic, STATE_FORMAT, type Checkpoint, type RunIdentity } from "./state.js";
export { BlobRunState, type BlobStateLocation, type BlobStateOptions } from "./blob-state.js";
export { parseShard, shardOfEntity, shardOfName, formatShard, type Shard } from "./shard.js";
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
  /** Only this worker's objects (stable hash of the name, or of PartitionKey + RowKey). */
  shard?: Shard;
  /**
   * Opens the state (default: RunState.open(stateFile) — a local file, or a temporary journal without one).
   * The CLI passes a state kept in blobs here (`--state`).
   */
  openState?: (identity: RunIdentity) => RunState | Promise<RunState>;
  /** Skip the concurrent planning listing that gives progress its totals (saves one listing of the scope). */
  noPlan?: boolean;
  /**
   * Grouped checkpoints of a state file: written at most this often (default 1000 ms), in-flight ETags stored
   * per listing page before its objects start; 0 rewrites the checkpoint after every object.
   */
  checkpointIntervalMs?: number;
  /** Protocols that may be read (decrypted); objects in others fail with UNSUPPORTED_PROTOCOL before a key is used. */
  allowedReadProtocols?: readonly EncryptionProtocol[];
}

function readAllowed(o: CommonRunOptions): { allowedReadProtocols?: readonly EncryptionProtocol[] } {
  return o.allowedReadProtocols ? { allowedReadProtocols: o.allowedReadProtocols } : {};
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
function planTotals<T>(pages: AsyncIterable<ListedPage<T>>, bytesOf: (item: T) => number | undefined, progress: ProgressReporter, select?: (item: T) => boolean): Promise<void> {
  return (async () => {
    let objects = 0;
    let bytes = 0;
    for await (const page of pages) {
      for (const item of page.items) {
        if (select && !select(item)) continue;
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
  select: ((item: T) => boolean) | undefined,
  workEtag?: (item: T) => string | undefined,
): Promise<OpsRun> {
  const startedAt = new Date().toISOString();
  const progress = o.progress ?? new ProgressReporter("none", () => undefined);
  const state = o.dryRun || !o.openState ? RunState.open(o.dryRun ? undefined : o.stateFile, identity, new Date(), o.checkpointIntervalMs ?? 1000) : await o.openState(identity);
  try {
    const previous = state.summary;
    if (previous.objects > 0) {
      progress.message(`resuming ${o.stateFile ?? "the state"}: ${previous.objects} objects already finished`);
      progress.preload(previous.objects, previous.plaintextBytes, previous.skipped, previous.failed);
    }
    const totals = o.noPlan ? Promise.resolve() : planTotals(pages(null), bytesOf, progress, select);
    let complete: boolean;
    try {
      ({ complete } = await runResumable<T>({
        pages,
        keyOf,
        step: o.dryRun ? async (item) => plan(item) : step,
        state,
        concurrency: o.concurrency ?? 4,
        progress,
        select,
        workEtag,
      }));
    } finally {
      // The planning listing runs alongside; never leave it running after this function settled.
      await totals;
    }
    progress.finish();
    return {
      base: {
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
      summary: state.summary,
      finishedAt: new Date().toISOString(),
      outcomes: () => state.stream(),
      close: () => state.close(),
    };
  } catch (e) {
    await state.close().catch(() => undefined);
    throw e;
  }
}

async function materialized(run: Promise<OpsRun>): Promise<OpsReport> {
  const r = await run;
  try {
    return await materializeReport(r);
  } finally {
    await r.close();
  }
}

async function closingOnError<R>(run: OpsRun, p: Promise<R>): Promise<R> {
  try {
    return await p;
  } catch (e) {
    await run.close().catch(() => undefined);
    throw e;
  }
}

function withShard(scope: Record<string, string | null>, shard: Shard | undefined): Record<string, string | null> {
  // Added only when sharded, so state files of unsharded runs keep their identity.
  return shard ? { ...scope, shard: formatShard(shard) } : scope;
}

/** Re-encrypts every 1.0 blob, and every 2.x blob under an offered old key, as 2.x under `newKey`, in place. */
export async function runMigrate(o: MigrateOptions): Promise<OpsReport> {
  return materialized(migrateRun(o));
}

/** runMigrate with the outcomes as a stream (any number of objects); the caller closes the run. */
export async function migrateRun(o: MigrateOptions): Promise<OpsRun> {
  const to = o.to ?? "2.0";
  const regionSize = to === "2.1" ? (o.regionSize ?? V2_DEFAULT_REGION_SIZE) : V2_DEFAULT_REGION_SIZE;
  const offered = uniqueKeys([...o.keys, o.newKey]);
  const offeredIds = new Set(offered.map((k) => k.keyId));
  const settings = {
    container: o.container,
    readPolicy: { keyResolver: createLocalKeyResolver(offered), ...readAllowed(o) },
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
    scope: withShard({ prefix: o.prefix ?? null }, o.shard),
    settings: { to, regionSize: to === "2.1" ? regionSize : null, newKeyId: o.newKey.keyId },
  };
  const scope = { container: o.container, prefix: o.prefix, pageSize: o.pageSize, includeTags: true };
  const classify = (item: BlobItem) => classifyForMigrate(item, o.newKey.keyId, offeredIds);
  return execute<BlobItem>(
    identity,
    o,
    (from) => blobPages(scope, from),
    (item) => item.name,
    (item) => (classify(item).action === "work" ? (item.properties.contentLength ?? 0) : 0),
    (item, ctx) => migrateBlob(item, settings, ctx),
    (item) => planBlob(item, classify(item)),
    blobSelector(o.shard),
    (item) => (classify(item).action === "work" ? quoteEtag(item.properties.etag) : undefined),
  );
}

export function blobSelector(shard: Shard | undefined): ((item: { name: string }) => boolean) | undefined {
  return shard && shard.count > 1 ? (item) => shardOfName(item.name, shard.count) === shard.index : undefined;
}

export function entitySelector(shard: Shard | undefined): ((e: { partitionKey: string; rowKey: string }) => boolean) | undefined {
  return shard && shard.count > 1 ? (e) => shardOfEntity(String(e.partitionKey), String(e.rowKey), shard.count) === shard.index : undefined;
}

function oldKeyIdsOf(oldKeys: readonly KeyEncryptionKey[], newKey: KeyEncryptionKey): Set<string> {
  const ids = new Set(oldKeys.map((k) => k.keyId));
  ids.delete(newKey.keyId);
  return ids;
}

/** Re-wraps the content keys of blobs under the old keys with `newKey` (metadata only). */
export async function runRotateBlobs(o: RotateBlobOptions): Promise<OpsReport> {
  return materialized(rotateBlobsRun(o));
}

/** runRotateBlobs with the outcomes as a stream; the caller closes the run. */
export async function rotateBlobsRun(o: RotateBlobOptions): Promise<OpsRun> {
  const oldIds = oldKeyIdsOf(o.oldKeys, o.newKey);
  const settings = { container: o.container, readPolicy: { keyResolver: createLocalKeyResolver(uniqueKeys(o.oldKeys)), ...readAllowed(o) }, newKey: o.newKey, oldKeyIds: oldIds };
  const identity: RunIdentity = {
    operation: "rotate-key",
    target: "blob",
    resource: withoutQuery(o.container.url),
    scope: withShard({ prefix: o.prefix ?? null }, o.shard),
    settings: { newKeyId: o.newKey.keyId },
  };
  const scope = { container: o.container, prefix: o.prefix, pageSize: o.pageSize };
  const classify = (item: BlobItem) => classifyForRotate(item, o.newKey.keyId, oldIds);
  const select = blobSelector(o.shard);
  const run = await execute<BlobItem>(
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
    select,
    (item) => (classify(item).action === "work" ? quoteEtag(item.properties.etag) : undefined),
  );
  if (o.verify && !o.dryRun) run.verify = await closingOnError(run, verifyBlobs(scope, o.newKey, oldIds, select, o.allowedReadProtocols));
  return run;
}

/** Re-wraps the content keys of table entities under the old keys with `newKey` (`_ClientEncryptionMetadata1` only). */
export async function runRotateTable(o: RotateTableOptions): Promise<OpsReport> {
  return materialized(rotateTableRun(o));
}

/** runRotateTable with the outcomes as a stream; the caller closes the run. */
export async function rotateTableRun(o: RotateTableOptions): Promise<OpsRun> {
  const oldIds = oldKeyIdsOf(o.oldKeys, o.newKey);
  const settings = { table: o.table, readPolicy: { keyResolver: createLocalKeyResolver(uniqueKeys(o.oldKeys)), ...readAllowed(o) }, newKey: o.newKey, oldKeyIds: oldIds };
  const identity: RunIdentity = {
    operation: "rotate-key",
    target: "table",
    resource: withoutQuery(o.table.url),
    scope: withShard({ partitionFrom: o.partitionFrom ?? null, partitionTo: o.partitionTo ?? null }, o.shard),
    settings: { newKeyId: o.newKey.keyId },
  };
  const scope = { table: o.table, partitionFrom: o.partitionFrom, partitionTo: o.partitionTo, pageSize: o.pageSize };
  const select = entitySelector(o.shard);
  const run = await execute<RawEntity>(
    identity,
    o,
    (from) => entityPages(scope, from, "metadata"),
    (e) => entityKey(e.partitionKey, e.rowKey),
    () => 0,
    (e, ctx) => rotateEntity(e, settings, ctx),
    (e) => planEntity(e, classifyEntityForRotate(e, o.newKey.keyId, oldIds)),
    select,
    (e) => (classifyEntityForRotate(e, o.newKey.keyId, oldIds).action === "work" ? e.etag : undefined),
  );
  if (o.verify && !o.dryRun) run.verify = await closingOnError(run, verifyTable(scope, o.newKey, oldIds, select, o.allowedReadProtocols));
  return run;
}
