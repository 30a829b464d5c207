// Progress for long runs: a redrawn bar (objects, bytes, ETA) on a terminal; otherwise periodic summary
// lines (objects/s, bytes/s, ETA: "summary", the default without a terminal) or one line per object ("lines").
// Output goes to stderr, so stdout stays the machine-readable JSON report. Names only; never key material.
import type { ObjectOutcome } from "./report.js";

export type ProgressMode = "bar" | "lines" | "summary" | "none";

/** Default interval of "summary" progress lines. */
export const DEFAULT_SUMMARY_INTERVAL_MS = 30_000;

export interface ProgressSnapshot {
  objectsDone: number;
  /** Objects the run will visit (known once the planning pass finished). */
  objectsTotal: number | undefined;
  bytesDone: number;
  bytesTotal: number | undefined;
  skipped: number;
  failed: number;
  elapsedMs: number;
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

export function formatBytes(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${UNITS[u]}`;
}

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  return `${h}h${String(m % 60).padStart(2, "0")}m`;
}

/** Remaining time from the byte rate so far (object rate when bytes are unknown); undefined until it can tell. */
export function estimateRemainingMs(s: ProgressSnapshot): number | undefined {
  if (s.elapsedMs <= 0) return undefined;
  if (s.bytesTotal !== undefined && s.bytesTotal > 0 && s.bytesDone > 0) {
    return (s.elapsedMs * Math.max(0, s.bytesTotal - s.bytesDone)) / s.bytesDone;
  }
  if (s.objectsTotal !== undefined && s.objectsDone > 0) {
    return (s.elapsedMs * Math.max(0, s.objectsTotal - s.objectsDone)) / s.objectsDone;
  }
  return undefined;
}

/** One bar line, e.g. `[#######.............] 35% 7/20 objects  3.50 MiB/10.0 MiB  1 skipped  ETA 12s`. */
export function renderBar(s: ProgressSnapshot, width = 24): string {
  const fraction =
    s.bytesTotal !== undefined && s.bytesTotal > 0
      ? Math.min(1, s.bytesDone / s.bytesTotal)
      : s.objectsTotal !== undefined && s.objectsTotal > 0
        ? Math.min(1, s.objectsDone / s.objectsTotal)
        : undefined;
  const filled = fraction === undefined ? 0 : Math.round(fraction * width);
  const bar = `[${"#".repeat(filled)}${".".repeat(width - filled)}]`;
  const pct = fraction === undefined ? " --%" : `${String(Math.floor(fraction * 100)).padStart(3)}%`;
  const objects = `${s.objectsDone}/${s.objectsTotal ?? "?"} objects`;
  const bytes = `${formatBytes(s.bytesDone)}/${s.bytesTotal === undefined ? "?" : formatBytes(s.bytesTotal)}`;
  const eta = estimateRemainingMs(s);
  const extras = [s.skipped ? `${s.skipped} skipped` : "", s.failed ? `${s.failed} failed` : ""].filter(Boolean).join("  ");
  return `${bar} ${pct} ${objects}  ${bytes}${extras ? "  " + extras : ""}  ETA ${eta === undefined ? "--" : formatDuration(eta)}`;
}

/** One log line per finished object (non-terminal output). */
export function renderLine(o: ObjectOutcome, s: ProgressSnapshot): string {
  const what = o.name ?? o.key;
  const pos = `[${s.objectsDone}/${s.objectsTotal ?? "?"}]`;
  switch (o.outcome) {
    case "failed":
      return `${pos} failed ${what}: ${o.code}`;
    case "skipped":
      return `${pos} skipped ${what} (${o.reason})`;
    default: {
      const change = o.from && o.to ? ` ${o.from.protocol} ${o.from.keyId} -> ${o.to.protocol} ${o.to.keyId}` : "";
      const size = o.plaintextBytes !== undefined ? ` ${formatBytes(o.plaintextBytes)}` : "";
      return `${pos} ${o.outcome} ${what}${change}${size}${o.recovered ? " (committed before an interruption)" : ""}`;
    }
  }
}

/**
 * One periodic progress line, e.g.
 * `progress: 1200/10000 objects (12%), 3.20 GiB/30.1 GiB, 85.1 objects/s, 22.4 MiB/s, 3 skipped, 0 failed, elapsed 14s, ETA 1m43s`.
 * Rates count this process only (`preObjects`/`preBytes` were finished by earlier runs of a resumed state).
 */
export function renderSummaryLine(s: ProgressSnapshot, preObjects = 0, preBytes = 0): string {
  const secs = Math.max(0.001, s.elapsedMs / 1000);
  const objRate = (s.objectsDone - preObjects) / secs;
  const byteRate = (s.bytesDone - preBytes) / secs;
  const pct = s.objectsTotal ? ` (${Math.floor((100 * s.objectsDone) / Math.max(1, s.objectsTotal))}%)` : "";
  // ETA from this run's rates (bytes when known, else objects), not from the preloaded counts.
  let eta: number | undefined;
  if (s.bytesTotal !== undefined && s.bytesTotal > 0 && byteRate > 0) eta = (1000 * Math.max(0, s.bytesTotal - s.bytesDone)) / byteRate;
  else if (s.objectsTotal !== undefined && objRate > 0) eta = (1000 * Math.max(0, s.objectsTotal - s.objectsDone)) / objRate;
  return (
    `progress: ${s.objectsDone}/${s.objectsTotal ?? "?"} objects${pct}, ${formatBytes(s.bytesDone)}/${s.bytesTotal === undefined ? "?" : formatBytes(s.bytesTotal)}, ` +
    `${objRate.toFixed(1)} objects/s, ${formatBytes(Math.round(byteRate))}/s, ${s.skipped} skipped, ${s.failed} failed, elapsed ${formatDuration(s.elapsedMs)}, ETA ${eta === undefined ? "--" : formatDuration(eta)}`
  );
}

export class ProgressReporter {
  readonly mode: ProgressMode;
  readonly #write: (s: string) => void;
  readonly #now: () => number;
  readonly #start: number;
  #objectsDone = 0;
  #objectsTotal: number | undefined;
  #bytesDone = 0;
  #bytesTotal: number | undefined;
  #skipped = 0;
  #failed = 0;
  #lastDraw = 0;
  /** Preloaded counts (earlier runs): excluded from this run's rates. */
  #preObjects = 0;
  #preBytes = 0;
  readonly #intervalMs: number;
  #lastLine: number;

  constructor(mode: ProgressMode, write: (s: string) => void, now: () => number = Date.now, intervalMs = DEFAULT_SUMMARY_INTERVAL_MS) {
    this.mode = mode;
    this.#write = write;
    this.#now = now;
    this.#start = now();
    this.#lastLine = this.#start;
    this.#intervalMs = intervalMs;
  }

  snapshot(): ProgressSnapshot {
    return {
      objectsDone: this.#objectsDone,
      objectsTotal: this.#objectsTotal,
      bytesDone: this.#bytesDone,
      bytesTotal: this.#bytesTotal,
      skipped: this.#skipped,
      failed: this.#failed,
      elapsedMs: this.#now() - this.#start,
    };
  }

  /** Totals from the planning pass (objects the run visits and the bytes it will move). */
  setTotals(objects: number, bytes: number): void {
    this.#objectsTotal = objects;
    this.#bytesTotal = bytes;
    this.#draw(true);
  }

  /** Counts what earlier runs of a resumed state file finished (no output per object). */
  preload(objects: number, bytes: number, skipped: number, failed: number): void {
    this.#objectsDone += objects;
    this.#bytesDone += bytes;
    this.#preObjects += objects;
    this.#preBytes += bytes;
    this.#skipped += skipped;
    this.#failed += failed;
  }

  /** Bytes moved inside an object still in progress. */
  addBytes(n: number): void {
    this.#bytesDone += n;
    this.#draw(false);
    this.#periodic();
  }

  /** An object finished; `bytesNotYetCounted` are its bytes not reported through addBytes. */
  objectDone(o: ObjectOutcome, bytesNotYetCounted = 0): void {
    this.#objectsDone++;
    this.#bytesDone += bytesNotYetCounted;
    if (o.outcome === "skipped") this.#skipped++;
    if (o.outcome === "failed") this.#failed++;
    if (this.mode === "lines") this.#write(renderLine(o, this.snapshot()) + "\n");
    else if (this.mode === "summary") this.#periodic();
    else this.#draw(true);
  }

  /** A "summary" line if the interval has passed since the last one. */
  #periodic(): void {
    if (this.mode !== "summary") return;
    const t = this.#now();
    if (t - this.#lastLine < this.#intervalMs) return;
    this.#lastLine = t;
    this.#write(renderSummaryLine(this.snapshot(), this.#preObjects, this.#preBytes) + "\n");
  }

  message(text: string): void {
    if (this.mode === "none") return;
    if (this.mode === "bar") this.#write("\r\x1b[K");
    this.#write(text + "\n");
    this.#draw(true);
  }

  finish(): void {
    if (this.mode === "bar") {
      this.#draw(true);
      this.#write("\n");
    } else if (this.mode === "lines" || this.mode === "summary") {
      const s = this.snapshot();
      this.#write(`done: ${s.objectsDone} objects, ${formatBytes(s.bytesDone)}, ${s.skipped} skipped, ${s.failed} failed in ${formatDuration(s.elapsedMs)}\n`);
    }
  }

  #draw(force: boolean): void {
    if (this.mode !== "bar") return;
    const t = this.#now();
    if (!force && t - this.#lastDraw < 100) return;
    this.#lastDraw = t;
    this.#write(`\r${renderBar(this.snapshot())}\x1b[K`);
  }
}

/** One frame of a single transfer, e.g. `[#######.................]  29% 3.00 MiB/10.0 MiB  1.50 MiB/s  ETA 5s`. */
export function renderTransferBar(done: number, total: number | undefined, elapsedMs: number, width = 24): string {
  const fraction = total !== undefined && total > 0 ? Math.min(1, done / total) : total === 0 ? 1 : undefined;
  const filled = fraction === undefined ? 0 : Math.round(fraction * width);
  const bar = `[${"#".repeat(filled)}${".".repeat(width - filled)}]`;
  const pct = fraction === undefined ? " --%" : `${String(Math.floor(fraction * 100)).padStart(3)}%`;
  const rate = elapsedMs > 0 ? (done * 1000) / elapsedMs : 0;
  const eta = total !== undefined && rate > 0 ? (1000 * Math.max(0, total - done)) / rate : undefined;
  return `${bar} ${pct} ${formatBytes(done)}/${total === undefined ? "?" : formatBytes(total)}  ${formatBytes(Math.round(rate))}/s  ETA ${eta === undefined ? "--" : formatDuration(eta)}`;
}

/**
 * Progress of one long transfer (blob upload or download): a bar on stderr redrawn at most every 100 ms, in the
 * same frame shape as the bulk commands' bar (counts and sizes only, never a name or stored value).
 */
export class TransferProgress {
  readonly #write: (s: string) => void;
  readonly #now: () => number;
  readonly #start: number;
  #total: number | undefined;
  #done = 0;
  #lastDraw = -Infinity;
  #drawn = false;

  constructor(write: (s: string) => void, total: number | undefined, now: () => number = Date.now) {
    this.#write = write;
    this.#now = now;
    this.#start = now();
    this.#total = total;
  }

  setTotal(total: number | undefined): void {
    this.#total = total;
  }

  /** Bytes done so far (absolute). */
  update(done: number): void {
    this.#done = done;
    const t = this.#now();
    if (t - this.#lastDraw < 100) return;
    this.#lastDraw = t;
    this.#draw();
  }

  #draw(): void {
    this.#drawn = true;
    this.#write(`\r${renderTransferBar(this.#done, this.#total, this.#now() - this.#start)}\x1b[K`);
  }

  /** The final frame and a line break (success). */
  finish(done = this.#done): void {
    this.#done = done;
    this.#draw();
    this.#write("\n");
  }

  /** Clears the bar (failure: the error message follows on a clean line). */
  clear(): void {
    if (this.#drawn) this.#write("\r\x1b[K");
  }
}
