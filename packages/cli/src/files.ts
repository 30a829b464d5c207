// Local files of the CLI: inputs named by flags (regular files, FIFOs, /dev/stdin) and outputs that appear
// complete or not at all. Every output is written inside a private hidden staging directory next to its target
// and renamed into place only when the command succeeded; several outputs of one command (ciphertext and its
// metadata) are committed together or rolled back together. SIGINT, SIGTERM and SIGHUP remove every staging
// directory synchronously before the process exits with 128 + the signal number, so an interrupted command leaves
// no new directory entry behind, not even a hidden one.
import { createReadStream, closeSync, constants as fsConstants, existsSync, linkSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeSync, type Stats } from "node:fs";
import { randomBytes } from "node:crypto";
import { constants as osConstants } from "node:os";
import { Socket } from "node:net";
import path from "node:path";
import type { Readable } from "node:stream";
import { ClientSideEncryptionError } from "@azure-cse/core-envelope";
import { UsageError } from "./errors.js";

// ------------------------------------------------------------------ interruption cleanup

/** Staging directories of outputs not yet committed (removed on any interruption or exit). */
const liveStaging = new Set<string>();

function removeTree(dir: string): void {
  // A write still being opened by the thread pool can re-populate the directory once; retry until it is gone.
  for (let i = 0; i < 10 && existsSync(dir); i++) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // retried
    }
  }
}

/** Synchronous clean-ups other parts of the CLI registered (e.g. a temporary file of their own). */
const extraCleanups = new Set<() => void>();

/**
 * Registers a synchronous clean-up run on SIGINT/SIGTERM/SIGHUP and at exit, before the process ends; returns the
 * function that unregisters it. For writers that do not use StagedOutputs.
 */
export function onInterruptCleanup(fn: () => void): () => void {
  extraCleanups.add(fn);
  return () => extraCleanups.delete(fn);
}

/** Removes every uncommitted output (synchronous: safe in signal and exit handlers). */
export function removeUncommittedOutputs(): void {
  for (const d of liveStaging) removeTree(d);
  liveStaging.clear();
  for (const fn of extraCleanups) {
    try {
      fn();
    } catch {
      // one failing clean-up must not keep the others from running
    }
  }
  extraCleanups.clear();
}

/** Staging directories currently alive (for tests). */
export function uncommittedOutputCount(): number {
  return liveStaging.size;
}

export const INTERRUPT_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
let installed = false;

/**
 * For the azcse process only: on SIGINT/SIGTERM/SIGHUP remove every uncommitted output, then exit with the
 * conventional 128 + signal number (130, 143, 129); on any exit (including an uncaught error) remove them too.
 */
export function installInterruptCleanup(proc: NodeJS.Process = process): void {
  if (installed) return;
  installed = true;
  for (const sig of INTERRUPT_SIGNALS) {
    proc.on(sig, () => {
      removeUncommittedOutputs();
      proc.exit(128 + osConstants.signals[sig]);
    });
  }
  proc.on("exit", removeUncommittedOutputs);
}

// ------------------------------------------------------------------ inputs

function fsCode(e: unknown): string | undefined {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === "string" ? c : undefined;
}

/** A file-system error on a caller's path, as a typed error naming the flag (missing files are NOT_FOUND, exit 3). */
export function pathError(label: string, file: string, e: unknown, verb: "read" | "write"): Error {
  const code = fsCode(e);
  if (e instanceof UsageError || ClientSideEncryptionError.is(e)) return e as Error;
  if (code === "ENOENT") {
    return verb === "read"
      ? new ClientSideEncryptionError("NOT_FOUND", `${label}: ${file} does not exist`, { cause: e })
      : new UsageError(`${label}: the folder ${path.dirname(file)} does not exist (create it, or give a path in an existing folder)`);
  }
  if (code === "EISDIR") return new UsageError(`${label}: ${file} is a directory, not a file`);
  if (code === "ENOTDIR") return new UsageError(`${label}: a part of ${file} is not a directory`);
  if (code === "EACCES" || code === "EPERM" || code === "EROFS") return new UsageError(`${label}: cannot ${verb} ${file} (${code})`);
  if (code === "ENAMETOOLONG" || code === "ELOOP") return new UsageError(`${label}: ${file} is not a usable path (${code})`);
  if (code !== undefined && /^E[A-Z]+$/.test(code)) return new UsageError(`${label}: cannot ${verb} ${file} (${code})`);
  return e instanceof Error ? e : new Error(String(e));
}

function checkPathValue(label: string, file: string | undefined): string {
  if (file === undefined || file.length === 0) throw new UsageError(`${label} needs a file path`);
  if (file.includes("\0")) throw new UsageError(`${label}: a path cannot contain a NUL character`);
  return file;
}

/** An input path: "-" is standard input (the same as /dev/stdin). */
function inputPath(label: string, file: string | undefined): string {
  const f = checkPathValue(label, file);
  return f === "-" ? "/dev/stdin" : f;
}

/**
 * Reads a whole input named by a flag. Regular files are read directly; FIFOs, pipes and /dev/stdin are read as
 * streams to their end (never judged by their stat size) without blocking the process, so a signal still
 * interrupts a command that waits for its input.
 */
export async function readInputFile(label: string, file: string | undefined): Promise<Buffer> {
  const input = inputFile(label, file);
  if (!input.regular) return readAll(input.open(), label, input.path);
  try {
    return readFileSync(input.path);
  } catch (e) {
    throw pathError(label, input.path, e, "read");
  }
}

export interface InputFile {
  path: string;
  /** A regular file: its size is known and ranges can be read directly. FIFOs, pipes and devices are not. */
  regular: boolean;
  /** Size of a regular file (undefined for streams). */
  size: number | undefined;
  /** Reads the input (a byte range of a regular file), 1 MiB at a time. */
  open(range?: { start: number; end?: number }): Readable;
}

/** Opens an input named by a flag: stat decides only whether it is a regular file, never how much a stream holds. */
export function inputFile(label: string, file: string | undefined): InputFile {
  const f = inputPath(label, file);
  let st: Stats;
  try {
    st = statSync(f);
  } catch (e) {
    throw pathError(label, f, e, "read");
  }
  if (st.isDirectory()) throw new UsageError(`${label}: ${f} is a directory, not a file`);
  const regular = st.isFile();
  const pollable = st.isFIFO() || st.isSocket();
  return {
    path: f,
    regular,
    size: regular ? st.size : undefined,
    open(range) {
      const alias = inheritedFd(f);
      if (pollable && alias !== undefined) {
        // /dev/stdin, /dev/fd/N: use the inherited descriptor itself (a socket cannot be reopened by path: ENXIO).
        return new Socket({ fd: alias, readable: true, writable: false });
      }
      if (pollable) {
        // A FIFO or pipe is read through the event loop (non-blocking fd), not by a thread-pool read that could
        // block forever and keep the process from exiting on a signal. Linux reports no hang-up on a FIFO until
        // a writer has come and gone, so a reader opened before its writer still waits for the data.
        let fd: number;
        try {
          fd = openSync(f, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
        } catch (e) {
          throw pathError(label, f, e, "read");
        }
        return new Socket({ fd, readable: true, writable: false });
      }
      return createReadStream(f, { highWaterMark: 1 << 20, ...(regular && range ? { start: range.start, ...(range.end === undefined ? {} : { end: range.end }) } : {}) });
    },
  };
}

/** The descriptor a path like /dev/stdin, /dev/fd/3 or /proc/self/fd/3 names, if any. */
function inheritedFd(file: string): number | undefined {
  if (file === "/dev/stdin") return 0;
  const m = /^\/(?:dev|proc\/self)\/fd\/(\d{1,6})$/.exec(file);
  return m ? Number(m[1]) : undefined;
}

/** Reads a stream input to its end (for formats whose decoding needs the total length). */
export async function readAll(source: AsyncIterable<Uint8Array>, label: string, file: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  try {
    for await (const c of source) chunks.push(Buffer.from(c));
  } catch (e) {
    throw pathError(label, file, e, "read");
  }
  return Buffer.concat(chunks);
}

// ------------------------------------------------------------------ outputs

export interface OutputSpec {
  /** How the caller named it, e.g. "--out" or "FILE". */
  label: string;
  path: string | undefined;
}

interface Staged {
  label: string;
  target: string;
  dir: string;
  file: string;
}

/** Checks an output path before anything is read or written: its directory exists and it is not a directory. */
export function checkOutputPath(label: string, file: string | undefined): string {
  const f = checkPathValue(label, file);
  if (f.endsWith("/") || f.endsWith(path.sep)) throw new UsageError(`${label}: ${f} names a directory; give a file path`);
  const target = path.resolve(f);
  const parent = path.dirname(target);
  let st: Stats;
  try {
    st = statSync(parent);
  } catch (e) {
    throw pathError(label, f, e, "write");
  }
  if (!st.isDirectory()) throw new UsageError(`${label}: a part of ${f} is not a directory`);
  try {
    if (lstatSync(target).isDirectory()) throw new UsageError(`${label}: ${f} is a directory, not a file`);
  } catch (e) {
    if (fsCode(e) !== "ENOENT") throw pathError(label, f, e, "write");
  }
  return target;
}

/**
 * Outputs of one command, staged in private hidden directories (mode 0700, files 0600) next to their targets and
 * renamed into place together by `commit()`. Until then nothing is visible under the target names, and `abort()`,
 * an error or an interrupting signal leaves no new directory entry at all.
 */
export class StagedOutputs {
  readonly #entries: Staged[] = [];
  #done = false;
  readonly #overwrite: boolean;

  /**
   * `overwrite: false` (the commands' default, `--overwrite` turns it on) refuses an existing target before anything
   * is staged, and commits without ever replacing one (a file that appeared meanwhile is refused too).
   */
  constructor(specs: readonly OutputSpec[], options: { overwrite?: boolean } = {}) {
    this.#overwrite = options.overwrite ?? true;
    const targets = specs.map((s) => ({ label: s.label, target: checkOutputPath(s.label, s.path), given: s.path! }));
    if (!this.#overwrite) {
      for (const t of targets) if (lstatOrUndefined(t.target)) throw existsError(t.label, t.given);
    }
    for (let i = 0; i < targets.length; i++) {
      for (let j = 0; j < i; j++) {
        if (targets[i]!.target === targets[j]!.target) throw new UsageError(`${targets[j]!.label} and ${targets[i]!.label} name the same file`);
      }
    }
    try {
      for (const { label, target } of targets) {
        const dir = path.join(path.dirname(target), `.${path.basename(target).slice(0, 64)}.${randomBytes(6).toString("hex")}.azcse-tmp`);
        liveStaging.add(dir); // registered first: a signal between mkdir and the next line still removes it
        try {
          mkdirSync(dir, { mode: 0o700 });
        } catch (e) {
          liveStaging.delete(dir);
          throw pathError(label, target, e, "write");
        }
        this.#entries.push({ label, target, dir, file: path.join(dir, "data") });
      }
    } catch (e) {
      this.abort();
      throw e;
    }
  }

  /** The staged file of output `i` (inside the private directory). */
  stagedPath(i = 0): string {
    return this.#entry(i).file;
  }

  #entry(i: number): Staged {
    const e = this.#entries[i];
    if (!e || this.#done) throw new Error("output is not staged");
    return e;
  }

  /** Writes output `i` in one go. */
  writeFile(i: number, data: Uint8Array | string): void {
    const fd = this.#open(i);
    try {
      const buf = typeof data === "string" ? Buffer.from(data, "utf8") : data;
      writeAll(fd, buf);
    } finally {
      closeSync(fd);
    }
  }

  /** Streams output `i` (synchronous writes: the file's state is always known to the signal handler). */
  async writeStream(i: number, source: AsyncIterable<Uint8Array>): Promise<number> {
    return writeStreamTo(this.#open(i), source);
  }

  /**
   * Copies a stream input into a scratch file inside output `i`'s private directory (removed with it on commit,
   * failure or signal): for decoders that need a length, without holding the whole stream in memory.
   */
  async spool(i: number, name: string, source: AsyncIterable<Uint8Array>): Promise<{ path: string; size: number }> {
    const e = this.#entry(i);
    const file = path.join(e.dir, `scratch-${name}`);
    let fd: number;
    try {
      fd = openSync(file, "wx", 0o600);
    } catch (err) {
      throw pathError(e.label, e.target, err, "write");
    }
    return { path: file, size: await writeStreamTo(fd, source) };
  }

  #open(i: number): number {
    const e = this.#entry(i);
    try {
      return openSync(e.file, "wx", 0o600);
    } catch (err) {
      throw pathError(e.label, e.target, err, "write");
    }
  }

  /**
   * Renames every staged output into place. If one rename fails, the ones already done are undone (a replaced
   * file gets its previous content back, a new one is removed), so the outputs appear together or not at all.
   */
  commit(options: { exclusive?: boolean } = {}): void {
    const done: Array<{ target: string; previous?: string }> = [];
    const exclusive = options.exclusive || !this.#overwrite;
    try {
      for (const e of this.#entries) {
        if (exclusive) {
          // Never replaces anything: link() fails with EEXIST when the target exists, even if it appeared just now.
          try {
            linkSync(e.file, e.target);
          } catch (err) {
            if (fsCode(err) === "EEXIST") throw options.exclusive ? new UsageError(`${e.label}: ${e.target} already exists; refusing to overwrite it`) : existsError(e.label, e.target);
            throw pathError(e.label, e.target, err, "write");
          }
          done.push({ target: e.target });
          continue;
        }
        let previous: string | undefined;
        const existing = lstatOrUndefined(e.target);
        if (existing?.isDirectory()) throw new UsageError(`${e.label}: ${e.target} is a directory, not a file`);
        if (existing) {
          previous = path.join(e.dir, "previous");
          try {
            linkSync(e.target, previous);
          } catch {
            renameSync(e.target, previous);
          }
        }
        try {
          renameSync(e.file, e.target);
        } catch (err) {
          if (previous !== undefined && !existsOrLink(e.target)) renameSync(previous, e.target);
          throw pathError(e.label, e.target, err, "write");
        }
        done.push({ target: e.target, previous });
      }
    } catch (err) {
      for (const d of done.reverse()) {
        try {
          if (d.previous !== undefined) renameSync(d.previous, d.target);
          else unlinkSync(d.target);
        } catch {
          // best effort: the original error is what the caller needs
        }
      }
      this.abort();
      throw err;
    }
    this.abort();
  }

  /** Removes every staged output (idempotent). */
  abort(): void {
    this.#done = true;
    for (const e of this.#entries) {
      removeTree(e.dir);
      liveStaging.delete(e.dir);
    }
  }

  /** Runs `fn` with the staged outputs, commits on success, removes them on any failure. */
  async run<T>(fn: (out: StagedOutputs) => Promise<T> | T): Promise<T> {
    try {
      const r = await fn(this);
      this.commit();
      return r;
    } catch (e) {
      this.abort();
      throw e;
    }
  }
}

function existsError(label: string, file: string): UsageError {
  return new UsageError(`${label}: ${file} already exists; pass --overwrite to replace it`);
}

function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

function existsOrLink(p: string): boolean {
  return lstatOrUndefined(p) !== undefined;
}

/** Writes a stream to an open file descriptor (closed at the end), gathering small chunks into ~1 MiB writes. */
async function writeStreamTo(fd: number, source: AsyncIterable<Uint8Array>): Promise<number> {
  let total = 0;
  // Small chunks (e.g. 2.1 regions of a few bytes) are gathered into writes of about 1 MiB.
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  const flush = (): void => {
    if (pendingBytes === 0) return;
    writeAll(fd, pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes));
    pending = [];
    pendingBytes = 0;
  };
  try {
    for await (const c of source) {
      total += c.length;
      if (c.length >= WRITE_SIZE && pendingBytes === 0) {
        writeAll(fd, c);
        continue;
      }
      pending.push(Buffer.from(c)); // a copy: the producer may reuse its buffer once we ask for the next chunk
      pendingBytes += c.length;
      if (pendingBytes >= WRITE_SIZE) flush();
    }
    flush();
  } finally {
    closeSync(fd);
  }
  return total;
}

const WRITE_SIZE = 1 << 20;

function writeAll(fd: number, chunk: Uint8Array): void {
  let off = 0;
  while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
}
