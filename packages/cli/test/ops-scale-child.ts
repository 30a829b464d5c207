// Child process of ops-scale.test.ts (run with vite-node so it imports the TypeScript sources): builds
// synthetic multi-million-entry journals and listings and measures one process's peak memory while the
// engine and the CLI work through them. One JSON line on stdout at the end.
//
//   gen-journal DIR N        state file (complete checkpoint) + N-line journal, and a key file
//   cli DIR ARGS...          `azcse migrate scale --key DIR/k.jwk --resume DIR/state.json --no-plan ARGS...`,
//                            stdout into DIR/stdout.json; reports exit code, peak RSS, peak heap, time
//   listing N                N synthetic objects through the resumable runner (no state file: temporary journal)
import { closeSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import path from "node:path";
import { AesKeyWrapKey } from "@azure-cse/core-envelope";
import { main } from "../src/main.js";
import { addToSummary, emptySummary, type ObjectOutcome } from "../src/ops/report.js";
import { ProgressReporter, RunState, runResumable, STATE_FORMAT, summaryReport, writeOutcomes, type Checkpoint, type ListedPage, type OpsRun } from "../src/ops/index.js";

/** Azurite's well-known development account, on a port where nothing listens: any request would fail. */
export const DEAD_CS =
  "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;";

let peakHeap = 0;
const sampler = setInterval(() => (peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed)), 10);
sampler.unref();

function vmHwm(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
  return m ? Number(m[1]) * 1024 : process.memoryUsage().rss;
}

function outcome(i: number): ObjectOutcome {
  const name = `data/${String(i).padStart(8, "0")}.bin`;
  if (i % 50 === 7) return { key: name, name, outcome: "failed", code: "KEY_NOT_FOUND", message: 'The key resolver has no key "other", which encrypted this data.', storedBytes: 1024 };
  if (i % 12 === 5) return { key: name, name, outcome: "skipped", reason: "already-current", from: { protocol: "2.0", keyId: "new" }, storedBytes: 1052 };
  return { key: name, name, outcome: "migrated", from: { protocol: "1.0", keyId: "old" }, to: { protocol: "2.0", keyId: "new" }, plaintextBytes: 1000, storedBytes: 1008, newStoredBytes: 1028 };
}

async function genJournal(dir: string, n: number): Promise<void> {
  const key = AesKeyWrapKey.generate("new");
  writeFileSync(path.join(dir, "k.jwk"), JSON.stringify(key.toJwk()), { mode: 0o600 });
  const summary = emptySummary();
  const fd = openSync(path.join(dir, "state.json.journal.jsonl"), "w");
  let bytes = 0;
  let buf = "";
  for (let i = 0; i < n; i++) {
    const o = outcome(i);
    addToSummary(summary, o, "migrate");
    buf += JSON.stringify(o) + "\n";
    if (buf.length > 1 << 20) {
      bytes += writeSync(fd, buf);
      buf = "";
    }
  }
  bytes += writeSync(fd, buf);
  closeSync(fd);
  const cp: Checkpoint = {
    format: STATE_FORMAT,
    identity: { operation: "migrate", target: "blob", resource: "http://127.0.0.1:9/devstoreaccount1/scale", scope: { prefix: null }, settings: { to: "2.0", regionSize: null, newKeyId: "new" } },
    createdAt: new Date().toISOString(),
    updatedAt: new Date().toISOString(),
    marker: null,
    complete: true,
    done: [],
    inFlight: {},
    runs: 1,
    journalBytes: bytes,
    summary,
  };
  writeFileSync(path.join(dir, "state.json"), JSON.stringify(cp) + "\n");
  console.log(JSON.stringify({ journalBytes: bytes, summary: { objects: summary.objects, done: summary.done, skipped: summary.skipped, failed: summary.failed } }));
}

async function cli(dir: string, args: string[]): Promise<void> {
  const out = openSync(path.join(dir, "stdout.json"), "w");
  let err = "";
  const t0 = Date.now();
  const code = await main(["migrate", "scale", "--key", path.join(dir, "k.jwk"), "--resume", path.join(dir, "state.json"), "--no-plan", "--connection-string", DEAD_CS, ...args], {
    stdout: (s) => void writeSync(out, s),
    stderr: (s) => (err += s),
  });
  closeSync(out);
  console.log(JSON.stringify({ code, err: err.slice(0, 2000), ms: Date.now() - t0, peakRss: vmHwm(), peakHeap }));
}

async function listing(n: number): Promise<void> {
  const pageSize = 1000;
  async function* pages(from: string | null): AsyncGenerator<ListedPage<number>> {
    for (let start = from === null ? 0 : Number(from); start < n; start += pageSize) {
      const end = Math.min(n, start + pageSize);
      yield { token: start === 0 ? null : String(start), next: end < n ? String(end) : null, items: Array.from({ length: end - start }, (_, i) => start + i) };
    }
  }
  const t0 = Date.now();
  let progressLines = 0;
  let progressBytes = 0;
  const progress = new ProgressReporter("summary", (s) => {
    progressLines++;
    progressBytes += s.length;
  }, Date.now, 1000);
  const state = RunState.open(undefined, { operation: "migrate", target: "blob", resource: "synthetic", scope: { prefix: null }, settings: {} });
  const { complete } = await runResumable<number>({ pages, keyOf: (i) => outcome(i).key, step: async (i) => outcome(i), state, concurrency: 16, progress });
  progress.finish();
  const run: OpsRun = {
    base: { operation: "migrate", target: "blob", resource: "synthetic", scope: { prefix: null }, settings: {}, dryRun: false, stateFile: null, runs: 1, complete, startedAt: "" },
    summary: state.summary,
    finishedAt: new Date().toISOString(),
    outcomes: () => state.stream(),
    close: () => state.close(),
  };
  let streamed = 0;
  await writeOutcomes(run, (s) => (streamed += s.length));
  const summary = summaryReport(run, null);
  const summaryBytes = JSON.stringify(summary).length;
  await run.close();
  console.log(JSON.stringify({ complete, objects: summary.totals.objects, done: summary.totals.done, failed: summary.totals.failed, streamed, summaryBytes, progressLines, progressBytes, ms: Date.now() - t0, peakRss: vmHwm(), peakHeap }));
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === "gen-journal") await genJournal(rest[0]!, Number(rest[1]));
else if (mode === "cli") await cli(rest[0]!, rest.slice(1));
else if (mode === "listing") await listing(Number(rest[0]));
else throw new Error(`unknown mode ${mode}`);
