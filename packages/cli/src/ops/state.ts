// Resumable state: a small JSON checkpoint rewritten atomically (temp file + fsync + rename) after every
// object, plus an append-only journal (JSON Lines) of per-object outcomes from which the final report is
// streamed. A SIGKILL at any instant leaves either the previous or the next checkpoint, never a torn one.
// The checkpoint records the journal length it covers (`journalBytes`): on resume the journal is cut back
// to it (a line appended after the last checkpoint, torn or whole, belongs to an object that is redone),
// so the journal never names an object twice and is read as a stream, never as one string. Running totals
// (`summary`) live in the checkpoint, so a summary never needs the journal. Pure library code: no console output.
import { closeSync, createReadStream, existsSync, fstatSync, fsyncSync, ftruncateSync, mkdtempSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { ClientSideEncryptionError } from "@azure-cse/core-envelope";
import { addToSummary, emptySummary, type ObjectOutcome, type RunSummary } from "./report.js";

export const STATE_FORMAT = "azcse-ops-state/1";

/** What identifies a run: a state file only resumes the same operation over the same objects. */
export interface RunIdentity {
  operation: "migrate" | "rotate-key";
  /** "blob" or "table". */
  target: "blob" | "table";
  /** Account endpoint (no credentials) + container or table name. */
  resource: string;
  /** Selection: prefix or partition range (and `shard` "K/N" when sharded). */
  scope: Record<string, string | null>;
  /** Settings that decide what is written (protocol, new key id, region size). */
  settings: Record<string, string | number | null>;
}

/** A journal kept in blobs (`--state` on a blob): one append blob per run, read up to `bytes`. */
export interface JournalSegment {
  blob: string;
  bytes: number;
}

export interface Checkpoint {
  format: typeof STATE_FORMAT;
  identity: RunIdentity;
  createdAt: string;
  updatedAt: string;
  /** Listing continuation token of the earliest page that still has unfinished objects (null: from the start). */
  marker: string | null;
  /** True once every page was listed and every object finished. */
  complete: boolean;
  /** Keys finished in the pages from `marker` on (the pages still open); bounded by the look-ahead. */
  done: string[];
  /** Objects being written when the checkpoint was taken, with the ETag they had before (for recovery). */
  inFlight: Record<string, string>;
  /** Number of times the run was started (1 = never resumed). */
  runs: number;
  /** Journal bytes this checkpoint covers (absent in state files of older versions: the whole journal). */
  journalBytes?: number;
  /** Journal segments of a state kept in blobs (the last one is this run's). */
  journalSegments?: JournalSegment[];
  /** Running totals over every outcome in the journal (absent in older state files: computed once from it). */
  summary?: RunSummary;
}

function sameIdentity(a: RunIdentity, b: RunIdentity): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Writes `text` to `file` atomically: a sibling temp file is written, fsynced and renamed over it. */
export function writeFileAtomic(file: string, text: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  const fd = openSync(tmp, "w", 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

export function freshCheckpoint(identity: RunIdentity, now: Date): Checkpoint {
  return {
    format: STATE_FORMAT,
    identity,
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    marker: null,
    complete: false,
    done: [],
    inFlight: {},
    runs: 1,
    journalBytes: 0,
    summary: emptySummary(),
  };
}

/** Parses and checks a stored checkpoint against the identity of this run (another run's state is refused). */
export function parseCheckpoint(text: string, where: string, identity: RunIdentity): Checkpoint {
  let cp: Checkpoint;
  try {
    cp = JSON.parse(text) as Checkpoint;
  } catch (e) {
    throw new ClientSideEncryptionError("INVALID_ARGUMENT", `The state file ${where} is not a readable azcse state file.`, { cause: e });
  }
  if (!cp || cp.format !== STATE_FORMAT || !Array.isArray(cp.done) || typeof cp.inFlight !== "object") {
    throw new ClientSideEncryptionError("INVALID_ARGUMENT", `The state file ${where} is not an azcse state file (${STATE_FORMAT}).`);
  }
  if (!sameIdentity(cp.identity, identity)) {
    throw new ClientSideEncryptionError(
      "INVALID_ARGUMENT",
      `The state file ${where} belongs to another run (${cp.identity.operation} of ${cp.identity.resource} ${JSON.stringify(cp.identity.scope)} ${JSON.stringify(cp.identity.settings)}); use a new state file for this one.`,
    );
  }
  return cp;
}

/** Splits a byte stream into lines without ever holding more than one line (plus a chunk) in memory. */
export async function* linesOf(chunks: AsyncIterable<Uint8Array | string>): AsyncGenerator<string> {
  let rest = "";
  const decoder = new TextDecoder();
  for await (const c of chunks) {
    rest += typeof c === "string" ? c : decoder.decode(c, { stream: true });
    let nl: number;
    let from = 0;
    while ((nl = rest.indexOf("\n", from)) >= 0) {
      yield rest.slice(from, nl);
      from = nl + 1;
    }
    rest = rest.slice(from);
  }
  rest += decoder.decode();
  if (rest.length > 0) yield rest;
}

/** Parses journal lines; a line torn by a kill (not JSON) is skipped. */
export async function* outcomesOfLines(lines: AsyncIterable<string>): AsyncGenerator<ObjectOutcome> {
  for await (const line of lines) {
    if (!line.trim()) continue;
    let o: ObjectOutcome;
    try {
      o = JSON.parse(line) as ObjectOutcome;
    } catch {
      continue;
    }
    if (o && typeof o.key === "string") yield o;
  }
}

/** Lines of the first `bytes` bytes of a file, streamed. */
async function* fileLines(file: string, bytes: number): AsyncGenerator<string> {
  if (bytes <= 0 || !existsSync(file)) return;
  const rl = createInterface({ input: createReadStream(file, { start: 0, end: bytes - 1 }), crlfDelay: Infinity });
  for await (const line of rl) yield line;
}

/**
 * The state of one resumable run. With a file (`--resume`) the checkpoint and journal are on disk and
 * durable after every object; without one the journal is a temporary file (so the report is streamed from
 * disk, not held in memory) that `close()` removes. Subclasses keep the state elsewhere (blobs).
 */
export class RunState {
  readonly file: string | undefined;
  readonly journalFile: string | undefined;
  readonly checkpoint: Checkpoint;
  /** Called before every checkpoint write (the runner materialises its finished-key set here). */
  beforeSave: (() => void) | undefined;
  /** True when in-flight marks are stored per listing page rather than per object (grouped checkpoints). */
  get batchesInFlightMarks(): boolean {
    return this.#intervalMs > 0;
  }
  #fd: number | undefined;
  #bytes: number;
  readonly #durable: boolean;
  readonly #tempDir: string | undefined;
  /** Grouped checkpoints: written at most this often (0: after every object). */
  readonly #intervalMs: number;
  #pending: string[] = [];
  #dirty = false;
  #lastWrite = Date.now();
  #timer: NodeJS.Timeout | undefined;
  #failed: Error | undefined;

  protected constructor(file: string | undefined, checkpoint: Checkpoint, journal: { file: string; durable: boolean; tempDir?: string } | undefined, intervalMs = 0) {
    this.file = file;
    this.#intervalMs = file === undefined ? 0 : Math.max(0, intervalMs);
    this.checkpoint = checkpoint;
    this.journalFile = journal?.file;
    this.#durable = journal?.durable ?? false;
    this.#tempDir = journal?.tempDir;
    this.#bytes = checkpoint.journalBytes ?? 0;
    if (this.journalFile !== undefined) {
      this.#fd = openSync(this.journalFile, "a+", 0o600);
      // Cut back to what the checkpoint covers: lines after it belong to objects that are redone.
      if (fstatSync(this.#fd).size !== this.#bytes) ftruncateSync(this.#fd, this.#bytes);
    }
  }

  /** Running totals of every outcome recorded so far (all runs of the state). */
  get summary(): RunSummary {
    return (this.checkpoint.summary ??= emptySummary());
  }

  /**
   * Opens (or creates) the state file for `identity`; a file from a different run is refused.
   * `checkpointIntervalMs` > 0 groups the writes: outcomes are appended and the checkpoint rewritten at most
   * that often, and the in-flight ETags of a listing page are stored in one write before its objects start
   * (objects finished after the last write are redone after a kill and reported "recovered"). 0 (default):
   * the checkpoint is rewritten after every object.
   */
  static open(file: string | undefined, identity: RunIdentity, now = new Date(), checkpointIntervalMs = 0): RunState {
    const fresh = freshCheckpoint(identity, now);
    if (file === undefined) {
      const tempDir = mkdtempSync(path.join(tmpdir(), "azcse-journal-"));
      return new RunState(undefined, fresh, { file: path.join(tempDir, "journal.jsonl"), durable: false, tempDir });
    }
    const journalFile = `${file}.journal.jsonl`;
    if (!existsSync(file)) {
      // A journal without its checkpoint (the checkpoint is written first, so only by hand): start afresh.
      rmSync(journalFile, { force: true });
      const s = new RunState(file, fresh, { file: journalFile, durable: true }, checkpointIntervalMs);
      s.saveNow(now);
      return s;
    }
    const cp = parseCheckpoint(readFileSync(file, "utf8"), file, identity);
    cp.runs = (cp.runs ?? 1) + 1;
    if (cp.journalBytes === undefined || cp.summary === undefined) upgradeLegacyJournal(journalFile, cp, identity.operation);
    const s = new RunState(file, cp, { file: journalFile, durable: true }, checkpointIntervalMs);
    s.saveNow(now);
    return s;
  }

  /**
   * Stores the checkpoint. The file state is durable when it returns; subclasses with asynchronous storage
   * group writes, and `urgent` (an in-flight mark, awaited before an object is written) starts one at once.
   */
  save(now = new Date(), urgent = false): void | Promise<void> {
    if (this.#failed) throw this.#failed;
    if (this.#intervalMs === 0 || urgent || Date.now() - this.#lastWrite >= this.#intervalMs) {
      this.#commit(now);
      return;
    }
    this.#dirty = true;
    if (this.#timer === undefined) {
      this.#timer = setTimeout(
        () => {
          this.#timer = undefined;
          try {
            if (this.#dirty || this.#pending.length > 0) this.#commit(new Date());
          } catch (e) {
            this.#failed = e instanceof Error ? e : new Error(String(e));
          }
        },
        Math.max(1, this.#intervalMs - (Date.now() - this.#lastWrite)),
      );
      this.#timer.unref();
    }
  }

  /** Journal lines first (fsynced), then the checkpoint that covers them. */
  #commit(now: Date): void {
    if (this.#pending.length > 0) {
      const text = this.#pending.join("");
      this.#pending = [];
      this.#writeLines(text);
    }
    this.saveNow(now);
    this.#dirty = false;
    this.#lastWrite = Date.now();
  }

  /** Rewrites the checkpoint (atomically) when the run has a state file. */
  protected saveNow(now = new Date()): void {
    this.checkpoint.journalBytes = this.#bytes;
    if (this.file === undefined) return; // nothing to resume from: no checkpoint to write
    this.beforeSave?.();
    this.checkpoint.updatedAt = now.toISOString();
    writeFileAtomic(this.file, JSON.stringify(this.checkpoint) + "\n");
  }

  /** Bytes appended to the local journal so far. */
  protected get journalBytes(): number {
    return this.#bytes;
  }

  /** Appends one journal line (buffered until the next checkpoint when grouped). Subclasses may store it elsewhere. */
  protected appendLine(line: string): void {
    if (this.#intervalMs > 0) this.#pending.push(line);
    else this.#writeLines(line);
  }

  /** Appends to the journal file (fsynced when the state is durable). */
  #writeLines(line: string): void {
    if (this.#fd === undefined) return;
    const buf = Buffer.from(line, "utf8");
    let off = 0;
    while (off < buf.length) off += writeSync(this.#fd, buf, off, buf.length - off, this.#bytes + off);
    this.#bytes += buf.length;
    if (this.#durable) fsyncSync(this.#fd);
  }

  /**
   * Records an outcome: appended to the journal (fsync) and added to the totals; then `then` updates the
   * checkpoint (the object is done) and the checkpoint is written once, naming the journal length.
   */
  record(outcome: ObjectOutcome, then?: () => void): void | Promise<void> {
    this.appendLine(JSON.stringify(outcome) + "\n");
    addToSummary(this.summary, outcome, this.checkpoint.identity.operation);
    then?.();
    return this.save();
  }

  /** Every recorded outcome (all runs of the state), streamed from the journal in the order recorded. */
  async *stream(): AsyncGenerator<ObjectOutcome> {
    if (this.journalFile === undefined) return;
    yield* outcomesOfLines(fileLines(this.journalFile, this.#bytes));
  }

  /**
   * Every outcome in memory, latest per key (an earlier "migrated"/"rotated" is kept over a later
   * "already-current" skip). For small runs and tests; large runs stream().
   */
  outcomes(): ObjectOutcome[] {
    const all = new Map<string, ObjectOutcome>();
    if (this.journalFile === undefined || this.#bytes === 0) return [];
    const text = readFileSync(this.journalFile, "utf8").slice(0, this.#bytes);
    for (const line of text.split("\n")) {
      if (!line.trim()) continue;
      try {
        mergeOutcome(all, JSON.parse(line) as ObjectOutcome);
      } catch {
        // torn line
      }
    }
    return [...all.values()];
  }

  /** Stores what is buffered (grouped checkpoints). */
  async flush(): Promise<void> {
    if (this.#failed) throw this.#failed;
    if (this.#dirty || this.#pending.length > 0) this.#commit(new Date());
  }

  /** Closes the journal; a temporary journal (no state file) is removed. Unflushed outcomes are redone on resume. */
  async close(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
    if (this.#tempDir) rmSync(this.#tempDir, { recursive: true, force: true });
  }
}

function mergeOutcome(all: Map<string, ObjectOutcome>, o: ObjectOutcome): void {
  if (!o || typeof o.key !== "string") return;
  const before = all.get(o.key);
  if (before && (before.outcome === "migrated" || before.outcome === "rotated") && o.outcome === "skipped" && o.reason === "already-current") return;
  all.set(o.key, o);
}

/**
 * A state file of an earlier version has no journal length and no totals: its journal (which may name an
 * object twice) is compacted once, latest outcome per key, and the totals computed. Only such files are
 * read whole; files written by this version are never held in memory.
 */
function upgradeLegacyJournal(journalFile: string, cp: Checkpoint, operation: RunIdentity["operation"]): void {
  const all = new Map<string, ObjectOutcome>();
  if (existsSync(journalFile) && statSync(journalFile).size > 0) {
    const fd = openSync(journalFile, "r");
    try {
      const size = fstatSync(fd).size;
      const chunk = Buffer.alloc(1 << 20);
      let rest = "";
      for (let pos = 0; pos < size; ) {
        const n = readSyncAt(fd, chunk, pos);
        if (n === 0) break;
        pos += n;
        rest += chunk.subarray(0, n).toString("utf8");
        const lines = rest.split("\n");
        rest = lines.pop()!;
        for (const line of lines) tryMerge(all, line);
      }
      tryMerge(all, rest);
    } finally {
      closeSync(fd);
    }
  }
  const summary = emptySummary();
  let text = "";
  const tmp = `${journalFile}.${process.pid}.compact`;
  const out = openSync(tmp, "w", 0o600);
  try {
    for (const o of all.values()) {
      addToSummary(summary, o, operation);
      text += JSON.stringify(o) + "\n";
      if (text.length > 1 << 20) {
        writeSync(out, text);
        text = "";
      }
    }
    if (text) writeSync(out, text);
    fsyncSync(out);
  } finally {
    closeSync(out);
  }
  renameSync(tmp, journalFile);
  cp.journalBytes = statSync(journalFile).size;
  cp.summary = summary;
}

function tryMerge(all: Map<string, ObjectOutcome>, line: string): void {
  if (!line.trim()) return;
  try {
    mergeOutcome(all, JSON.parse(line) as ObjectOutcome);
  } catch {
    // A line torn by a kill mid-append: the object is not in the checkpoint either and is redone.
  }
}

function readSyncAt(fd: number, buf: Buffer, pos: number): number {
  return readSync(fd, buf, 0, buf.length, pos);
}
