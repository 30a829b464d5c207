// Unit tests of the fleet-scale pieces of the operations engine: the documented shard hash (checked against an
// independent Python implementation of the formula in docs/operations.md), the journal cut back to its
// checkpoint, the upgrade of older state files, grouped checkpoints, summary progress lines, report merge
// rules and exit code 5 for local limits.
import { spawnSync } from "node:child_process";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PYTHON } from "@azure-cse/testkit";
import { EXIT_LOCAL, parseShard, ProgressReporter, RunState, shardOfEntity, shardOfName, STATE_FORMAT, type ObjectOutcome, type RunIdentity } from "../src/ops/index.js";
import { isLocalResourceError } from "../src/ops/local-errors.js";
import { renderSummaryLine } from "../src/ops/progress.js";
import { mergeReports } from "../src/commands/report.js";
import { azcse, makeKey } from "./ops-helpers.js";

const dir = mkdtempSync(path.join(tmpdir(), "azcse-ops-units-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const identity: RunIdentity = { operation: "migrate", target: "blob", resource: "http://acct/c", scope: { prefix: null }, settings: { to: "2.0", regionSize: null, newKeyId: "k" } };
const migrated = (key: string): ObjectOutcome => ({ key, name: key, outcome: "migrated", plaintextBytes: 10, storedBytes: 16, newStoredBytes: 38 });

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe("--shard K/N: the documented stable hash", () => {
  it("matches an independent Python implementation of the formula for blob names and entity keys (Unicode included)", () => {
    const names = ["a", "data/2023/01/x.bin", "ünïcödé/名前/🙂", "", "x".repeat(1024)];
    const entities: Array<[string, string]> = [["p1", "r1"], ["p", "1r"], ["p1r", ""], ["日本", "行"]];
    const counts = [1, 2, 7, 32, 1000];
    const py = spawnSync(
      PYTHON,
      [
        "-c",
        `import hashlib, json, sys
req = json.load(sys.stdin)
h = lambda b, n: int.from_bytes(hashlib.sha256(b).digest()[:6], "big") % n
print(json.dumps({"names": [[h(s.encode(), n) for n in req["counts"]] for s in req["names"]],
                  "entities": [[h(pk.encode() + b"\\x00" + rk.encode(), n) for n in req["counts"]] for pk, rk in req["entities"]]}))`,
      ],
      { input: JSON.stringify({ names, entities, counts }), encoding: "utf8" },
    );
    expect(py.status, py.stderr).toBe(0);
    const expected = JSON.parse(py.stdout) as { names: number[][]; entities: number[][] };
    expect(names.map((n) => counts.map((c) => shardOfName(n, c)))).toEqual(expected.names);
    expect(entities.map(([pk, rk]) => counts.map((c) => shardOfEntity(pk, rk, c)))).toEqual(expected.entities);
    // The separator keeps ("p","1r") and ("p1","r") apart.
    expect(shardOfEntity("p", "1r", 1000)).not.toBe(shardOfEntity("p1", "r", 1000));
  });

  it("spreads 16,000 names evenly over 8 shards (each within 10% of 2,000)", () => {
    const per = new Array(8).fill(0);
    for (let i = 0; i < 16_000; i++) per[shardOfName(`logs/${i}.json`, 8)]++;
    for (const n of per) expect(Math.abs(n - 2000)).toBeLessThan(200);
  });

  it("K/N is 0-based with 0 <= K < N; anything else is INVALID_ARGUMENT (exit 1 from the CLI)", async () => {
    expect(parseShard("3/4")).toEqual({ index: 3, count: 4 });
    for (const bad of ["4/4", "1/0", "-1/4", "a/b", "1", "1/2/3", ""]) expect(() => parseShard(bad), bad).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    const k = makeKey(dir, "units-k");
    expect((await azcse("migrate", "c", "--key", k.file, "--shard", "4/4", "--connection-string", "UseDevelopmentStorage=true")).code).toBe(1);
    expect((await azcse("scan", "c", "--shard", "x", "--connection-string", "UseDevelopmentStorage=true")).code).toBe(1);
  });
});

describe("journal and checkpoint", () => {
  it("on resume the journal is cut back to the length the checkpoint covers (a line written after it, whole or torn, is redone)", async () => {
    const file = path.join(dir, "cut.json");
    const s1 = RunState.open(file, identity);
    await s1.record(migrated("a"));
    await s1.record(migrated("b"));
    const covered = statSync(`${file}.journal.jsonl`).size;
    appendFileSync(`${file}.journal.jsonl`, JSON.stringify(migrated("c")) + "\n" + '{"key":"d","outc');
    const s2 = RunState.open(file, identity);
    expect(statSync(`${file}.journal.jsonl`).size).toBe(covered);
    expect((await all(s2.stream())).map((o) => o.key)).toEqual(["a", "b"]);
    expect(s2.summary).toMatchObject({ objects: 2, done: 2, plaintextBytes: 20, storedBytesAfter: 76 });
    await s1.close();
    await s2.close();
  });

  it("a state file of an earlier version (no journalBytes, no totals) is compacted once: latest outcome per object, totals computed", async () => {
    const file = path.join(dir, "legacy.json");
    writeFileSync(file, JSON.stringify({ format: STATE_FORMAT, identity, createdAt: "", updatedAt: "", marker: null, complete: false, done: [], inFlight: {}, runs: 3 }));
    const lines = [migrated("a"), { key: "b", name: "b", outcome: "failed", code: "KEY_NOT_FOUND" }, { key: "a", name: "a", outcome: "skipped", reason: "already-current" }, migrated("c")];
    writeFileSync(`${file}.journal.jsonl`, lines.map((l) => JSON.stringify(l)).join("\n") + "\n" + '{"torn');
    const s = RunState.open(file, identity);
    expect(s.checkpoint.runs).toBe(4);
    expect((await all(s.stream())).map((o) => `${o.key}:${o.outcome}`)).toEqual(["a:migrated", "b:failed", "c:migrated"]);
    expect(s.summary).toMatchObject({ objects: 3, done: 2, failed: 1, failedByCode: { KEY_NOT_FOUND: 1 } });
    expect(JSON.parse(readFileSync(file, "utf8")).journalBytes).toBe(statSync(`${file}.journal.jsonl`).size);
    await s.close();
  });

  it("grouped checkpoints buffer outcomes until the interval or an urgent write, then journal and checkpoint are written together", async () => {
    const file = path.join(dir, "grouped.json");
    const s = RunState.open(file, identity, new Date(), 60_000);
    expect(s.batchesInFlightMarks).toBe(true);
    await s.record(migrated("a"));
    await s.record(migrated("b"));
    expect(statSync(`${file}.journal.jsonl`).size).toBe(0);
    expect(JSON.parse(readFileSync(file, "utf8")).journalBytes).toBe(0);
    await s.save(new Date(), true);
    const cp = JSON.parse(readFileSync(file, "utf8"));
    expect(cp.journalBytes).toBe(statSync(`${file}.journal.jsonl`).size);
    expect(cp.summary).toMatchObject({ objects: 2, done: 2 });
    await s.close();
    expect(RunState.open(file, identity).batchesInFlightMarks).toBe(false);
  });
});

describe("progress without a terminal", () => {
  it("summary mode writes one line per interval with objects/s, bytes/s and an ETA from this run's rates", () => {
    let t = 0;
    let out = "";
    const p = new ProgressReporter("summary", (s) => (out += s), () => t, 10_000);
    p.preload(100, 1000, 0, 0);
    p.setTotals(1100, 22_000);
    for (let i = 0; i < 500; i++) {
      t += 40; // 25 objects/s
      p.objectDone({ key: String(i), outcome: "migrated", plaintextBytes: 20 }, 20);
    }
    const lines = out.trim().split("\n");
    expect(lines).toHaveLength(2); // 20 s of work, one line per 10 s
    expect(lines[1]).toBe("progress: 600/1100 objects (54%), 10.7 KiB/21.5 KiB, 25.0 objects/s, 500 B/s, 0 skipped, 0 failed, elapsed 20s, ETA 22s");
    expect(renderSummaryLine({ objectsDone: 0, objectsTotal: undefined, bytesDone: 0, bytesTotal: undefined, skipped: 0, failed: 0, elapsedMs: 0 })).toContain("ETA --");
  });
});

describe("report merge", () => {
  const part = (shard: string, done: number, extra: object = {}) => ({
    file: `${shard}.json`,
    report: { operation: "migrate", target: "blob", resource: "r", settings: { newKeyId: "k" }, dryRun: false, scope: { prefix: null, shard }, complete: true, runs: 1, totals: { objects: done, done, planned: 0, skipped: 0, failed: 0, plaintextBytes: done, storedBytesBefore: 0, storedBytesAfter: 0 }, skippedByReason: {}, failedByCode: {}, ...extra },
  });
  it("sums totals and counts, names missing shards, refuses another run's report or a repeated shard", () => {
    const m = mergeReports([part("0/3", 5), part("2/3", 7, { failedByCode: { KEY_NOT_FOUND: 1 }, failedSample: [{ key: "x", outcome: "failed", code: "KEY_NOT_FOUND" }] })] as never);
    expect(m).toMatchObject({ complete: false, shards: { count: 3, present: [0, 2], missing: [1] }, totals: { objects: 12, done: 12 }, failedByCode: { KEY_NOT_FOUND: 1 } });
    expect(m.failedSample).toHaveLength(1);
    expect(() => mergeReports([part("0/3", 1), part("0/3", 1)] as never)).toThrow(/shard 0\/3 is in both/);
    expect(() => mergeReports([part("0/3", 1), { ...part("1/3", 1), report: { ...part("1/3", 1).report, resource: "other" } }] as never)).toThrow(/another run/);
  });
});

describe("exit code 5: a local limit or I/O failure is not a service failure", () => {
  it("classifies engine limits and local I/O codes as local, network errors not", () => {
    expect(isLocalResourceError(new RangeError("Invalid string length"))).toBe(true);
    expect(isLocalResourceError(Object.assign(new Error("no space"), { code: "ENOSPC" }))).toBe(true);
    expect(isLocalResourceError(Object.assign(new Error("reset"), { code: "ECONNRESET" }))).toBe(false);
    expect(isLocalResourceError(new Error("x"))).toBe(false);
  });
  it("a state file that cannot be written (its directory is a file) exits 5 naming LOCAL_ERROR, before any request", async () => {
    writeFileSync(path.join(dir, "not-a-dir"), "x");
    const k = makeKey(dir, "units-k5");
    const r = await azcse("migrate", "c", "--key", k.file, "--resume", path.join(dir, "not-a-dir", "state.json"), "--connection-string", "UseDevelopmentStorage=true", "--progress", "none");
    expect(r.code, r.err).toBe(EXIT_LOCAL);
    expect(r.err).toMatch(/^azcse: LOCAL_ERROR: ENOTDIR: /);
  });
});
