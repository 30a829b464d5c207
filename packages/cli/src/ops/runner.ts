// The resumable engine: walks a listing page by page, runs one step per object with bounded concurrency,
// and checkpoints after every object. Resumption needs no ordering of names: the checkpoint keeps the
// continuation token of the earliest page that still has unfinished objects plus the keys already finished
// in the open pages (at most `maxOpenPages` pages are open, so the checkpoint stays small).
import type { RunState } from "./state.js";
import type { ObjectOutcome } from "./report.js";
import type { ProgressReporter } from "./progress.js";

export interface ListedPage<T> {
  /** Continuation token that fetched this page (null: the first page). */
  token: string | null;
  /** Token of the next page (null: this is the last page). */
  next: string | null;
  items: T[];
}

/** What a step may use. */
export interface StepContext {
  /** ETag the object had when a killed earlier run was writing it (undefined: not in flight then). */
  recoveredEtag: string | undefined;
  /**
   * Checkpoints "about to write this object, which has ETag `etag`"; the step awaits it before its first
   * write (a state kept in blobs stores it with the next group write).
   */
  markInFlight(etag: string): void | Promise<void>;
  /** Reports bytes moved so far for progress. */
  addBytes(n: number): void;
}

export interface RunnerOptions<T> {
  pages: (from: string | null) => AsyncIterable<ListedPage<T>>;
  keyOf: (item: T) => string;
  step: (item: T, ctx: StepContext) => Promise<ObjectOutcome>;
  state: RunState;
  concurrency: number;
  progress: ProgressReporter;
  /** Pages kept open (listed but not fully finished) at most; default 2. */
  maxOpenPages?: number;
  /** Only objects for which this returns true are this worker's (`--shard K/N`); the others are not visited. */
  select?: (item: T) => boolean;
  /**
   * The ETag an object will be written under, or undefined when the step will not write it. With a state
   * that batches in-flight marks, a page's marks are stored in one write before its objects start.
   */
  workEtag?: (item: T) => string | undefined;
}

interface OpenPage {
  next: string | null;
  remaining: number;
  keys: string[];
}

/** Runs the steps; returns when every listed object is finished. Step errors must be outcomes, not throws. */
export async function runResumable<T>(o: RunnerOptions<T>): Promise<{ complete: boolean }> {
  const { state, progress } = o;
  const cp = state.checkpoint;
  if (cp.complete) return { complete: true };
  const concurrency = Math.max(1, o.concurrency);
  const maxOpen = Math.max(1, o.maxOpenPages ?? 2);
  const done = new Set(cp.done);
  // In-flight marks of earlier runs stay in the checkpoint until their object is finished by this run: a run
  // killed before reaching such an object must hand its mark on, or the next run would report an object a
  // killed run committed as "already-current" instead of recovered.
  const recovered: Record<string, string> = { ...cp.inFlight };
  const open: OpenPage[] = [];
  const active = new Set<Promise<void>>();
  let fatal: { e: unknown } | undefined;

  // The finished-key set is copied into the checkpoint only when it is written, not per object.
  state.beforeSave = () => {
    cp.done = [...done];
  };
  const background = (r: void | Promise<void>): void => {
    if (r) r.catch((e: unknown) => (fatal ??= { e }));
  };
  /** Closes the finished pages at the head (moves the marker); the caller writes the checkpoint. */
  const closePages = (): void => {
    while (open.length > 0 && open[0]!.remaining === 0) {
      const p = open.shift()!;
      for (const k of p.keys) {
        done.delete(k);
        delete cp.inFlight[k];
      }
      if (p.next === null) cp.complete = true;
      else cp.marker = p.next;
    }
  };
  const advance = (): void => {
    closePages();
    background(state.save());
  };

  try {
    await walk();
  } catch (e) {
    // The listing failed (e.g. a storage error after the SDK's retries): let the steps already started
    // finish and checkpoint before rethrowing, so nothing of this run keeps writing after it returned.
    fatal ??= { e };
  }
  await Promise.all(active);
  if (fatal) {
    // Store what finished before the failure (grouped checkpoints), so a resume does not redo it.
    await Promise.resolve()
      .then(() => state.flush())
      .catch(() => undefined);
    throw fatal.e;
  }
  closePages();
  // An empty listing yields no page at all.
  if (open.length === 0 && cp.marker === null && !cp.complete) cp.complete = true;
  await state.save();
  await state.flush();
  if (fatal) throw (fatal as { e: unknown }).e;
  return { complete: cp.complete };

  async function walk(): Promise<void> {
    for await (const page of o.pages(cp.marker)) {
      const op: OpenPage = { next: page.next, remaining: page.items.length, keys: [] };
      open.push(op);
      if (state.batchesInFlightMarks && o.workEtag) {
        let marked = false;
        for (const item of page.items) {
          if (o.select && !o.select(item)) continue;
          const key = o.keyOf(item);
          const etag = done.has(key) ? undefined : o.workEtag(item);
          if (etag === undefined) continue;
          cp.inFlight[key] = etag;
          marked = true;
        }
        if (marked) await state.save(new Date(), true);
      }
      for (const item of page.items) {
        if (o.select && !o.select(item)) {
          op.remaining--;
          continue;
        }
        const key = o.keyOf(item);
        op.keys.push(key);
        if (done.has(key)) {
          op.remaining--;
          continue;
        }
        while (active.size >= concurrency) await Promise.race(active);
        if (fatal) break;
        let counted = 0;
        const ctx: StepContext = {
          recoveredEtag: recovered[key],
          markInFlight(etag) {
            // Already stored with its page (a state that batches marks): nothing to wait for.
            if (state.batchesInFlightMarks && cp.inFlight[key] === etag) return;
            cp.inFlight[key] = etag;
            return state.save(new Date(), true);
          },
          addBytes(n) {
            counted += n;
            progress.addBytes(n);
          },
        };
        const p = (async () => {
          const outcome = await o.step(item, ctx);
          // Journal line first, then the checkpoint that names the object done (one write for both).
          background(
            state.record(outcome, () => {
              delete cp.inFlight[key];
              done.add(key);
              op.remaining--;
              closePages();
            }),
          );
          const total = outcome.outcome === "skipped" || outcome.outcome === "failed" ? 0 : (outcome.plaintextBytes ?? 0);
          progress.objectDone(outcome, Math.max(0, total - counted));
        })().catch((e: unknown) => {
          // A step threw instead of returning an outcome (a bug or a local I/O failure such as a full disk):
          // stop starting new work; the checkpoint keeps the object unfinished so a resume redoes it.
          fatal ??= { e };
        });
        active.add(p);
        void p.finally(() => active.delete(p));
      }
      if (fatal) break;
      if (op.remaining === 0) advance();
      while (open.length > maxOpen && active.size > 0) await Promise.race(active);
    }
  }
}
