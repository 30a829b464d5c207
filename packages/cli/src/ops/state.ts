// Resumable state: a small JSON checkpoint rewritten atomically (temp file + fsync + rename) after every
// object, plus an append-only journal (JSON Lines) of per-object outcomes from which the final report is
// built. A SIGKILL at any instant leaves either the previous or the next checkpoint, never a torn one; a
// torn last journal line is ignored. Pure library code: no console output.
import { appendFileSync, closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import path from "node:path";
import { ClientSideEncryptionError } from "@azure-cse/core-envelope";
import type { ObjectOutcome } from "./report.js";

export const STATE_FORMAT = "azcse-ops-state/1";

/** What identifies a run: a state file only resumes the same operation over the same objects. */
export interface RunIdentity {
  operation: "migrate" | "rotate-key";
  /** "blob" or "table". */
  target: "blob" | "table";
  /** Account endpoint (no credentials) + container or table name. */
  resource: string;
  /** Selection: prefix or partition range. */
  scope: Record<string, string | null>;
  /** Settings that decide what is written (protocol, new key id, region size). */
  settings: Record<string, string | number | null>;
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

/** The state of one resumable run. Without a file (no --resume) it only lives in memory. */
export class RunState {
  readonly file: string | undefined;
  readonly journalFile: string | undefined;
  readonly checkpoint: Checkpoint;
  /** Outcomes recorded by earlier runs (from the journal), by key; the latest wins. */
  readonly previous: Map<string, ObjectOutcome>;
  readonly #memory: Map<string, ObjectOutcome> = new Map();

  private constructor(file: string | undefined, checkpoint: Checkpoint, previous: Map<string, ObjectOutcome>) {
    this.file = file;
    this.journalFile = file === undefined ? undefined : `${file}.journal.jsonl`;
    this.checkpoint = checkpoint;
    this.previous = previous;
  }

  /** Opens (or creates) the state file for `identity`; a file from a different run is refused. */
  static open(file: string | undefined, identity: RunIdentity, now = new Date()): RunState {
    const fresh: Checkpoint = {
      format: STATE_FORMAT,
      identity,
      createdAt: now.toISOString(),
      updatedAt: now.toISOString(),
      marker: null,
      complete: false,
      done: [],
      inFlight: {},
      runs: 1,
    };
    if (file === undefined) return new RunState(undefined, fresh, new Map());
    if (!existsSync(file)) {
      const s = new RunState(file, fresh, new Map());
      s.save(now);
      return s;
    }
    let cp: Checkpoint;
    try {
      cp = JSON.parse(readFileSync(file, "utf8")) as Checkpoint;
    } catch (e) {
      throw new ClientSideEncryptionError("INVALID_ARGUMENT", `The state file ${file} is not a readable azcse state file.`, { cause: e });
    }
    if (!cp || cp.format !== STATE_FORMAT || !Array.isArray(cp.done) || typeof cp.inFlight !== "object") {
      throw new ClientSideEncryptionError("INVALID_ARGUMENT", `The state file ${file} is not an azcse state file (${STATE_FORMAT}).`);
    }
    if (!sameIdentity(cp.identity, identity)) {
      throw new ClientSideEncryptionError(
        "INVALID_ARGUMENT",
        `The state file ${file} belongs to another run (${cp.identity.operation} of ${cp.identity.resource} ${JSON.stringify(cp.identity.scope)} ${JSON.stringify(cp.identity.settings)}); use a new state file for this one.`,
      );
    }
    cp.runs = (cp.runs ?? 1) + 1;
    const s = new RunState(file, cp, readJournal(`${file}.journal.jsonl`));
    s.save(now);
    return s;
  }

  /** Rewrites the checkpoint (atomically) when the run has a state file. */
  save(now = new Date()): void {
    this.checkpoint.updatedAt = now.toISOString();
    if (this.file !== undefined) writeFileAtomic(this.file, JSON.stringify(this.checkpoint) + "\n");
  }

  /** Records an outcome: appended to the journal (fsync) before the checkpoint names the object as done. */
  record(outcome: ObjectOutcome): void {
    this.#memory.set(outcome.key, outcome);
    if (this.journalFile !== undefined) {
      const fd = openSync(this.journalFile, "a", 0o600);
      try {
        writeSync(fd, JSON.stringify(outcome) + "\n");
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
  }

  /** Every outcome of this run and the earlier runs of the same state file (latest per key). */
  outcomes(): ObjectOutcome[] {
    const all = new Map(this.previous);
    for (const [k, v] of this.#memory) {
      const before = all.get(k);
      // An object an earlier run finished is "already current" when looked at again: keep the earlier outcome.
      if (before && (before.outcome === "migrated" || before.outcome === "rotated") && v.outcome === "skipped" && v.reason === "already-current") continue;
      all.set(k, v);
    }
    return [...all.values()];
  }
}

function readJournal(file: string): Map<string, ObjectOutcome> {
  const out = new Map<string, ObjectOutcome>();
  if (!existsSync(file)) return out;
  const text = readFileSync(file, "utf8");
  // A kill mid-append can leave a torn last line: end it so the next append starts a fresh line.
  if (text.length > 0 && !text.endsWith("\n")) appendFileSync(file, "\n");
  const lines = text.split("\n");
  for (const line of lines) {
    if (!line.trim()) continue;
    try {
      const o = JSON.parse(line) as ObjectOutcome;
      if (o && typeof o.key === "string") out.set(o.key, o);
    } catch {
      // A line torn by a kill mid-append: the object is not in the checkpoint either and is redone.
    }
  }
  return out;
}
