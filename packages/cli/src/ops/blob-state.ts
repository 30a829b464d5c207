// Durable state in blobs (`--state container/path` or a blob URL): a rescheduled worker resumes on any
// machine, from a fresh working directory. Layout next to the checkpoint blob PATH:
//   PATH                          the checkpoint (JSON, block blob), leased by the worker that runs it
//   PATH.journal.<run>-<id>.jsonl one append blob of outcomes per run; the checkpoint names each segment
//                                 with the byte length it covers (bytes appended after it are ignored)
// Guard: the worker holds a lease on PATH (renewed in the background) and every write carries it, so two
// workers never run the same state: the second waits for the lease (a killed worker's lease expires
// after --state-lease-seconds) and then fails with INVALID_ARGUMENT if it is still held.
// Cost: writes are grouped. Before a page's objects are started, the ETags of those that will be written
// are stored as "in flight" in one checkpoint write (so a kill at any point is recovered exactly, as with a
// local state file); outcomes are appended and the checkpoint rewritten at most every `flushIntervalMs`.
// Objects finished after the last write are redone after a kill: they list as current with another ETag
// than the one recorded, and are reported "recovered".
import { randomUUID } from "node:crypto";
import type { AppendBlobClient, BlobLeaseClient, BlockBlobClient, ContainerClient } from "@azure/storage-blob";
import { ClientSideEncryptionError, toTypedError } from "@azure-cse/core-envelope";
import { emptySummary, type ObjectOutcome } from "./report.js";
import { freshCheckpoint, linesOf, outcomesOfLines, parseCheckpoint, RunState, type Checkpoint, type JournalSegment, type RunIdentity } from "./state.js";

export interface BlobStateLocation {
  container: ContainerClient;
  /** Blob name of the checkpoint. */
  name: string;
  /** How to name it in messages and reports (no credentials). */
  display: string;
}

export interface BlobStateOptions {
  /** Lease duration (15–60 s; default 30). A killed worker's shard can be resumed after this long. */
  leaseSeconds?: number;
  /** How long to wait for a lease held by another worker (default: the lease duration + 10 s). */
  waitMs?: number;
  /** Outcomes are stored at least this often (default 2000 ms); in-flight marks are stored before any write. */
  flushIntervalMs?: number;
}

const APPEND_LIMIT = 4 * 1024 * 1024;

function statusOf(e: unknown): { status?: number; code?: string } {
  const err = e as { statusCode?: number; code?: string; details?: { errorCode?: string } };
  return { status: err?.statusCode, code: err?.details?.errorCode ?? err?.code };
}

const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class BlobRunState extends RunState {
  readonly display: string;
  readonly #container: ContainerClient;
  readonly #checkpointBlob: BlockBlobClient;
  readonly #lease: BlobLeaseClient;
  readonly #segment: AppendBlobClient;
  readonly #flushIntervalMs: number;
  #pending: string[] = [];
  #next: Promise<void> | undefined;
  #inProgress: Promise<void> | undefined;
  #lastFlush = 0;
  #failed: Error | undefined;
  #renew: NodeJS.Timeout | undefined;
  #closed = false;

  /** Marks are batched per page (see the file comment). */
  override get batchesInFlightMarks(): boolean {
    return true;
  }

  private constructor(loc: BlobStateLocation, cp: Checkpoint, lease: BlobLeaseClient, segment: AppendBlobClient, o: BlobStateOptions) {
    super(undefined, cp, undefined);
    this.display = loc.display;
    this.#container = loc.container;
    this.#checkpointBlob = loc.container.getBlockBlobClient(loc.name);
    this.#lease = lease;
    this.#segment = segment;
    this.#flushIntervalMs = o.flushIntervalMs ?? 2000;
  }

  /** Opens (or creates) the state at `loc` for `identity`, taking its lease. */
  static async openAt(loc: BlobStateLocation, identity: RunIdentity, o: BlobStateOptions = {}): Promise<BlobRunState> {
    const leaseSeconds = o.leaseSeconds ?? 30;
    if (!(leaseSeconds >= 15 && leaseSeconds <= 60)) throw new ClientSideEncryptionError("INVALID_ARGUMENT", "The state lease must be from 15 to 60 seconds.");
    const blob = loc.container.getBlockBlobClient(loc.name);
    // The container is created when missing; a SAS without that permission is fine if it exists.
    await loc.container.createIfNotExists().catch(() => undefined);
    try {
      await blob.upload("", 0, { conditions: { ifNoneMatch: "*" } });
    } catch (e) {
      const s = statusOf(e);
      if (!(s.status === 409 || s.status === 412)) throw toTypedError(e, { container: loc.container.containerName, blob: loc.name });
    }
    const lease = blob.getBlobLeaseClient(randomUUID());
    const deadline = Date.now() + (o.waitMs ?? leaseSeconds * 1000 + 10_000);
    for (;;) {
      try {
        await lease.acquireLease(leaseSeconds);
        break;
      } catch (e) {
        const s = statusOf(e);
        if (s.status !== 409) throw toTypedError(e, { container: loc.container.containerName, blob: loc.name });
        if (Date.now() >= deadline) {
          throw new ClientSideEncryptionError(
            "INVALID_ARGUMENT",
            `The state ${loc.display} is leased by another worker running the same shard; two workers never run one state. If that worker was killed, its lease expires within ${leaseSeconds} s: run again.`,
          );
        }
        await sleep(1000);
      }
    }
    let text: string;
    try {
      text = (await blob.downloadToBuffer(0, undefined, { conditions: { leaseId: lease.leaseId } })).toString("utf8");
    } catch (e) {
      await lease.releaseLease().catch(() => undefined);
      throw toTypedError(e, { container: loc.container.containerName, blob: loc.name });
    }
    let cp: Checkpoint;
    try {
      if (text.length === 0) cp = { ...freshCheckpoint(identity, new Date()), journalSegments: [] };
      else {
        cp = parseCheckpoint(text, loc.display, identity);
        cp.runs = (cp.runs ?? 1) + 1;
        cp.summary ??= emptySummary();
        cp.journalSegments ??= [];
      }
    } catch (e) {
      await lease.releaseLease().catch(() => undefined);
      throw e;
    }
    const segName = `${loc.name}.journal.${String(cp.runs).padStart(4, "0")}-${randomUUID().slice(0, 8)}.jsonl`;
    const segment = loc.container.getAppendBlobClient(segName);
    await segment.create();
    cp.journalSegments!.push({ blob: segName, bytes: 0 });
    const s = new BlobRunState(loc, cp, lease, segment, o);
    s.#renew = setInterval(
      () => {
        lease.renewLease().catch((e: unknown) => (s.#failed ??= toTypedError(e, { container: loc.container.containerName, blob: loc.name })));
      },
      Math.floor((leaseSeconds * 1000) / 3),
    );
    s.#renew.unref();
    await s.flush();
    return s;
  }

  protected override appendLine(line: string): void {
    this.#pending.push(line);
  }

  /** Stores the state with the next grouped write; `urgent` (an in-flight mark) starts that write now. */
  override save(_now = new Date(), urgent = false): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed);
    if (!this.#next) {
      const wait = urgent ? 0 : Math.max(0, this.#lastFlush + this.#flushIntervalMs - Date.now());
      const prev = this.#inProgress ?? Promise.resolve();
      const p: Promise<void> = prev
        .catch(() => undefined)
        .then(() => (wait > 0 ? sleep(wait) : undefined))
        .then(() => {
          this.#next = undefined;
          this.#inProgress = p;
          return this.#flushOnce();
        });
      this.#next = p;
      p.catch((e: unknown) => (this.#failed ??= asError(e))).finally(() => {
        if (this.#inProgress === p) this.#inProgress = undefined;
      });
    } else if (urgent) {
      // A write is scheduled for later: an in-flight mark must not wait for the interval.
      return this.#next.then(() => this.save(_now, true));
    }
    return this.#next;
  }

  override async flush(): Promise<void> {
    await this.save(new Date(), true);
    if (this.#failed) throw this.#failed;
  }

  async #flushOnce(): Promise<void> {
    if (this.#failed) throw this.#failed;
    const cp = this.checkpoint;
    const lines = Buffer.from(this.#pending.join(""), "utf8");
    this.#pending = [];
    this.beforeSave?.();
    cp.updatedAt = new Date().toISOString();
    const segs = cp.journalSegments as JournalSegment[];
    const seg = segs[segs.length - 1]!;
    const from = seg.bytes;
    const snapshot = JSON.stringify({ ...cp, journalSegments: [...segs.slice(0, -1), { blob: seg.blob, bytes: from + lines.length }] }) + "\n";
    const where = { container: this.#container.containerName, blob: seg.blob };
    for (let off = 0; off < lines.length; off += APPEND_LIMIT) {
      const part = lines.subarray(off, Math.min(lines.length, off + APPEND_LIMIT));
      try {
        await this.#segment.appendBlock(part, part.length, { conditions: { appendPosition: from + off } });
      } catch (e) {
        // A retried append whose first attempt landed fails its position condition: check the length.
        const s = statusOf(e);
        const landed = s.status === 412 && (await this.#segment.getProperties().catch(() => undefined))?.contentLength === from + off + part.length;
        if (!landed) throw toTypedError(e, where);
      }
    }
    seg.bytes = from + lines.length;
    try {
      await this.#checkpointBlob.upload(snapshot, Buffer.byteLength(snapshot), { conditions: { leaseId: this.#lease.leaseId } });
    } catch (e) {
      const s = statusOf(e);
      if (s.status === 412 || s.status === 409) {
        throw new ClientSideEncryptionError("INVALID_ARGUMENT", `Lost the lease on the state ${this.display} (another worker took it over); this worker stops.`, { cause: e });
      }
      throw toTypedError(e, { container: this.#container.containerName, blob: this.#checkpointBlob.name });
    }
    this.#lastFlush = Date.now();
  }

  override async *stream(): AsyncGenerator<ObjectOutcome> {
    for (const seg of this.checkpoint.journalSegments ?? []) {
      if (seg.bytes <= 0) continue;
      const dl = await this.#container.getBlobClient(seg.blob).download(0, seg.bytes);
      yield* outcomesOfLines(linesOf(dl.readableStreamBody as AsyncIterable<Uint8Array>));
    }
  }

  override outcomes(): ObjectOutcome[] {
    throw new ClientSideEncryptionError("INVALID_ARGUMENT", "A state kept in blobs is read with stream().");
  }

  override async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#renew);
    await this.#inProgress?.catch(() => undefined);
    await this.#lease.releaseLease().catch(() => undefined);
    await super.close();
  }
}
