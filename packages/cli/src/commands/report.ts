// azcse report merge: sums the reports of the shards (or disjoint scopes) of one migrate / rotate-key into
// one summary, and checks that every shard K/N of the set is present and complete.
import { readFileSync, statSync } from "node:fs";
import { defineCommand, EXIT, OVERWRITE_FLAG, UsageError, type CommandDef } from "../framework.js";
import { StagedOutputs } from "../files.js";
import { exitCodeOfSummary, FAILED_SAMPLE, mergeSummaries, type ObjectOutcome, type OpsReport, type RunSummary, type VerifyResult } from "../ops/index.js";

/** Reports larger than this are refused (a full report of millions of objects: merge `--summary` reports). */
const MAX_REPORT_BYTES = 512 * 1024 * 1024;

interface Part {
  file: string;
  report: Partial<OpsReport> & { failedSample?: ObjectOutcome[]; report?: string };
}

export interface MergedReport {
  report: "merged";
  operation: OpsReport["operation"];
  target: OpsReport["target"];
  resource: string;
  settings: OpsReport["settings"];
  dryRun: boolean;
  /** Every part complete and, for sharded parts, every shard 0…N-1 present. */
  complete: boolean;
  shards: { count: number; present: number[]; missing: number[] } | null;
  parts: Array<{ file: string; scope: OpsReport["scope"]; complete: boolean; runs: number; totals: OpsReport["totals"] }>;
  totals: OpsReport["totals"];
  skippedByReason: OpsReport["skippedByReason"];
  failedByCode: OpsReport["failedByCode"];
  failedSample: ObjectOutcome[];
  verify?: Pick<VerifyResult, "checked" | "ok" | "unencrypted" | "passed"> & { stillOldKeyCount: number; failedCount: number };
}

function load(file: string): Part {
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    throw new UsageError(`cannot read report ${file}`);
  }
  if (size > MAX_REPORT_BYTES) throw new UsageError(`report ${file} is ${size} bytes: merge the --summary reports of large runs`);
  let report: Part["report"];
  try {
    report = JSON.parse(readFileSync(file, "utf8")) as Part["report"];
  } catch {
    throw new UsageError(`report ${file} is not a JSON report of azcse migrate or rotate-key`);
  }
  if (!report || typeof report !== "object" || !report.totals || !report.operation || !report.resource) {
    throw new UsageError(`report ${file} is not a JSON report of azcse migrate or rotate-key`);
  }
  return { file, report };
}

function summaryOf(r: Part["report"]): RunSummary {
  const t = r.totals!;
  return {
    ...t,
    skippedByReason: r.skippedByReason ?? {},
    failedByCode: r.failedByCode ?? {},
    failedSample: (r.failedSample ?? r.failed ?? []).slice(0, FAILED_SAMPLE),
  };
}

/** Merges reports of one operation (same operation, resource and settings); shards must not repeat. */
export function mergeReports(parts: Part[]): MergedReport {
  if (parts.length === 0) throw new UsageError("give the report files to merge");
  const first = parts[0]!.report;
  const same = (p: Part) => p.report.operation === first.operation && p.report.target === first.target && p.report.resource === first.resource && JSON.stringify(p.report.settings) === JSON.stringify(first.settings) && Boolean(p.report.dryRun) === Boolean(first.dryRun);
  for (const p of parts) if (!same(p)) throw new UsageError(`report ${p.file} is of another run (${p.report.operation} of ${p.report.resource} ${JSON.stringify(p.report.settings)}) than ${parts[0]!.file}`);
  let shards: MergedReport["shards"] = null;
  const seen = new Map<number, string>();
  for (const p of parts) {
    const s = p.report.scope?.shard;
    if (!s) continue;
    const m = /^(\d+)\/(\d+)$/.exec(s);
    if (!m) throw new UsageError(`report ${p.file} has an unreadable shard ${JSON.stringify(s)}`);
    const [k, n] = [Number(m[1]), Number(m[2])];
    shards ??= { count: n, present: [], missing: [] };
    if (shards.count !== n) throw new UsageError(`report ${p.file} is shard ${s}, the others are of ${shards.count} shards`);
    if (seen.has(k)) throw new UsageError(`shard ${s} is in both ${seen.get(k)} and ${p.file}`);
    seen.set(k, p.file);
  }
  if (shards) {
    shards.present = [...seen.keys()].sort((a, b) => a - b);
    for (let k = 0; k < shards.count; k++) if (!seen.has(k)) shards.missing.push(k);
  }
  const summary = mergeSummaries(parts.map((p) => summaryOf(p.report)));
  const merged: MergedReport = {
    report: "merged",
    operation: first.operation!,
    target: first.target!,
    resource: first.resource!,
    settings: first.settings ?? {},
    dryRun: Boolean(first.dryRun),
    complete: parts.every((p) => p.report.complete === true) && (shards === null || shards.missing.length === 0),
    shards,
    parts: parts.map((p) => ({ file: p.file, scope: p.report.scope ?? {}, complete: p.report.complete === true, runs: p.report.runs ?? 1, totals: p.report.totals! })),
    totals: {
      objects: summary.objects,
      done: summary.done,
      planned: summary.planned,
      skipped: summary.skipped,
      failed: summary.failed,
      plaintextBytes: summary.plaintextBytes,
      storedBytesBefore: summary.storedBytesBefore,
      storedBytesAfter: summary.storedBytesAfter,
    },
    skippedByReason: summary.skippedByReason,
    failedByCode: summary.failedByCode,
    failedSample: summary.failedSample,
  };
  const verifies = parts.map((p) => p.report.verify).filter((v): v is VerifyResult => v !== undefined);
  if (verifies.length > 0) {
    const v = { checked: 0, ok: 0, unencrypted: 0, stillOldKeyCount: 0, failedCount: 0, passed: verifies.length === parts.length };
    for (const x of verifies) {
      v.checked += x.checked;
      v.ok += x.ok;
      v.unencrypted += x.unencrypted;
      v.stillOldKeyCount += x.stillOldKeyCount ?? x.stillOldKey.length;
      v.failedCount += x.failedCount ?? x.failed.length;
      if (!x.passed) v.passed = false;
    }
    merged.verify = v;
  }
  return merged;
}

export const commands: CommandDef[] = [
  defineCommand({
    path: ["report", "merge"],
    args: "REPORT.json...",
    summary: "Sums the shards' reports of one migrate/rotate-key into one summary (exit 3 when a shard K/N is missing).",
    flags: { out: { value: true, arg: "FILE", help: "also write the merged report to FILE" }, ...OVERWRITE_FLAG },
    async run(a, io) {
      const out = a.get("out");
      const outputs = out ? new StagedOutputs([{ label: "--out", path: out }], { overwrite: a.has("overwrite") }) : undefined;
      let merged: MergedReport;
      let text: string;
      try {
        merged = mergeReports(a.positionals.map(load));
        text = JSON.stringify(merged, null, 2) + "\n";
        outputs?.writeFile(0, text);
        outputs?.commit();
      } catch (e) {
        outputs?.abort();
        throw e;
      }
      io.stdout(text);
      if (merged.shards && merged.shards.missing.length > 0) io.stderr(`azcse: shards missing: ${merged.shards.missing.join(", ")} of ${merged.shards.count}\n`);
      const incomplete = merged.parts.filter((p) => !p.complete).map((p) => p.file);
      if (incomplete.length > 0) io.stderr(`azcse: not complete: ${incomplete.join(", ")}\n`);
      if (merged.failedByCode && merged.totals.failed > 0) io.stderr(`azcse: ${merged.totals.failed} object(s) failed: ${Object.entries(merged.failedByCode).map(([c, n]) => `${c} ${n}`).join(", ")}\n`);
      const code = exitCodeOfSummary(merged.failedByCode, merged.verify);
      // A shard without its report is "not found" (3) unless a failure says more.
      return code === EXIT.ok && merged.shards !== null && merged.shards.missing.length > 0 ? EXIT.notFound : code;
    },
  }),
];
