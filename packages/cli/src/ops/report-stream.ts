// Reports whose size does not limit the run: the outcomes are streamed from the journal (JSON Lines or the
// arrays of the JSON report, written piece by piece), and the summary comes from running totals. Nothing
// here holds more than one outcome (or, for runs of at most SORTED_REPORT_LIMIT objects, the sorted list).
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import path from "node:path";
import { buildReport, exitCodeOfSummary, type ObjectOutcome, type OpsReport, type RunSummary, type VerifyResult } from "./report.js";

/** Up to this many outcomes the full report is built in memory and sorted by key (as it always was). */
export const SORTED_REPORT_LIMIT = 50_000;

export type ReportBase = Pick<OpsReport, "operation" | "target" | "resource" | "scope" | "settings" | "dryRun" | "stateFile" | "runs" | "complete" | "startedAt">;

/** A finished run: totals, and its outcomes as a stream (from the journal). `close()` releases the state. */
export interface OpsRun {
  base: ReportBase;
  summary: RunSummary;
  finishedAt: string;
  verify?: VerifyResult;
  outcomes(): AsyncIterable<ObjectOutcome>;
  close(): Promise<void>;
}

/** The bounded report (`--summary`): totals, counts by reason and code, the first failures; no per-object lists. */
export interface SummaryReport extends ReportBase {
  report: "summary";
  finishedAt: string;
  totals: OpsReport["totals"];
  skippedByReason: OpsReport["skippedByReason"];
  failedByCode: OpsReport["failedByCode"];
  /** The first failures (at most 20); every failure is in the outcomes (`--outcomes FILE`). */
  failedSample: ObjectOutcome[];
  /** Where the outcomes were written as JSON Lines (null: not requested). */
  outcomesFile: string | null;
  verify?: VerifyResult;
}

export function totalsOf(s: RunSummary): OpsReport["totals"] {
  return {
    objects: s.objects,
    done: s.done,
    planned: s.planned,
    skipped: s.skipped,
    failed: s.failed,
    plaintextBytes: s.plaintextBytes,
    storedBytesBefore: s.storedBytesBefore,
    storedBytesAfter: s.storedBytesAfter,
  };
}

export function summaryReport(run: OpsRun, outcomesFile: string | null): SummaryReport {
  const r: SummaryReport = {
    ...run.base,
    report: "summary",
    finishedAt: run.finishedAt,
    totals: totalsOf(run.summary),
    skippedByReason: { ...run.summary.skippedByReason },
    failedByCode: { ...run.summary.failedByCode },
    failedSample: run.summary.failedSample,
    outcomesFile,
  };
  if (run.verify) r.verify = run.verify;
  return r;
}

export function exitCodeOfRun(run: OpsRun): number {
  return exitCodeOfSummary(run.summary.failedByCode, run.verify);
}

/** Builds the full report in memory (sorted by key): the library's runMigrate/runRotate* results, small CLI runs. */
export async function materializeReport(run: OpsRun): Promise<OpsReport> {
  const all = new Map<string, ObjectOutcome>();
  for await (const o of run.outcomes()) all.set(o.key, o);
  const report = buildReport(run.base, [...all.values()], new Date(run.finishedAt));
  if (run.verify) report.verify = run.verify;
  return report;
}

function strip(o: ObjectOutcome): ObjectOutcome {
  const { key: _key, outcome: _outcome, ...rest } = o;
  const out = { ...rest } as ObjectOutcome;
  if (o.name === undefined) out.key = o.key;
  return out;
}

/** Collects output in chunks of about 256 KiB for a sink (stdout, a file). */
class Chunker {
  #buf = "";
  constructor(private readonly sink: (s: string) => void) {}
  write(s: string): void {
    this.#buf += s;
    if (this.#buf.length >= 256 * 1024) this.flush();
  }
  flush(): void {
    if (this.#buf) this.sink(this.#buf);
    this.#buf = "";
  }
}

/**
 * The full JSON report (the format of buildReport, `JSON.stringify(report, null, 2)`), written to `sink`
 * piece by piece. Runs of at most SORTED_REPORT_LIMIT objects are sorted by key as before; larger ones
 * list the outcomes in journal order (the order they finished), three passes over the journal.
 */
export async function writeFullReport(run: OpsRun, sink: (s: string) => void): Promise<void> {
  if (run.summary.objects <= SORTED_REPORT_LIMIT) {
    sink(JSON.stringify(await materializeReport(run), null, 2) + "\n");
    return;
  }
  const doneKind = run.base.dryRun ? "planned" : run.base.operation === "migrate" ? "migrated" : "rotated";
  const head: Record<string, unknown> = {
    ...run.base,
    finishedAt: run.finishedAt,
    totals: totalsOf(run.summary),
    skippedByReason: run.summary.skippedByReason,
    failedByCode: run.summary.failedByCode,
  };
  const out = new Chunker(sink);
  const text = JSON.stringify(head, null, 2);
  out.write(text.slice(0, text.length - 2)); // without the closing "\n}"
  for (const [field, kind] of [
    ["skipped", "skipped"],
    ["failed", "failed"],
    [doneKind, doneKind],
  ] as const) {
    out.write(`,\n  ${JSON.stringify(field)}: [`);
    let n = 0;
    for await (const o of run.outcomes()) {
      if (o.outcome !== kind) continue;
      out.write((n++ === 0 ? "\n    " : ",\n    ") + JSON.stringify(strip(o), null, 2).replace(/\n/g, "\n    "));
    }
    out.write(n === 0 ? "]" : "\n  ]");
  }
  if (run.verify) out.write(`,\n  "verify": ${JSON.stringify(run.verify, null, 2).replace(/\n/g, "\n  ")}`);
  out.write("\n}\n");
  out.flush();
}

/** Every outcome as one JSON line (the journal's own lines: key and outcome included). */
export async function writeOutcomes(run: OpsRun, sink: (s: string) => void): Promise<void> {
  const out = new Chunker(sink);
  for await (const o of run.outcomes()) out.write(JSON.stringify(o) + "\n");
  out.flush();
}

/** Streams `write` into `file` atomically (temp sibling, fsync, rename); a failure leaves no partial file. */
export async function writeFileStreamed(file: string, write: (sink: (s: string) => void) => Promise<void>): Promise<void> {
  const tmp = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.${process.pid}.tmp`);
  const fd = openSync(tmp, "w", 0o600);
  let ok = false;
  try {
    await write((s) => {
      const b = Buffer.from(s, "utf8");
      let off = 0;
      while (off < b.length) off += writeSync(fd, b, off, b.length - off);
    });
    fsyncSync(fd);
    ok = true;
  } finally {
    closeSync(fd);
    if (!ok) rmSync(tmp, { force: true });
  }
  renameSync(tmp, file);
}
