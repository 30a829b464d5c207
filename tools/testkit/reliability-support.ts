// Shared pieces of the reliability suites (fault injection, secrets canary) of the blob, queue, table and CLI
// packages. It imports no workspace package, so every package's tests can use it by relative path; typed
// errors are recognised by the cross-copy marker that ClientSideEncryptionError.is() checks.
import { inspect } from "node:util";
import { realpathSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { FaultProxy, FaultProxyStats } from "../fault-proxy/index.mjs";

const TYPED_ERROR_MARKER = Symbol.for("@azure-cse/core-envelope.ClientSideEncryptionError");
interface TypedError {
  code: string;
  message: string;
}
/** Same test as ClientSideEncryptionError.is(): works for every copy of the library. */
function isTypedError(e: unknown): e is TypedError {
  return typeof e === "object" && e !== null && (e as Record<symbol, unknown>)[TYPED_ERROR_MARKER] === true;
}

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return n;
}

/** Seed of the fault proxy (AZCSE_FAULT_SEED replays another run). */
export function faultSeed(fallback: number): number {
  return envInt("AZCSE_FAULT_SEED", fallback);
}

/** Fast SDK retries, as docs/security.md §8.3 recommends. */
export const FAST_RETRIES = { maxTries: 6, retryDelayInMs: 10, maxRetryDelayInMs: 80 } as const;

/** Faults injected by kind (delays excluded: they are not disruptive). */
export function disruptive(stats: FaultProxyStats): number {
  return stats.faultsInjected - stats.faults.delay;
}

export interface SuiteReport {
  suite: string;
  seed: number;
  operations: number;
  requests: number;
  faults: Record<string, number>;
  /** Operations that succeeded although a fault hit one of their requests. */
  recovered: number;
  /** Operations that failed with a typed error. */
  typedFailures: number;
  /** Outcomes that are allowed only because the format documents them (CBC has no integrity). */
  documentedWeakness: number;
  /** Verifier violations: must be 0. */
  dataLost: number;
  extra?: Record<string, number>;
}

/**
 * Counts what one fault-injection suite did. Every operation goes through `run`, which measures the
 * disruptive faults injected while it ran and classifies the outcome.
 */
export class FaultLedger {
  operations = 0;
  recovered = 0;
  typedFailures = 0;
  documentedWeakness = 0;
  readonly violations: string[] = [];
  readonly failureCodes: Record<string, number> = {};
  readonly extra: Record<string, number> = {};

  constructor(
    readonly suite: string,
    readonly proxy: FaultProxy,
    readonly seed: number,
  ) {}

  /**
   * Runs one operation. A rejection must satisfy `isTyped` (else it is recorded as a violation and
   * returned as an untyped failure). Returns the value or the error plus how many faults hit it.
   */
  async run<T>(
    label: string,
    op: () => Promise<T>,
    isTyped: (e: unknown) => boolean,
  ): Promise<{ ok: true; value: T; faults: number } | { ok: false; error: unknown; faults: number }> {
    this.operations++;
    const before = disruptive(this.proxy.stats());
    try {
      const value = await op();
      const faults = disruptive(this.proxy.stats()) - before;
      if (faults > 0) this.recovered++;
      return { ok: true, value, faults };
    } catch (error) {
      const faults = disruptive(this.proxy.stats()) - before;
      if (isTyped(error)) {
        this.typedFailures++;
        const key = isTypedError(error) ? error.code : `http:${String((error as { statusCode?: unknown }).statusCode ?? (error as { code?: unknown }).code)}`;
        this.failureCodes[key] = (this.failureCodes[key] ?? 0) + 1;
      } else {
        this.violation(`${label}: untyped failure ${describe(error)}`);
      }
      return { ok: false, error, faults };
    }
  }

  violation(what: string): void {
    this.violations.push(what);
  }

  count(name: string, n = 1): void {
    this.extra[name] = (this.extra[name] ?? 0) + n;
  }

  report(): SuiteReport {
    const s = this.proxy.stats();
    const faults: Record<string, number> = {};
    for (const [k, v] of Object.entries(s.faults)) if (v > 0) faults[k] = v;
    return {
      suite: this.suite,
      seed: this.seed,
      operations: this.operations,
      requests: s.requests,
      faults,
      recovered: this.recovered,
      typedFailures: this.typedFailures,
      documentedWeakness: this.documentedWeakness,
      dataLost: this.violations.length,
      extra: { ...this.extra, ...Object.fromEntries(Object.entries(this.failureCodes).map(([k, v]) => [`fail:${k}`, v])) },
    };
  }
}

export function describe(e: unknown): string {
  if (isTypedError(e)) return `${e.code}: ${e.message.slice(0, 200)}`;
  if (e instanceof Error) return `${e.name}${(e as { code?: unknown }).code ? `(${String((e as { code?: unknown }).code)})` : ""}: ${e.message.slice(0, 200)}`;
  return String(e).slice(0, 200);
}

/** A ClientSideEncryptionError with one of `codes`. */
export function typedWith(codes: readonly string[]): (e: unknown) => boolean {
  return (e) => isTypedError(e) && codes.includes(e.code);
}

// ------------------------------------------------------------------ secrets canary

/** Failures collected for a secrets scan: every error thrown, and every operation that did not fail as expected. */
export interface FailureCollector {
  readonly errors: Array<[string, unknown]>;
  readonly problems: string[];
  /** Runs `op`, which must fail with `expected`: a typed error code, or `http:<status>` for a service error. */
  fail: (label: string, op: () => Promise<unknown>, expected: string) => Promise<void>;
}

export function failureCollector(): FailureCollector {
  const errors: Array<[string, unknown]> = [];
  const problems: string[] = [];
  const fail = async (label: string, op: () => Promise<unknown>, expected: string): Promise<void> => {
    try {
      await op();
      problems.push(`${label}: did not fail`);
    } catch (e) {
      errors.push([label, e]);
      const code = isTypedError(e) ? e.code : `http:${String((e as { statusCode?: unknown }).statusCode)}`;
      if (code !== expected) problems.push(`${label}: expected ${expected}, got ${code}`);
    }
  };
  return { errors, problems, fail };
}


export interface Needle {
  label: string;
  text: string;
}

/** Every printable form of a secret we look for: utf8/latin1, hex (both cases, spaced), base64 (3 alignments), base64url, byte lists. */
export function needles(label: string, secret: Uint8Array, options: { text?: boolean } = {}): Needle[] {
  const b = Buffer.from(secret);
  const out: Needle[] = [];
  const add = (form: string, text: string): void => {
    if (text.length >= 12) out.push({ label: `${label} (${form})`, text });
  };
  if (options.text) add("utf8", b.toString("utf8"));
  add("latin1", b.toString("latin1"));
  add("hex", b.toString("hex"));
  add("HEX", b.toString("hex").toUpperCase());
  add("spaced hex", [...b.subarray(0, 24)].map((x) => x.toString(16).padStart(2, "0")).join(" "));
  add("byte list", [...b.subarray(0, 24)].join(","));
  add("byte list, spaced", [...b.subarray(0, 24)].join(", "));
  for (let shift = 0; shift < 3; shift++) {
    const part = b.subarray(shift);
    // Drop the last (possibly padded/partial) quantum so the needle matches wherever the secret sits in a longer base64 text.
    const b64 = part.toString("base64");
    add(`base64+${shift}`, b64.slice(0, Math.max(0, Math.floor((part.length / 3) | 0) * 4 - 4)));
    const url = part.toString("base64url");
    add(`base64url+${shift}`, url.slice(0, Math.max(0, Math.floor((part.length / 3) | 0) * 4 - 4)));
  }
  return out;
}

/** Returns the labels of the needles found in `haystack`. */
export function findNeedles(haystack: string, list: readonly Needle[]): string[] {
  const found: string[] = [];
  for (const n of list) if (haystack.includes(n.text)) found.push(n.label);
  return found;
}

/** The needles of a canary run: the plaintext (as text too), each KEK's bytes and each CEK a recordingRandom handed out. */
export function canaryNeedles(canary: { plaintext: string; keks: Record<string, Uint8Array>; ceks: readonly Uint8Array[] }): Needle[] {
  return [
    ...needles("plaintext", Buffer.from(canary.plaintext), { text: true }),
    ...Object.entries(canary.keks).flatMap(([label, bytes]) => needles(label, bytes)),
    ...canary.ceks.flatMap((c, i) => needles(`CEK ${i}`, c)),
  ];
}

/** Every needle found in the captured output or in a collected error (rendered by renderError), labelled by where. */
export function findLeaks(captured: string, errors: ReadonlyArray<[string, unknown]>, list: readonly Needle[]): string[] {
  return [...findNeedles(captured, list).map((n) => `output: ${n}`), ...errors.flatMap(([label, e]) => findNeedles(renderError(e), list).map((n) => `${label}: ${n}`))];
}

/** Message, String(), JSON, util.inspect (causes included), stack and details of a thrown value. */
export function renderError(e: unknown): string {
  const parts: string[] = [];
  const seen = new Set<unknown>();
  let cur: unknown = e;
  for (let depth = 0; cur !== undefined && cur !== null && depth < 8 && !seen.has(cur); depth++) {
    seen.add(cur);
    parts.push(cur instanceof Error ? cur.toString() : inspect(cur));
    try {
      parts.push(JSON.stringify(cur));
    } catch {
      parts.push("[unserializable]");
    }
    if (cur instanceof Error) {
      parts.push(cur.message, cur.stack ?? "");
      try {
        parts.push(JSON.stringify((cur as { details?: unknown }).details ?? null));
      } catch {
        parts.push("[unserializable details]");
      }
      cur = (cur as { cause?: unknown }).cause;
    } else {
      break;
    }
  }
  parts.push(inspect(e, { depth: 12, showHidden: false, maxStringLength: Infinity, maxArrayLength: Infinity }));
  return parts.join("\n");
}

/** Captured output of the Azure SDK logger, console.*, process.stdout and process.stderr. */
export interface OutputCapture {
  /** Everything captured so far. */
  text(): string;
  /** Lines the Azure SDK logger emitted. */
  azureLines(): number;
  restore(): void;
}

interface AzureLoggerModule {
  setLogLevel(level?: string): void;
  getLogLevel(): string | undefined;
  AzureLogger: { log: (...args: unknown[]) => void };
}

/**
 * Loads the very @azure/logger instance the storage SDK uses (resolved from `sdkPackage`, e.g.
 * "@azure/storage-blob", without installing anything): its ESM build through the real path, which is
 * the module Node loads when the SDK imports it.
 */
export async function loadAzureLogger(sdkPackage: string): Promise<AzureLoggerModule> {
  const req = createRequire(path.join(process.cwd(), "package.json"));
  const sdkMain = req.resolve(sdkPackage);
  const sdkRoot = sdkMain.slice(0, sdkMain.lastIndexOf(`${path.sep}dist${path.sep}`));
  const sdkReq = createRequire(path.join(realpathSync(sdkRoot), "package.json"));
  const loggerCjs = sdkReq.resolve("@azure/logger");
  const loggerRoot = loggerCjs.slice(0, loggerCjs.lastIndexOf(`${path.sep}dist${path.sep}`));
  const esm = path.join(realpathSync(loggerRoot), "dist", "esm", "index.js");
  return (await import(pathToFileURL(esm).href)) as AzureLoggerModule;
}

/** Sets the Azure SDK logger to verbose and captures it plus console/stdout/stderr until `restore()`. */
export function captureOutput(logger: AzureLoggerModule): OutputCapture {
  const chunks: string[] = [];
  let azure = 0;
  const fmt = (args: unknown[]): string => args.map((a) => (typeof a === "string" ? a : inspect(a, { depth: 8, maxStringLength: Infinity }))).join(" ");
  const previousLevel = logger.getLogLevel();
  const originalLog = logger.AzureLogger.log;
  logger.AzureLogger.log = (...args: unknown[]) => {
    azure++;
    chunks.push(fmt(args));
  };
  logger.setLogLevel("verbose");
  const consoleMethods = ["log", "info", "warn", "error", "debug", "trace"] as const;
  const savedConsole = consoleMethods.map((m) => [m, console[m]] as const);
  for (const m of consoleMethods) {
    console[m] = (...args: unknown[]) => {
      chunks.push(fmt(args));
    };
  }
  // eslint-disable-next-line @typescript-eslint/unbound-method -- saved only to be put back unchanged
  const outWrite = process.stdout.write;
  // eslint-disable-next-line @typescript-eslint/unbound-method -- saved only to be put back unchanged
  const errWrite = process.stderr.write;
  const grab = (chunk: unknown): boolean => {
    chunks.push(typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString("latin1"));
    return true;
  };
  process.stdout.write = grab as typeof process.stdout.write;
  process.stderr.write = grab as typeof process.stderr.write;
  return {
    text: () => chunks.join("\n"),
    azureLines: () => azure,
    restore: () => {
      process.stdout.write = outWrite;
      process.stderr.write = errWrite;
      for (const [m, f] of savedConsole) console[m] = f;
      logger.AzureLogger.log = originalLog;
      logger.setLogLevel(previousLevel as never);
    },
  };
}

/** A KEK key whose bytes are easy to recognise in any encoding. */
export function canaryKeyBytes(tag: string): Buffer {
  const b = Buffer.alloc(32);
  const pattern = Buffer.from(`KEKCANARY-${tag}-`, "latin1");
  for (let i = 0; i < 32; i++) b[i] = pattern[i % pattern.length]!;
  return b;
}

/**
 * A RandomSource for the policy (tests only) that records every 32-byte value it hands out — the content
 * keys — so the scan can look for every CEK. Other sizes (IVs, which are public) come from a counter.
 */
export function recordingRandom(tag: string): { random: (n: number) => Uint8Array; ceks: Buffer[] } {
  const ceks: Buffer[] = [];
  let counter = 0;
  const random = (n: number): Uint8Array => {
    counter++;
    const b = Buffer.alloc(n);
    const pattern = Buffer.from(`CEK-${tag}-${counter}-`, "latin1");
    for (let i = 0; i < n; i++) b[i] = (pattern[i % pattern.length]! + Math.floor(i / pattern.length) * 7 + counter) & 0xff;
    if (n === 32) ceks.push(Buffer.from(b));
    return b;
  };
  return { random, ceks };
}
