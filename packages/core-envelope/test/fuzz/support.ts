// Shared budget and assertions for the fuzz/property suite. The budget is the testkit's (as in the queue and
// table fuzz suites): CI runs a fixed, small budget (the whole folder in well under 30 s). A longer run:
//   AZCSE_FUZZ_RUNS=5000 vitest run test/fuzz        (runs per property, overrides every default)
//   AZCSE_FUZZ_SEED=1234 vitest run test/fuzz        (replay the seed fast-check printed on a failure)
import v8 from "node:v8";
import vm from "node:vm";
import { performance } from "node:perf_hooks";
import { expect } from "vitest";
import { ClientSideEncryptionError, type ClientSideEncryptionErrorCode } from "@azure-cse/core-envelope";

export { budget, timeoutFor } from "@azure-cse/testkit/fuzz";

/**
 * Runs `fn`, returning its value or the error it threw. Anything that is not a ClientSideEncryptionError
 * with one of `codes` fails the test with a description of what was thrown.
 */
export function expectTypedOutcome<T>(fn: () => T, codes: readonly ClientSideEncryptionErrorCode[]): { ok: true; value: T } | { ok: false; error: ClientSideEncryptionError } {
  try {
    return { ok: true, value: fn() };
  } catch (e) {
    assertTypedError(e, codes);
    return { ok: false, error: e };
  }
}

/** Asserts `e` is a ClientSideEncryptionError whose code is one of `codes`, with a bounded message. */
export function assertTypedError(e: unknown, codes: readonly ClientSideEncryptionErrorCode[]): asserts e is ClientSideEncryptionError {
  if (!ClientSideEncryptionError.is(e)) {
    const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    expect.fail(`expected a ClientSideEncryptionError (${codes.join("|")}), got ${what.slice(0, 300)}`);
  }
  if (!codes.includes(e.code)) expect.fail(`expected code ${codes.join("|")}, got ${e.code}: ${e.message.slice(0, 300)}`);
  // Messages never echo unbounded input back (metadata can be attacker-controlled and megabytes long).
  expect(e.message.length).toBeLessThan(1024);
}

/** Collects an async byte stream; returns what was released before a failure, and the failure. */
export async function drain(source: AsyncIterable<Uint8Array>): Promise<{ output: Buffer; error: unknown }> {
  const parts: Buffer[] = [];
  try {
    for await (const c of source) parts.push(Buffer.from(c));
    return { output: Buffer.concat(parts), error: undefined };
  } catch (error) {
    return { output: Buffer.concat(parts), error };
  }
}

/** Splits `bytes` at the given cut points (any numbers, reduced modulo the length); may yield empty chunks. */
export function chunked(bytes: Uint8Array, cuts: readonly number[]): Buffer[] {
  const b = Buffer.from(bytes);
  const points = [...new Set(cuts.map((c) => (b.length === 0 ? 0 : c % (b.length + 1))))].sort((x, y) => x - y);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(b.subarray(prev, p));
    prev = p;
  }
  out.push(b.subarray(prev));
  return out;
}

/** An async source yielding `chunks` one per tick, like a network stream. */
export async function* asyncChunks(chunks: readonly Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const c of chunks) {
    await Promise.resolve();
    yield c;
  }
}

let gcFn: (() => void) | undefined;
/** A real `gc()` without --expose-gc (flag set at runtime, function taken from a fresh context). */
export function forceGc(): void {
  if (!gcFn) {
    v8.setFlagsFromString("--expose-gc");
    gcFn = vm.runInNewContext("gc") as () => void;
  }
  gcFn();
}

/** Per-input resource bound: wall time and heap growth while `fn` runs (garbage included). */
export interface ResourceBound {
  maxMs: number;
  maxHeapGrowthBytes: number;
}

export function withinBounds<T>(bound: ResourceBound, fn: () => T): T {
  const heap0 = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  const value = fn();
  const elapsed = performance.now() - t0;
  const grown = process.memoryUsage().heapUsed - heap0;
  if (elapsed > bound.maxMs) expect.fail(`input took ${elapsed.toFixed(1)} ms (bound ${bound.maxMs} ms)`);
  if (grown > bound.maxHeapGrowthBytes) expect.fail(`input grew the heap by ${grown} bytes (bound ${bound.maxHeapGrowthBytes})`);
  return value;
}

/** Heap retained across a whole property run (after full GCs) stays under `maxBytes`. */
export async function expectNoRetainedGrowth(maxBytes: number, run: () => Promise<void> | void): Promise<void> {
  forceGc();
  const before = process.memoryUsage().heapUsed;
  await run();
  forceGc();
  const after = process.memoryUsage().heapUsed;
  expect(after - before, `heap retained after the run: ${after - before} bytes`).toBeLessThan(maxBytes);
}
