// Fleet operation (Azurite + the official Python SDK): N workers started at once with --shard K/N over one
// container migrate every blob exactly once, with no coordinator; `azcse report merge` sums their
// summaries; a worker keeping its state in a blob (--state) is SIGKILLed and restarted in a fresh working
// directory, waits for the killed worker's lease, and finishes; a second worker on a leased state is refused.
// Every CLI runs in its own process (test/ops-cli-child.ts over the TypeScript sources).
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlobServiceClient, ContainerSASPermissions } from "@azure/storage-blob";
import { assertPythonPeer, repoRoot, startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { shardOfName, type ObjectOutcome, type SummaryReport } from "../src/ops/index.js";
import { azcse, KiB, makeKey, pyRead, pyWrite, type KeyFile, type PyBlobSpec } from "./ops-helpers.js";

const here = path.join(repoRoot, "packages", "cli");
const viteNode = path.join(path.dirname(createRequire(createRequire(path.join(here, "package.json")).resolve("vitest/package.json")).resolve("vite-node/package.json")), "vite-node.mjs");
const childScript = path.join(here, "test", "ops-cli-child.ts");

let az: AzuriteHandle;
let service: BlobServiceClient;
let dir: string;
let kOld: KeyFile;
let kNew: KeyFile;

beforeAll(async () => {
  assertPythonPeer();
  az = await startAzurite();
  service = BlobServiceClient.fromConnectionString(az.connectionString);
  dir = mkdtempSync(path.join(tmpdir(), "azcse-ops-fleet-"));
  kOld = makeKey(dir, "fleet-old");
  kNew = makeKey(dir, "fleet-new");
}, 120_000);
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await az?.stop();
});

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
}

/** `azcse ARGS` in a new process (cwd: `cwd`); with `killAfterLines`, SIGKILLed once that many objects were logged. */
function azcseProcess(args: string[], o: { cwd?: string; killAfterLines?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [viteNode, "--config", path.join(here, "vitest.config.ts"), childScript, ...args], {
      cwd: o.cwd ?? here,
      env: { ...process.env, AZURE_STORAGE_CONNECTION_STRING: az.connectionString },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => {
      err += d;
      if (o.killAfterLines !== undefined && (err.match(/^\[\d+\/\S+\] /gm)?.length ?? 0) >= o.killAfterLines) child.kill("SIGKILL");
    });
    const guard = setTimeout(() => child.kill("SIGKILL"), 110_000);
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal, out, err });
    });
  });
}

async function corpus(container: string, count: number): Promise<Map<string, string>> {
  await service.getContainerClient(container).createIfNotExists();
  const specs: PyBlobSpec[] = [];
  for (let i = 0; i < count; i++) {
    specs.push({ name: `d/${i % 3}/obj-${String(i).padStart(3, "0")}`, protocol: i % 5 === 4 ? "2.0" : "1.0", size: (i * 997) % (6 * KiB), seed: `${container}-${i}`, kek: kOld.jwk });
  }
  return new Map((await pyWrite(az.connectionString, container, specs)).map((b) => [b.name, b.sha256]));
}

async function expectPythonReadsAllUnderNewKey(container: string, expected: Map<string, string>): Promise<void> {
  const py = await pyRead(az.connectionString, container, [...expected.keys()], [kNew.jwk]);
  for (const [name, hash] of expected) expect(py[name], name).toMatchObject({ sha256: hash, protocol: "2.0", kid: "fleet-new" });
}

function outcomesOf(file: string): ObjectOutcome[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as ObjectOutcome);
}

describe("--shard K/N: N workers at once, one container, no coordinator", () => {
  it("four shard processes migrate every blob exactly once (stable name hash); report merge sums them; Python reads every blob under the new key", async () => {
    const N = 4;
    const expected = await corpus("fleet-shards", 48);
    const runs = await Promise.all(
      Array.from({ length: N }, (_, k) =>
        azcseProcess([
          "migrate", "fleet-shards", "--key", kOld.file, "--new-key", kNew.file, "--shard", `${k}/${N}`, "--concurrency", "3", "--page-size", "7",
          "--resume", path.join(dir, `shard-${k}.state.json`), "--summary", "--report", path.join(dir, `shard-${k}.json`), "--outcomes", path.join(dir, `shard-${k}.jsonl`), "--progress", "summary",
        ]),
      ),
    );
    const seen = new Map<string, number>();
    for (const [k, run] of runs.entries()) {
      expect(run.code, run.err).toBe(0);
      const rep = JSON.parse(run.out) as SummaryReport;
      expect(rep).toMatchObject({ report: "summary", scope: { prefix: null, shard: `${k}/${N}` }, complete: true });
      expect(rep.totals.failed).toBe(0);
      const outcomes = outcomesOf(path.join(dir, `shard-${k}.jsonl`));
      expect(outcomes.length).toBe(rep.totals.objects);
      for (const o of outcomes) {
        expect(o.outcome, o.key).toBe("migrated");
        // Each object went to the worker its name hashes to.
        expect(shardOfName(o.key, N), o.key).toBe(k);
        seen.set(o.key, (seen.get(o.key) ?? 0) + 1);
      }
    }
    expect([...seen.keys()].sort()).toEqual([...expected.keys()].sort());
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    // The hash spreads: no shard is empty with 48 names.
    for (let k = 0; k < N; k++) expect(outcomesOf(path.join(dir, `shard-${k}.jsonl`)).length).toBeGreaterThan(0);
    await expectPythonReadsAllUnderNewKey("fleet-shards", expected);

    const merge = await azcseProcess(["report", "merge", ...Array.from({ length: N }, (_, k) => path.join(dir, `shard-${k}.json`))]);
    expect(merge.code, merge.err).toBe(0);
    const merged = JSON.parse(merge.out);
    expect(merged).toMatchObject({ report: "merged", operation: "migrate", complete: true, shards: { count: N, present: [0, 1, 2, 3], missing: [] }, totals: { objects: 48, done: 48, failed: 0 } });
    // A missing shard is reported (exit 3), and the same shard twice is refused (exit 1).
    const partial = await azcseProcess(["report", "merge", path.join(dir, "shard-0.json"), path.join(dir, "shard-2.json")]);
    expect(partial.code).toBe(3);
    expect(JSON.parse(partial.out)).toMatchObject({ complete: false, shards: { missing: [1, 3] } });
    expect((await azcseProcess(["report", "merge", path.join(dir, "shard-0.json"), path.join(dir, "shard-0.json")])).code).toBe(1);
  }, 180_000);
});

describe("--state in a blob: a killed worker resumes on a fresh working directory", () => {
  it("shard 0/2 is SIGKILLed, a second worker on its state is refused while the lease is held, the restart in a new directory finishes; every blob migrated exactly once", async () => {
    const expected = await corpus("fleet-state", 40);
    const args = (k: number, extra: string[] = []) => [
      "migrate", "fleet-state", "--key", kOld.file, "--new-key", kNew.file, "--shard", `${k}/2`, "--concurrency", "2", "--page-size", "5",
      "--state", `ops-state/fleet-${k}.json`, "--state-lease-seconds", "15", "--summary", "--outcomes", `out-${k}.jsonl`, "--progress", "lines", ...extra,
    ];
    const cwd0 = mkdtempSync(path.join(dir, "w0-"));
    const cwd1 = mkdtempSync(path.join(dir, "w1-"));
    const otherShard = azcseProcess(args(1), { cwd: cwd1 });
    const killed = await azcseProcess(args(0), { cwd: cwd0, killAfterLines: 4 });
    expect(killed.signal).toBe("SIGKILL");

    // The killed worker's lease (15 s, last renewed at most 5 s before the kill) is still held: another worker on the
    // same state is refused (exit 1). This attempt runs the CLI in-process, right after the kill: a child process
    // started through vite-node took over 10 s to reach the lease on a loaded CI machine and found it expired.
    const w2 = mkdtempSync(path.join(dir, "w2-"));
    const second = await azcse(
      ...args(0, ["--state-wait-seconds", "0", "--connection-string", az.connectionString]).map((a) => (a === "out-0.jsonl" ? path.join(w2, "out-0.jsonl") : a)),
    );
    expect(second.code, second.err).toBe(1);
    expect(second.err).toMatch(/leased by another worker/);
    const other = await otherShard;
    expect(other.code, other.err).toBe(0);

    // Rescheduled elsewhere: a fresh directory, nothing local; it waits for the lease and finishes.
    const fresh = mkdtempSync(path.join(dir, "w3-"));
    const resumed = await azcseProcess(args(0), { cwd: fresh });
    expect(resumed.code, resumed.err).toBe(0);
    const rep = JSON.parse(resumed.out) as SummaryReport;
    expect(rep).toMatchObject({ complete: true, scope: { shard: "0/2" } });
    expect(rep.runs).toBeGreaterThanOrEqual(2);
    expect(rep.stateFile).toMatch(/\/ops-state\/fleet-0\.json$/);

    const seen = new Map<string, ObjectOutcome>();
    for (const [k, file] of [[0, path.join(fresh, "out-0.jsonl")], [1, path.join(cwd1, "out-1.jsonl")]] as const) {
      for (const o of outcomesOf(file)) {
        expect(seen.has(o.key), `${o.key} reported twice`).toBe(false);
        expect(shardOfName(o.key, 2)).toBe(k);
        seen.set(o.key, o);
      }
    }
    // Every blob exactly once, and as migrated: blobs committed by the killed run after its last state write
    // are recognised from the ETag recorded in flight ("recovered"), not reported as already current.
    expect([...seen.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const o of seen.values()) expect(o.outcome, o.key).toBe("migrated");
    await expectPythonReadsAllUnderNewKey("fleet-state", expected);
    // The state lives in blobs: checkpoint + one journal segment per run.
    const names: string[] = [];
    for await (const b of service.getContainerClient("ops-state").listBlobsFlat({ prefix: "fleet-0.json" })) names.push(b.name);
    expect(names).toContain("fleet-0.json");
    expect(names.filter((n) => /^fleet-0\.json\.journal\.\d{4}-[0-9a-f]{8}\.jsonl$/.test(n)).length).toBeGreaterThanOrEqual(2);
  }, 180_000);
});

describe("examples/fleet/run-shards.sh (the plain-shell equivalent of the Indexed Job)", () => {
  it("runs N=3 shard workers with blob state and merges their reports; every blob migrated once, Python reads all", async () => {
    const expected = await corpus("fleet-shell", 18);
    const cwd = mkdtempSync(path.join(dir, "shell-"));
    const run = await new Promise<Run>((resolve, reject) => {
      const child = spawn("/bin/sh", [path.join(repoRoot, "examples", "fleet", "run-shards.sh")], {
        cwd,
        env: {
          ...process.env,
          AZURE_STORAGE_CONNECTION_STRING: az.connectionString,
          CONTAINER: "fleet-shell",
          OLD_KEY: kOld.file,
          NEW_KEY: kNew.file,
          N: "3",
          AZCSE: `${process.execPath} ${viteNode} --config ${path.join(here, "vitest.config.ts")} ${childScript}`,
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      let err = "";
      child.stdout.on("data", (d) => (out += d));
      child.stderr.on("data", (d) => (err += d));
      child.on("error", reject);
      child.on("exit", (code, signal) => resolve({ code, signal, out, err }));
    });
    expect(run.code, run.err).toBe(0);
    const merged = JSON.parse(readFileSync(path.join(cwd, "reports", "merged.json"), "utf8"));
    expect(merged).toMatchObject({ complete: true, shards: { count: 3, missing: [] }, totals: { objects: 18, done: 18, failed: 0 } });
    const names = [0, 1, 2].flatMap((k) => outcomesOf(path.join(cwd, "reports", `shard-${k}.jsonl`)).map((o) => o.key));
    expect(names.sort()).toEqual([...expected.keys()].sort());
    await expectPythonReadsAllUnderNewKey("fleet-shell", expected);
  }, 180_000);
});

describe("--state as a blob URL", () => {
  it("a URL on the connection string's account, and a container-SAS URL, both keep the state there; the SAS never appears in the report", async () => {
    const expected = await corpus("fleet-url", 6);
    const state = service.getContainerClient("url-state");
    await state.createIfNotExists();
    const onAccount = `${state.url}/by-url/rotate.json`;
    const sas = await state.generateSasUrl({ permissions: ContainerSASPermissions.parse("racwl"), expiresOn: new Date(Date.now() + 3600_000) });
    const withSas = sas.replace("?", "/by-sas/rotate.json?");
    for (const [url, prefix] of [[onAccount, "d/0/"], [withSas, "d/1/"]] as const) {
      const r = await azcse("migrate", "fleet-url", "--prefix", prefix, "--key", kOld.file, "--new-key", kNew.file, "--state", url, "--summary", "--progress", "none", "--connection-string", az.connectionString);
      expect(r.code, r.err).toBe(0);
      const rep = JSON.parse(r.out) as SummaryReport;
      expect(rep.totals.done).toBe([...expected.keys()].filter((n) => n.startsWith(prefix)).length);
      expect(rep.stateFile).toBe(url.replace(/\?.*$/, ""));
      expect(r.out).not.toMatch(/sig=/);
    }
    const names: string[] = [];
    for await (const b of state.listBlobsFlat()) names.push(b.name);
    expect(names).toContain("by-url/rotate.json");
    expect(names).toContain("by-sas/rotate.json");
  }, 60_000);
});
