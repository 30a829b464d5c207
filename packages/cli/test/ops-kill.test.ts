// The built CLI (`node packages/cli/dist/cli.js migrate … --resume STATE`) is SIGKILLed at random points
// (several seeds) and resumed until it finishes. After every kill every blob must still decrypt to its
// original plaintext (nothing half-written: staged blocks are invisible until the one atomic commit);
// at the end every blob is 2.0 under the new key and the Python SDK reads it. Then several worker
// processes migrate disjoint prefixes of one container concurrently, one state file each.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { createLocalKeyResolver } from "@azure-cse/core-envelope";
import { EncryptedContainerClient } from "@azure-cse/storage-blob";
import { assertPythonPeer, repoRoot, startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import type { OpsReport } from "../src/ops/index.js";
import { CLI, KiB, makeKey, MiB, pyRead, pyWrite, sha256, type KeyFile, type PyBlobSpec } from "./ops-helpers.js";

let az: AzuriteHandle;
let service: BlobServiceClient;
let dir: string;
let k1: KeyFile;
let k2: KeyFile;

function newestMtime(p: string): number {
  const s = statSync(p);
  if (!s.isDirectory()) return s.mtimeMs;
  return Math.max(0, ...readdirSync(p).map((f) => newestMtime(path.join(p, f))));
}

beforeAll(async () => {
  assertPythonPeer();
  const src = path.join(repoRoot, "packages", "cli", "src");
  if (!existsSync(CLI) || statSync(CLI).mtimeMs < newestMtime(src)) {
    throw new Error(`${CLI} is missing or older than packages/cli/src: run \`turbo run build --filter=@azure-cse/cli...\` first (npm test does).`);
  }
  az = await startAzurite();
  service = BlobServiceClient.fromConnectionString(az.connectionString);
  dir = mkdtempSync(path.join(tmpdir(), "azcse-ops-kill-"));
  k1 = makeKey(dir, "kill-old");
  k2 = makeKey(dir, "kill-new");
}, 120_000);
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await az?.stop();
});

/** mulberry32: a small seeded PRNG so every seed kills at reproducible points. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
}

/**
 * Spawns the built CLI. With `kill`, SIGKILLs it `delayMs` after it has logged `afterLines` finished
 * objects (0: counted from the spawn), so kills land before, between and inside object migrations.
 */
function cli(args: string[], kill?: { afterLines: number; delayMs: number }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, AZURE_STORAGE_CONNECTION_STRING: az.connectionString }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      timer ??= setTimeout(() => child.kill("SIGKILL"), kill!.delayMs);
    };
    if (kill && kill.afterLines === 0) arm();
    child.stderr.on("data", (d) => {
      err += d;
      if (kill && kill.afterLines > 0 && (err.match(/^\[\d+\/\S+\] /gm)?.length ?? 0) >= kill.afterLines) arm();
    });
    const guard = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      clearTimeout(guard);
      resolve({ code, signal, out, err });
    });
  });
}

async function corpus(container: string, seed: number, prefix = "", count = 10, large = true): Promise<Map<string, string>> {
  await service.getContainerClient(container).createIfNotExists();
  const r = rng(seed * 7919);
  const specs: PyBlobSpec[] = [];
  for (let i = 0; i < count; i++) {
    const size = i === 0 ? 0 : Math.floor(r() * 120 * KiB);
    specs.push({ name: `${prefix}blob-${String(i).padStart(2, "0")}`, protocol: i % 4 === 3 ? "2.0" : "1.0", size, seed: `${container}-${i}`, kek: k1.jwk, metadata: { idx: String(i) } });
  }
  // A blob larger than one 4 MiB block: re-encrypted through staged blocks + Put Block List.
  if (large) specs.push({ name: `${prefix}blob-large`, protocol: "1.0", size: 4 * MiB + 1000 * seed, seed: `${container}-large`, kek: k1.jwk, max_single_put_size: MiB, max_block_size: MiB });
  return new Map((await pyWrite(az.connectionString, container, specs)).map((b) => [b.name, b.sha256]));
}

/** Every blob decrypts (old or new key) to exactly its original plaintext. */
async function assertAllIntact(c: ContainerClient, expected: Map<string, string>): Promise<void> {
  const enc = new EncryptedContainerClient(c, { keyResolver: createLocalKeyResolver([k1.kek, k2.kek]) });
  const names: string[] = [];
  for await (const b of c.listBlobsFlat()) names.push(b.name);
  expect(names.sort()).toEqual([...expected.keys()].sort());
  for (const [name, hash] of expected) expect(sha256(await enc.getBlobClient(name).downloadToBuffer()), name).toBe(hash);
}

describe("migrate survives SIGKILL at any point and --resume finishes losslessly", () => {
  it.each([1, 2, 3, 4])("seed %i: kill at random points, resume until done; every blob always decrypts to its original plaintext; Python reads all under the new key", async (seed) => {
    const container = `kill-${seed}`;
    const expected = await corpus(container, seed);
    const c = service.getContainerClient(container);
    const state = path.join(dir, `${container}.state.json`);
    const args = ["migrate", container, "--key", k1.file, "--new-key", k2.file, "--resume", state, "--concurrency", "3", "--page-size", "4", "--progress", "lines"];
    const r = rng(seed);
    let kills = 0;
    let last: Run | undefined;
    for (let attempt = 0; attempt < 12; attempt++) {
      // Kill points: from start-up (no line yet) up to the last objects, plus 0–40 ms to land inside steps.
      const kill = attempt < 5 ? (r() < 0.2 ? { afterLines: 0, delayMs: 150 + Math.floor(r() * 400) } : { afterLines: 1 + Math.floor(r() * 6), delayMs: Math.floor(r() * 40) }) : undefined;
      last = await cli(args, kill);
      if (last.signal === "SIGKILL") {
        kills++;
        await assertAllIntact(c, expected);
        // The checkpoint on disk is always whole JSON (written via temp file + rename).
        expect(() => JSON.parse(readFileSync(state, "utf8"))).not.toThrow();
        continue;
      }
      break;
    }
    expect(kills, last!.err + last!.out.slice(0, 300)).toBeGreaterThan(0);
    expect(last!.code, last!.err).toBe(0);
    const rep = JSON.parse(last!.out) as OpsReport;
    expect(rep.complete).toBe(true);
    // A kill during Node's start-up comes before the state file is opened, so it is not counted as a run.
    expect(rep.runs).toBeGreaterThanOrEqual(2);
    expect(rep.runs).toBeLessThanOrEqual(kills + 1);
    expect(rep.failed).toEqual([]);
    // Every blob was encrypted under the old key: each one is reported migrated exactly once, none skipped.
    expect(rep.skipped).toEqual([]);
    expect(rep.migrated!.map((m) => m.name).sort()).toEqual([...expected.keys()].sort());
    await assertAllIntact(c, expected);
    const py = await pyRead(az.connectionString, container, [...expected.keys()], [k2.jwk]);
    for (const [name, hash] of expected) expect(py[name], name).toMatchObject({ sha256: hash, protocol: "2.0", kid: "kill-new" });
  });
});

describe("scale out: disjoint prefixes, one state file each, many processes, no coordination", () => {
  it("three worker processes migrate a/, b/ and c/ of one container concurrently; together they cover every blob exactly once", async () => {
    const expected = new Map<string, string>();
    for (const [i, p] of ["a/", "b/", "c/"].entries()) for (const [k, v] of await corpus("fleet", 10 + i, p, 6, false)) expected.set(k, v);
    const runs = await Promise.all(
      ["a/", "b/", "c/"].map((p) =>
        cli(["migrate", "fleet", "--prefix", p, "--key", k1.file, "--new-key", k2.file, "--resume", path.join(dir, `fleet-${p[0]}.state.json`), "--concurrency", "2", "--progress", "none"]),
      ),
    );
    const seen: string[] = [];
    for (const [i, run] of runs.entries()) {
      expect(run.code, run.err).toBe(0);
      const rep = JSON.parse(run.out) as OpsReport;
      expect(rep.scope).toEqual({ prefix: ["a/", "b/", "c/"][i] });
      expect(rep.failed).toEqual([]);
      seen.push(...rep.migrated!.map((m) => m.name!));
    }
    expect(seen.sort()).toEqual([...expected.keys()].sort());
    const py = await pyRead(az.connectionString, "fleet", [...expected.keys()], [k2.jwk]);
    for (const [name, hash] of expected) expect(py[name], name).toMatchObject({ sha256: hash, protocol: "2.0", kid: "kill-new" });
  });
});
