// Unit tests of the operations engine: block-size rule, resumable runner and state file, progress, exit codes.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { v2StoredLength } from "@azure-cse/core-envelope";
import {
  buildReport,
  chooseBlockSize,
  estimateRemainingMs,
  exitCodeOf,
  MAX_BLOCK_SIZE,
  MAX_BLOCKS_PER_BLOB,
  ProgressReporter,
  reencryptedStoredUpperBound,
  renderBar,
  runResumable,
  RunState,
  type ListedPage,
  type ObjectOutcome,
  type RunIdentity,
} from "../src/ops/index.js";

const dir = mkdtempSync(path.join(tmpdir(), "azcse-ops-engine-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const MiB = 1024 * 1024;
const GB = 1e9;
const TiB = 1024 ** 4;

describe("block size from the blob size (50,000-block limit, 4000 MiB blocks)", () => {
  it.each([0, 1, 4 * MiB, 195 * 1024 * MiB, 200 * GB, 1 * TiB, 50 * TiB, 190 * TiB])("stored %d bytes fit in at most 50,000 blocks of at most 4000 MiB", (stored) => {
    const size = chooseBlockSize(stored);
    expect(size).toBeGreaterThanOrEqual(4 * MiB);
    expect(size).toBeLessThanOrEqual(MAX_BLOCK_SIZE);
    expect(Math.ceil(stored / size)).toBeLessThanOrEqual(MAX_BLOCKS_PER_BLOB);
  });
  it("4 MiB blocks while they suffice; larger blocks (whole MiB) for a 1 TiB blob; refuses beyond the service maximum", () => {
    expect(chooseBlockSize(100 * GB)).toBe(4 * MiB);
    expect(chooseBlockSize(1 * TiB) % MiB).toBe(0);
    expect(chooseBlockSize(1 * TiB)).toBe(21 * MiB);
    expect(() => chooseBlockSize(MAX_BLOCK_SIZE * MAX_BLOCKS_PER_BLOB + 1)).toThrow(expect.objectContaining({ code: "PAYLOAD_TOO_LARGE" }));
  });
  it("the bound accounts for 2.x overhead after re-encryption (a 2.1 16-byte region nearly triples the size)", () => {
    expect(reencryptedStoredUpperBound(1000, undefined, 4 * MiB)).toBe(v2StoredLength(1000, 4 * MiB));
    expect(reencryptedStoredUpperBound(1600, 1600, 16)).toBe(100 * 44);
  });
});

function identity(extra: Partial<RunIdentity> = {}): RunIdentity {
  return { operation: "migrate", target: "blob", resource: "http://acct/c", scope: { prefix: null }, settings: { to: "2.0", regionSize: null, newKeyId: "k" }, ...extra };
}

function pagesOf(names: string[], size: number): (from: string | null) => AsyncIterable<ListedPage<string>> {
  return async function* (from) {
    let start = from === null ? 0 : Number(from);
    while (start < names.length) {
      const next = start + size < names.length ? String(start + size) : null;
      yield { token: start === 0 ? null : String(start), next, items: names.slice(start, start + size) };
      start += size;
    }
  };
}

describe("resumable runner + state file (checkpoint after every object, continuation marker + open-page keys)", () => {
  it("a run that dies part-way resumes with every object finished exactly once (except the ones in flight, which are redone)", async () => {
    const names = Array.from({ length: 23 }, (_, i) => `o${String(i).padStart(2, "0")}`);
    const file = path.join(dir, "crash.json");
    const calls: string[] = [];
    const step = (crashAt: number | undefined) => async (name: string, ctx: { markInFlight(e: string): void }) => {
      calls.push(name);
      ctx.markInFlight(`etag-${name}`);
      if (crashAt !== undefined && calls.length === crashAt) throw new Error("simulated crash");
      await new Promise((r) => setTimeout(r, (name.charCodeAt(2) % 3) * 2));
      return { key: name, name, outcome: "migrated", plaintextBytes: 10 } as ObjectOutcome;
    };
    const progress = new ProgressReporter("none", () => undefined);
    const s1 = RunState.open(file, identity());
    await expect(runResumable({ pages: pagesOf(names, 4), keyOf: (n) => n, step: step(11), state: s1, concurrency: 3, progress })).rejects.toThrow("simulated crash");
    const cp = JSON.parse(readFileSync(file, "utf8"));
    expect(cp.complete).toBe(false);
    expect(Object.keys(cp.inFlight).length).toBeGreaterThan(0);
    const firstRun = new Set(s1.outcomes().map((o) => o.key));
    calls.length = 0;
    const s2 = RunState.open(file, identity());
    expect(s2.checkpoint.runs).toBe(2);
    const res = await runResumable({ pages: pagesOf(names, 4), keyOf: (n) => n, step: step(undefined), state: s2, concurrency: 3, progress });
    expect(res.complete).toBe(true);
    // Nothing finished by the first run is done again; everything else is done once.
    for (const n of calls) expect(firstRun.has(n), n).toBe(false);
    expect(new Set(calls).size).toBe(calls.length);
    expect(s2.outcomes().map((o) => o.key).sort()).toEqual(names);
    expect(JSON.parse(readFileSync(file, "utf8"))).toMatchObject({ complete: true, inFlight: {} });
  });

  it("a torn last journal line (kill mid-append) is ignored and the next append starts a fresh line", async () => {
    const file = path.join(dir, "torn.json");
    const s1 = RunState.open(file, identity());
    void s1.record({ key: "a", name: "a", outcome: "migrated" });
    appendFileSync(`${file}.journal.jsonl`, '{"key":"b","outc');
    const s2 = RunState.open(file, identity());
    void s2.record({ key: "c", name: "c", outcome: "skipped", reason: "changed" });
    const s3 = RunState.open(file, identity());
    expect(s3.outcomes().map((o) => o.key).sort()).toEqual(["a", "c"]);
  });

  it("an earlier 'migrated' outcome is not replaced by a later 'already-current' skip of the same object", () => {
    const file = path.join(dir, "keep.json");
    void RunState.open(file, identity()).record({ key: "a", name: "a", outcome: "migrated" });
    const s = RunState.open(file, identity());
    void s.record({ key: "a", name: "a", outcome: "skipped", reason: "already-current" });
    expect(s.outcomes()).toEqual([{ key: "a", name: "a", outcome: "migrated" }]);
  });

  it("a state file of another run or a non-state file is refused with INVALID_ARGUMENT", () => {
    const file = path.join(dir, "other.json");
    RunState.open(file, identity());
    expect(() => RunState.open(file, identity({ scope: { prefix: "x/" } }))).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    writeFileSync(path.join(dir, "junk.json"), "{not json");
    expect(() => RunState.open(path.join(dir, "junk.json"), identity())).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    expect(existsSync(path.join(dir, ".other.json." + process.pid + ".tmp"))).toBe(false);
  });
});

describe("progress and report", () => {
  it("the bar shows objects, bytes and an ETA from the byte rate", () => {
    const s = { objectsDone: 5, objectsTotal: 20, bytesDone: 25 * MiB, bytesTotal: 100 * MiB, skipped: 1, failed: 0, elapsedMs: 10_000 };
    expect(estimateRemainingMs(s)).toBe(30_000);
    const line = renderBar(s, 20);
    expect(line).toBe("[#####...............]  25% 5/20 objects  25.0 MiB/100 MiB  1 skipped  ETA 30s");
    expect(renderBar({ ...s, objectsTotal: undefined, bytesTotal: undefined, bytesDone: 0 }, 4)).toBe("[....]  --% 5/? objects  0 B/?  1 skipped  ETA --");
  });
  it("lines mode prints one line per object; bar mode redraws one line on a terminal", () => {
    let out = "";
    const p = new ProgressReporter("lines", (s) => (out += s));
    p.setTotals(2, 10);
    p.objectDone({ key: "a", name: "a", outcome: "migrated", from: { protocol: "1.0", keyId: "old" }, to: { protocol: "2.0", keyId: "new" }, plaintextBytes: 10 }, 10);
    p.objectDone({ key: "b", name: "b", outcome: "failed", code: "KEY_NOT_FOUND" });
    expect(out).toBe("[1/2] migrated a 1.0 old -> 2.0 new 10 B\n[2/2] failed b: KEY_NOT_FOUND\n");
    let bar = "";
    const b = new ProgressReporter("bar", (s) => (bar += s));
    b.setTotals(1, 10);
    b.objectDone({ key: "a", name: "a", outcome: "migrated", plaintextBytes: 10 }, 10);
    b.finish();
    expect(bar).toContain("\r[########################] 100% 1/1 objects");
    expect(bar.endsWith("\n")).toBe(true);
  });
  it("exit codes: 0 without failures (skips are not errors), 2 for key/crypto failures or a failed verify, 4 for service failures", () => {
    const base = { operation: "migrate", target: "blob", resource: "r", scope: {}, settings: {}, dryRun: false, stateFile: null, runs: 1, complete: true, startedAt: "" } as const;
    expect(exitCodeOf(buildReport(base, [{ key: "a", outcome: "skipped", reason: "changed" }]))).toBe(0);
    expect(exitCodeOf(buildReport(base, [{ key: "a", outcome: "failed", code: "KEY_NOT_FOUND" }]))).toBe(2);
    expect(exitCodeOf(buildReport(base, [{ key: "a", outcome: "failed", code: "SERVICE_ERROR" }]))).toBe(4);
    const r = buildReport(base, [{ key: "b", name: "b", outcome: "migrated", plaintextBytes: 3, storedBytes: 16, newStoredBytes: 31 }]);
    expect(r.totals).toMatchObject({ objects: 1, done: 1, plaintextBytes: 3, storedBytesBefore: 16, storedBytesAfter: 31 });
    expect(exitCodeOf({ ...r, verify: { checked: 1, ok: 0, unencrypted: 0, stillOldKey: [{ key: "b", keyId: "old" }], failed: [], passed: false } })).toBe(2);
  });
});
