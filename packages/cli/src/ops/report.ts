// Per-object outcomes and the final JSON report of migrate / rotate-key.
import { EXIT } from "../framework.js";

/** Why an object was left as it is. Stable strings: scripts depend on them. */
export type SkipReason =
  /** No client-side encryption metadata (nothing to migrate or rotate). */
  | "not-encrypted"
  /** Already in the target state (2.x under the new key; for rotation: wrapped by the new key). */
  | "already-current"
  /** Encrypted under a key that is neither offered with --key nor the new key. */
  | "other-key"
  /** The object changed while it was processed (ETag condition failed): it was not overwritten. */
  | "changed"
  /** The object was deleted while it was processed. */
  | "deleted"
  /** Page or append blob: only block blobs are re-encrypted in place. */
  | "not-block-blob"
  /** Archive tier: the content cannot be read or its metadata set until it is rehydrated. */
  | "archived";

export interface KeyState {
  protocol: string;
  keyId: string;
}

export interface ObjectOutcome {
  /** Blob name, or JSON `[PartitionKey, RowKey]` for an entity. */
  key: string;
  name?: string;
  partitionKey?: string;
  rowKey?: string;
  outcome: "migrated" | "rotated" | "planned" | "skipped" | "failed";
  reason?: SkipReason;
  /** Typed error code (ClientSideEncryptionError.code) of a failure. */
  code?: string;
  message?: string;
  from?: KeyState;
  to?: KeyState;
  /** Plaintext bytes (exact for 2.x; for 1.0 known after migration). */
  plaintextBytes?: number;
  /** Stored bytes before and after. */
  storedBytes?: number;
  newStoredBytes?: number;
  /** The write had committed when an earlier run was killed; this run found it done. */
  recovered?: boolean;
}

export interface VerifyResult {
  /** Objects checked (encrypted ones). */
  checked: number;
  /** Unwrapped with the new key only. */
  ok: number;
  /** Unencrypted objects (nothing to check). */
  unencrypted: number;
  /** Objects that still name an old key id (the first VERIFY_LIST_LIMIT; the number is stillOldKeyCount). */
  stillOldKey: Array<{ key: string; keyId: string }>;
  /** Objects the new key does not open (other key, unwrap failure, unreadable metadata); the first VERIFY_LIST_LIMIT. */
  failed: Array<{ key: string; code: string; keyId?: string }>;
  /** How many objects still name an old key / do not open (the lists stop at VERIFY_LIST_LIMIT). */
  stillOldKeyCount?: number;
  failedCount?: number;
  passed: boolean;
}

/** Objects named per list of a verify result at most (the counts cover all). */
export const VERIFY_LIST_LIMIT = 1000;

export function emptyVerify(): VerifyResult {
  return { checked: 0, ok: 0, unencrypted: 0, stillOldKey: [], failed: [], stillOldKeyCount: 0, failedCount: 0, passed: false };
}

/** Adds a still-old-key or a failed object to a verify result (bounded lists, exact counts). */
export function verifyNote(v: VerifyResult, kind: "stillOldKey", entry: { key: string; keyId: string }): void;
export function verifyNote(v: VerifyResult, kind: "failed", entry: { key: string; code: string; keyId?: string }): void;
export function verifyNote(v: VerifyResult, kind: "stillOldKey" | "failed", entry: { key: string; code?: string; keyId?: string }): void {
  if (kind === "stillOldKey") {
    v.stillOldKeyCount = (v.stillOldKeyCount ?? 0) + 1;
    if (v.stillOldKey.length < VERIFY_LIST_LIMIT) v.stillOldKey.push(entry as { key: string; keyId: string });
  } else {
    v.failedCount = (v.failedCount ?? 0) + 1;
    if (v.failed.length < VERIFY_LIST_LIMIT) v.failed.push(entry as { key: string; code: string; keyId?: string });
  }
}

export interface OpsReport {
  operation: "migrate" | "rotate-key";
  target: "blob" | "table";
  resource: string;
  scope: Record<string, string | null>;
  settings: Record<string, string | number | null>;
  dryRun: boolean;
  stateFile: string | null;
  runs: number;
  /** Every listed object was finished (false when stopped early). */
  complete: boolean;
  startedAt: string;
  finishedAt: string;
  totals: {
    objects: number;
    done: number;
    planned: number;
    skipped: number;
    failed: number;
    plaintextBytes: number;
    storedBytesBefore: number;
    storedBytesAfter: number;
  };
  skippedByReason: Partial<Record<SkipReason, number>>;
  failedByCode: Record<string, number>;
  /** "migrated" for migrate, "rotated" for rotate-key. */
  migrated?: ObjectOutcome[];
  rotated?: ObjectOutcome[];
  planned?: ObjectOutcome[];
  skipped: ObjectOutcome[];
  failed: ObjectOutcome[];
  verify?: VerifyResult;
}

function strip(o: ObjectOutcome): ObjectOutcome {
  const { key: _key, outcome: _outcome, ...rest } = o;
  const out = { ...rest } as ObjectOutcome;
  if (o.name === undefined) out.key = o.key;
  return out;
}

export function buildReport(
  base: Pick<OpsReport, "operation" | "target" | "resource" | "scope" | "settings" | "dryRun" | "stateFile" | "runs" | "complete" | "startedAt">,
  outcomes: readonly ObjectOutcome[],
  now = new Date(),
): OpsReport {
  const sorted = [...outcomes].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const doneKind = base.operation === "migrate" ? "migrated" : "rotated";
  const done = sorted.filter((o) => o.outcome === doneKind);
  const planned = sorted.filter((o) => o.outcome === "planned");
  const skipped = sorted.filter((o) => o.outcome === "skipped");
  const failed = sorted.filter((o) => o.outcome === "failed");
  const skippedByReason: OpsReport["skippedByReason"] = {};
  for (const s of skipped) if (s.reason) skippedByReason[s.reason] = (skippedByReason[s.reason] ?? 0) + 1;
  const failedByCode: Record<string, number> = {};
  for (const f of failed) failedByCode[f.code ?? "UNKNOWN"] = (failedByCode[f.code ?? "UNKNOWN"] ?? 0) + 1;
  const work = [...done, ...planned];
  const report: OpsReport = {
    ...base,
    finishedAt: now.toISOString(),
    totals: {
      objects: sorted.length,
      done: done.length,
      planned: planned.length,
      skipped: skipped.length,
      failed: failed.length,
      plaintextBytes: work.reduce((n, o) => n + (o.plaintextBytes ?? 0), 0),
      storedBytesBefore: work.reduce((n, o) => n + (o.storedBytes ?? 0), 0),
      storedBytesAfter: done.reduce((n, o) => n + (o.newStoredBytes ?? o.storedBytes ?? 0), 0),
    },
    skippedByReason,
    failedByCode,
    skipped: skipped.map(strip),
    failed: failed.map(strip),
  };
  if (base.dryRun) report.planned = planned.map(strip);
  else report[doneKind] = done.map(strip);
  return report;
}

/** Running totals of a run (kept in the checkpoint, so they cover every run of a state without reading the journal). */
export interface RunSummary {
  objects: number;
  done: number;
  planned: number;
  skipped: number;
  failed: number;
  plaintextBytes: number;
  storedBytesBefore: number;
  storedBytesAfter: number;
  skippedByReason: Partial<Record<SkipReason, number>>;
  failedByCode: Record<string, number>;
  /** The first failures (at most FAILED_SAMPLE), so a bounded summary still names some. */
  failedSample: ObjectOutcome[];
}

/** Failures named in a summary report at most (every failure is in the outcomes stream). */
export const FAILED_SAMPLE = 20;

export function emptySummary(): RunSummary {
  return { objects: 0, done: 0, planned: 0, skipped: 0, failed: 0, plaintextBytes: 0, storedBytesBefore: 0, storedBytesAfter: 0, skippedByReason: {}, failedByCode: {}, failedSample: [] };
}

/** Adds one outcome to the totals, with the same rules as buildReport. */
export function addToSummary(s: RunSummary, o: ObjectOutcome, operation: OpsReport["operation"]): void {
  const doneKind = operation === "migrate" ? "migrated" : "rotated";
  s.objects++;
  if (o.outcome === doneKind) {
    s.done++;
    s.plaintextBytes += o.plaintextBytes ?? 0;
    s.storedBytesBefore += o.storedBytes ?? 0;
    s.storedBytesAfter += o.newStoredBytes ?? o.storedBytes ?? 0;
  } else if (o.outcome === "planned") {
    s.planned++;
    s.plaintextBytes += o.plaintextBytes ?? 0;
    s.storedBytesBefore += o.storedBytes ?? 0;
  } else if (o.outcome === "skipped") {
    s.skipped++;
    if (o.reason) s.skippedByReason[o.reason] = (s.skippedByReason[o.reason] ?? 0) + 1;
  } else if (o.outcome === "failed") {
    s.failed++;
    const code = o.code ?? "UNKNOWN";
    s.failedByCode[code] = (s.failedByCode[code] ?? 0) + 1;
    if (s.failedSample.length < FAILED_SAMPLE) s.failedSample.push(strip(o));
  }
}

/** Sums summaries (shards of one operation). */
export function mergeSummaries(parts: readonly RunSummary[]): RunSummary {
  const out = emptySummary();
  for (const p of parts) {
    for (const k of ["objects", "done", "planned", "skipped", "failed", "plaintextBytes", "storedBytesBefore", "storedBytesAfter"] as const) out[k] += p[k] ?? 0;
    for (const [r, n] of Object.entries(p.skippedByReason ?? {})) out.skippedByReason[r as SkipReason] = (out.skippedByReason[r as SkipReason] ?? 0) + (n ?? 0);
    for (const [c, n] of Object.entries(p.failedByCode ?? {})) out.failedByCode[c] = (out.failedByCode[c] ?? 0) + n;
    for (const f of p.failedSample ?? []) if (out.failedSample.length < FAILED_SAMPLE) out.failedSample.push(f);
  }
  return out;
}

/** Exit code 5: a limit or I/O failure of this machine (disk full, out of memory, file limits), not of the service. */
export const EXIT_LOCAL = 5;

const CRYPTO_FIRST = ["DECRYPTION_FAILED", "KEY_NOT_FOUND", "KID_MISMATCH", "INVALID_ENCRYPTION_DATA", "UNSUPPORTED_PROTOCOL", "REGION_OUT_OF_ORDER"];

/**
 * Exit code of a finished run: 0 when nothing failed (skips are reported, not errors); otherwise
 * 2 when any failure is an encryption/decryption/key failure or --verify failed, 3 for not-found only,
 * 4 for storage/service failures.
 */
export function exitCodeOf(report: OpsReport): number {
  return exitCodeOfCodes(new Set(report.failed.map((f) => f.code ?? "")), report.verify);
}

/** exitCodeOf from the failure counts by code (a summary) instead of the list of failures. */
export function exitCodeOfSummary(failedByCode: Record<string, number>, verify?: Pick<VerifyResult, "passed">): number {
  return exitCodeOfCodes(new Set(Object.entries(failedByCode).filter(([, n]) => n > 0).map(([c]) => (c === "UNKNOWN" ? "" : c))), verify);
}

function exitCodeOfCodes(codes: Set<string>, verify: Pick<VerifyResult, "passed"> | undefined): number {
  if (verify && !verify.passed) return EXIT.crypto;
  if (codes.size === 0) return EXIT.ok;
  if ([...codes].some((c) => CRYPTO_FIRST.includes(c) || c === "KEY_OPERATION_FAILED" || c === "ENCRYPTION_REQUIRED" || c === "PAYLOAD_TOO_LARGE")) return EXIT.crypto;
  if ([...codes].every((c) => c === "NOT_FOUND")) return EXIT.notFound;
  return EXIT.service;
}
