// Memory and output do not grow with the number of objects (issue: one invocation stopped at ~1.8 million
// objects building its report as one string, and a 2.4M-line journal could not be resumed). Each case runs
// in a child process (vite-node over the TypeScript sources, test/ops-scale-child.ts) with V8's old space
// capped far below what the objects would need if any per-object state were kept: 2.5 million journal
// lines are ~530 MB of JSON; 500,000 outcomes held as objects would be some 200 MB. Peak RSS
// (VmHWM) is compared with a run ten times smaller: flat means the difference stays within a constant.
import { spawn } from "node:child_process";
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { afterAll, describe, expect, it } from "vitest";
import { repoRoot } from "@azure-cse/testkit";

const here = path.join(repoRoot, "packages", "cli");
const viteNode = path.join(path.dirname(createRequire(createRequire(path.join(here, "package.json")).resolve("vitest/package.json")).resolve("vite-node/package.json")), "vite-node.mjs");
const dir = mkdtempSync(path.join(tmpdir(), "azcse-ops-scale-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MB = 1e6;
/** V8 old-space cap of the measured children (MB). */
const HEAP_CAP_MB = 128;
/** Allowed peak-RSS difference between a run and one ten times smaller. */
const FLAT_MB = 48;

function child<T>(args: string[], heapCapMb?: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const flags = heapCapMb ? [`--max-old-space-size=${heapCapMb}`] : [];
    const p = spawn(process.execPath, [...flags, viteNode, "--config", "vitest.config.ts", "test/ops-scale-child.ts", ...args], { cwd: here, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (err += d));
    p.on("error", reject);
    p.on("exit", (code, signal) => {
      const last = out.trim().split("\n").pop() ?? "";
      if (code !== 0) return reject(new Error(`child ${args.join(" ")} exited ${code ?? signal}: ${err.slice(-2000)}`));
      resolve(JSON.parse(last) as T);
    });
  });
}

async function countLines(file: string): Promise<{ lines: number; migrated: number }> {
  let lines = 0;
  let migrated = 0;
  for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
    if (!line) continue;
    lines++;
    if (line.includes('"outcome":"migrated"')) migrated++;
  }
  return { lines, migrated };
}

interface CliResult {
  code: number;
  err: string;
  ms: number;
  peakRss: number;
  peakHeap: number;
}

describe("journal of millions of outcomes: resumed and reported as a stream", () => {
  it("a 2.5-million-line journal resumes and reports (--summary, --outcomes) under a 128 MB heap cap, with flat peak RSS; exit code from the totals", async () => {
    const big = path.join(dir, "big");
    const small = path.join(dir, "small");
    for (const d of [big, small]) rmSync(d, { recursive: true, force: true });
    mkdirSync(big);
    mkdirSync(small);
    const gen = await child<{ journalBytes: number; summary: { objects: number; done: number; failed: number } }>(["gen-journal", big, "2500000"]);
    await child(["gen-journal", small, "25000"]);
    expect(gen.summary.objects).toBe(2_500_000);
    expect(statSync(path.join(big, "state.json.journal.jsonl")).size).toBe(gen.journalBytes);

    const args = (d: string) => ["cli", d, "--summary", "--outcomes", path.join(d, "outcomes.jsonl"), "--progress", "none"];
    const r = await child<CliResult>(args(big), HEAP_CAP_MB);
    const s = await child<CliResult>(args(small), HEAP_CAP_MB);
    // 2% of the synthetic outcomes failed with KEY_NOT_FOUND: exit 2, from the running totals.
    expect(r.code, r.err).toBe(2);
    expect(r.err).toContain("azcse: 50000 object(s) failed: KEY_NOT_FOUND 50000");
    const summary = JSON.parse(readFileSync(path.join(big, "stdout.json"), "utf8"));
    expect(summary).toMatchObject({ report: "summary", complete: true, runs: 2, totals: { objects: 2_500_000, done: gen.summary.done, failed: 50_000 }, failedByCode: { KEY_NOT_FOUND: 50_000 } });
    expect(summary.failedSample).toHaveLength(20);
    // The summary is bounded: a few KB for 2.5 million objects.
    expect(statSync(path.join(big, "stdout.json")).size).toBeLessThan(16_000);
    const counted = await countLines(path.join(big, "outcomes.jsonl"));
    expect(counted.lines).toBe(2_500_000);
    expect(counted.migrated).toBe(gen.summary.done);
    console.log(`[ops-scale] journal 2.5M lines (${(gen.journalBytes / MB).toFixed(0)} MB): peak RSS ${(r.peakRss / MB).toFixed(0)} MB vs ${(s.peakRss / MB).toFixed(0)} MB for 25k; peak heap ${(r.peakHeap / MB).toFixed(0)} MB; ${r.ms} ms`);
    expect(r.peakRss - s.peakRss).toBeLessThan(FLAT_MB * MB);
  }, 120_000);

  it("above 50,000 outcomes the full JSON report is streamed (journal order) and still parses with every outcome in its array", async () => {
    const d = path.join(dir, "full");
    mkdirSync(d, { recursive: true });
    await child(["gen-journal", d, "60000"]);
    const r = await child<CliResult>(["cli", d, "--progress", "none", "--report", path.join(d, "report.json")], HEAP_CAP_MB);
    expect(r.code, r.err).toBe(2);
    const text = readFileSync(path.join(d, "stdout.json"), "utf8");
    expect(readFileSync(path.join(d, "report.json"), "utf8")).toBe(text);
    const rep = JSON.parse(text);
    expect(rep.totals).toMatchObject({ objects: 60_000, failed: 1200 });
    expect(rep.migrated.length + rep.skipped.length + rep.failed.length).toBe(60_000);
    expect(rep.migrated.length).toBe(rep.totals.done);
    expect(rep.failed[0]).toMatchObject({ name: "data/00000007.bin", code: "KEY_NOT_FOUND" });
    expect(rep.migrated[0]).toEqual({ name: "data/00000000.bin", from: { protocol: "1.0", keyId: "old" }, to: { protocol: "2.0", keyId: "new" }, plaintextBytes: 1000, storedBytes: 1008, newStoredBytes: 1028 });
  }, 60_000);
});

describe("listing of millions of objects: the resumable runner keeps no per-object state", () => {
  it("500,000 objects through the runner (concurrency 16) under a 128 MB heap cap: flat peak RSS, periodic progress lines, bounded summary", async () => {
    type ListingResult = { complete: boolean; objects: number; done: number; streamed: number; summaryBytes: number; progressLines: number; progressBytes: number; ms: number; peakRss: number; peakHeap: number };
    const big = await child<ListingResult>(["listing", "500000"], HEAP_CAP_MB);
    const small = await child<ListingResult>(["listing", "50000"], HEAP_CAP_MB);
    expect(big).toMatchObject({ complete: true, objects: 500_000 });
    expect(big.streamed).toBeGreaterThan(100 * MB);
    expect(big.summaryBytes).toBeLessThan(8000);
    // Progress without a terminal: a line per interval (1 s here), not one per object.
    expect(big.progressLines).toBeLessThan(60);
    expect(big.progressBytes).toBeLessThan(20_000);
    console.log(`[ops-scale] listing 500k objects: peak RSS ${(big.peakRss / MB).toFixed(0)} MB vs ${(small.peakRss / MB).toFixed(0)} MB for 50k; peak heap ${(big.peakHeap / MB).toFixed(0)} MB; ${big.ms} ms (${((1000 * big.ms) / big.objects).toFixed(1)} µs/object)`);
    expect(big.peakRss - small.peakRss).toBeLessThan(FLAT_MB * MB);
  }, 120_000);
});
