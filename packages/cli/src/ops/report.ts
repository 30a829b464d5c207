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
  /** Objects that still name an old key id. */
  stillOldKey: Array<{ key: string; keyId: string }>;
  /** Objects the new key does not open (other key, unwrap failure, unreadable metadata). */
  failed: Array<{ key: string; code: string; keyId?: string }>;
  passed: boolean;
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

const CRYPTO_FIRST = ["DECRYPTION_FAILED", "KEY_NOT_FOUND", "KID_MISMATCH", "INVALID_ENCRYPTION_DATA", "UNSUPPORTED_PROTOCOL", "REGION_OUT_OF_ORDER"];

/**
 * Exit code of a finished run: 0 when nothing failed (skips are reported, not errors); otherwise
 * 2 when any failure is an encryption/decryption/key failure or --verify failed, 3 for not-found only,
 * 4 for storage/service failures.
 */
export function exitCodeOf(report: OpsReport): number {
  if (report.verify && !report.verify.passed) return EXIT.crypto;
  if (report.failed.length === 0) return EXIT.ok;
  const codes = new Set(report.failed.map((f) => f.code ?? ""));
  if ([...codes].some((c) => CRYPTO_FIRST.includes(c) || c === "KEY_OPERATION_FAILED" || c === "ENCRYPTION_REQUIRED" || c === "PAYLOAD_TOO_LARGE")) return EXIT.crypto;
  if ([...codes].every((c) => c === "NOT_FOUND")) return EXIT.notFound;
  return EXIT.service;
}
