// Single Put Blob bodies that are encrypted while they are sent and can be sent again for the SDK retries.
import { Readable } from "node:stream";

/**
 * Ciphertext of one upload, produced exactly once: the first attempt streams it while the cipher is
 * still producing it (encryption overlaps the transfer instead of preceding it), and every later attempt
 * (an SDK retry) replays the same buffers. A content key therefore never encrypts a second body, however
 * many attempts there are. The source must yield exactly `expected` bytes; anything else, or an error of
 * the source, is recorded in `failure`, reported to `onFailure` (which aborts the request so no retry is
 * attempted) and makes every replay stream fail.
 */
export class ReplayableBody {
  readonly #source: AsyncIterator<Buffer>;
  readonly #expected: number;
  readonly #sizeError: () => Error;
  readonly #onFailure: () => void;
  readonly #parts: Buffer[] = [];
  #produced = 0;
  #done = false;
  #failure: { e: unknown } | undefined;
  #pull: Promise<void> | undefined;

  constructor(source: AsyncIterator<Buffer>, expected: number, sizeError: () => Error, onFailure: () => void) {
    this.#source = source;
    this.#expected = expected;
    this.#sizeError = sizeError;
    this.#onFailure = onFailure;
  }

  /** The source's failure (or the size error), if any. */
  get failure(): { e: unknown } | undefined {
    return this.#failure;
  }

  /** Pulls one more chunk; concurrent callers share one pull, so no chunk is ever taken twice. */
  #more(): Promise<void> {
    this.#pull ??= (async () => {
      try {
        const r = await this.#source.next();
        if (r.done) {
          this.#done = true;
          if (this.#produced !== this.#expected) throw this.#sizeError();
        } else {
          this.#produced += r.value.length;
          if (this.#produced > this.#expected) throw this.#sizeError();
          if (r.value.length) this.#parts.push(r.value);
        }
      } catch (e) {
        this.#done = true;
        if (!this.#failure) {
          this.#failure = { e };
          this.#onFailure();
        }
      }
    })().finally(() => {
      this.#pull = undefined;
    });
    return this.#pull;
  }

  async *#replay(): AsyncGenerator<Buffer> {
    for (let i = 0; ; i++) {
      while (i >= this.#parts.length && !this.#done) await this.#more();
      if (this.#failure) throw this.#failure.e;
      if (i >= this.#parts.length) return;
      yield this.#parts[i]!;
    }
  }

  /** A fresh stream over the whole body (what the SDK calls for every attempt). */
  readonly stream = (): NodeJS.ReadableStream => Readable.from(this.#replay(), { objectMode: false });

  /** Stops the source (after a failed request): waits for a pull in progress, then ends the generator. */
  async close(): Promise<void> {
    if (this.#pull) await this.#pull;
    if (!this.#done) {
      this.#done = true;
      await this.#source.return?.(undefined);
    }
  }
}

/**
 * A single Put Blob body encrypted afresh for every attempt (`start` is the content key's repeatable
 * encryptor: byte-identical output for an unchanged source, verified region by region). Nothing is kept
 * between attempts, so memory is about one region per attempt. Each attempt must yield exactly
 * `expected` bytes; a wrong size, a changed source or a source error is recorded in `failure`, reported
 * to `onFailure` (which aborts the request, so the SDK does not retry) and ends that attempt's stream.
 */
export class RepeatableBody {
  readonly #start: () => AsyncGenerator<Buffer>;
  readonly #expected: number;
  readonly #sizeError: () => Error;
  readonly #onFailure: () => void;
  readonly #attempts = new Set<AsyncGenerator<Buffer>>();
  #failure: { e: unknown } | undefined;

  constructor(start: () => AsyncGenerator<Buffer>, expected: number, sizeError: () => Error, onFailure: () => void) {
    this.#start = start;
    this.#expected = expected;
    this.#sizeError = sizeError;
    this.#onFailure = onFailure;
  }

  /** The first failure of any attempt (source error, changed source, wrong size), if any. */
  get failure(): { e: unknown } | undefined {
    return this.#failure;
  }

  #fail(e: unknown): unknown {
    if (!this.#failure) {
      this.#failure = { e };
      this.#onFailure();
    }
    return this.#failure.e;
  }

  async *#attempt(): AsyncGenerator<Buffer> {
    if (this.#failure) throw this.#failure.e;
    const source = this.#start();
    this.#attempts.add(source);
    let produced = 0;
    try {
      for (;;) {
        let r: IteratorResult<Buffer>;
        try {
          r = await source.next();
        } catch (e) {
          throw this.#fail(e);
        }
        if (r.done) break;
        produced += r.value.length;
        if (produced > this.#expected) throw this.#fail(this.#sizeError());
        if (r.value.length) yield r.value;
      }
      if (produced !== this.#expected) throw this.#fail(this.#sizeError());
    } finally {
      this.#attempts.delete(source);
      await source.return(undefined);
    }
  }

  /** A fresh stream over the whole body (what the SDK calls for every attempt). */
  readonly stream = (): NodeJS.ReadableStream => Readable.from(this.#attempt(), { objectMode: false });

  /** Stops every attempt still reading its source (after a failed request). */
  async close(): Promise<void> {
    await Promise.all([...this.#attempts].map((a) => a.return(undefined)));
  }
}
