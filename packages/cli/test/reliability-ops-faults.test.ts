// Reliability of `azcse migrate` and `azcse rotate-key` under injected faults (issue #8, docs/security.md §8.5):
// the CLI (`main(argv, io)`, in process) talks to Azurite through the seeded fault proxy (resets before and
// after storage applied a request, 500/503, truncated and corrupted bodies, delays) and is re-run with
// --resume until it finishes or runs out of attempts. After EVERY attempt a verifier that talks to Azurite
// directly checks each object: it opens with exactly one of {old key, new key} to exactly its original
// plaintext (migration: still 1.0 — or 2.0 for 2.0 sources — under the old key, or 2.0 under the new key),
// its user metadata, content headers and tags are unchanged, and objects out of scope are untouched. At the
// end every object in scope is migrated/rotated. One `[reliability] {...}` line per suite and seed.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlobServiceClient, type BlobItem, type ContainerClient } from "@azure/storage-blob";
import { TableClient } from "@azure/data-tables";
import { ClientSideEncryptionError, parseEncryptionData, unwrapContentKey, type ClientSideEncryptionErrorCode, type KeyEncryptionKey } from "@azure-cse/core-envelope";
import { EncryptedBlobClient } from "@azure-cse/storage-blob";
import { decryptEntity, METADATA1, METADATA2 } from "@azure-cse/data-tables";
import { assertPythonPeer, PYTHON_KEK_PRELUDE, runPython, startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { createPrng, proxiedConnectionString, startFaultProxy, type FaultConfig, type FaultProxy } from "../../../tools/fault-proxy/index.mjs";
import type { OpsReport } from "../src/ops/index.js";
import { azcse, KiB, makeKey, MiB, payload, pyWrite, sha256, type KeyFile, type PyBlobSpec } from "./ops-helpers.js";
import { describe as describeError, FaultLedger, faultSeed, type SuiteReport } from "@azure-cse/testkit/reliability";

const FIRST_SEED = faultSeed(7301);
/** Three seeds in CI; AZCSE_FAULT_SEED=<n> replays one. */
const SEEDS = process.env.AZCSE_FAULT_SEED ? [FIRST_SEED] : [7301, 7302, 7303];
/** CLI runs per operation and seed before the suite gives up (each one resumes or starts a new state file). */
const MAX_ATTEMPTS = 12;

/** Moderate rates: about one request in five is disrupted, one in ten delayed. */
const RATES = { reset: 0.04, resetAfterForward: 0.05, status500: 0.03, status503: 0.04, truncate: 0.03, corrupt: 0.03, delay: 0.1, delayMs: [1, 10] as [number, number] };
/**
 * The CLI keeps the Azure SDKs' default retry policies (storage: 4 tries, the 2nd at once, the 3rd after 4 s,
 * the 4th after 12 s; tables: about 1, 2, 4 s), which it does not let a caller change. To keep the suite within
 * its time budget, a request whose last MAX_CONSECUTIVE tries (same method and URL) were all disrupted passes
 * untouched (default 1; AZCSE_FAULT_CONSECUTIVE=3 lets retriable faults exhaust the SDK's retries, slowly).
 * The faults the SDKs do not retry (truncated listings, corrupted bodies, a retried write that had been
 * applied) still end CLI runs early.
 */
const MAX_CONSECUTIVE = Number(process.env.AZCSE_FAULT_CONSECUTIVE ?? 1);
function faultsFor(proxy: () => FaultProxy): FaultConfig {
  return {
    ...RATES,
    match: (req) => {
      const same = proxy()
        .events()
        .filter((e) => e.method === req.method && e.url === req.url)
        .slice(-MAX_CONSECUTIVE);
      return !(same.length === MAX_CONSECUTIVE && same.every((e) => e.fault !== "none" && !e.fault.startsWith("none ")));
    },
  };
}
const BLOB_FAULTS = faultsFor(() => blobProxy);
const TABLE_FAULTS = faultsFor(() => tableProxy);

const KNOWN_CODES = new Set<ClientSideEncryptionErrorCode>([
  "ENCRYPTION_REQUIRED",
  "KEY_NOT_FOUND",
  "KID_MISMATCH",
  "KEY_OPERATION_FAILED",
  "INVALID_ENCRYPTION_DATA",
  "UNSUPPORTED_PROTOCOL",
  "DECRYPTION_FAILED",
  "REGION_OUT_OF_ORDER",
  "DEPRECATED_PROTOCOL",
  "INVALID_ARGUMENT",
  "UNSUPPORTED_OPERATION",
  "CONDITION_NOT_MET",
  "NOT_FOUND",
  "PAYLOAD_TOO_LARGE",
  "SERVICE_ERROR",
  "ABORTED",
]);

let az: AzuriteHandle;
let blobProxy: FaultProxy;
let tableProxy: FaultProxy;
let blobCs: string; // through the proxy
let tableCs: string; // through the proxy
let direct: BlobServiceClient; // verifier
let dir: string;
let kOld: KeyFile; // wrote the 1.0 (and some 2.0) blobs and the table entities
let kMid: KeyFile; // migration target, then rotation source
let kNew: KeyFile; // rotation target
let kOther: KeyFile; // a key nobody offers: its blob must stay untouched
const reports: SuiteReport[] = [];

beforeAll(async () => {
  assertPythonPeer();
  az = await startAzurite();
  blobProxy = await startFaultProxy({ target: az.blobUrl, seed: FIRST_SEED });
  tableProxy = await startFaultProxy({ target: az.tableUrl, seed: `${FIRST_SEED}-table` });
  blobCs = proxiedConnectionString(az.connectionString, "blob", blobProxy.url);
  tableCs = proxiedConnectionString(az.connectionString, "table", tableProxy.url);
  direct = BlobServiceClient.fromConnectionString(az.connectionString);
  dir = mkdtempSync(path.join(tmpdir(), "azcse-rel-ops-"));
  [kOld, kMid, kNew, kOther] = ["rel-old", "rel-mid", "rel-new", "rel-other"].map((kid) => makeKey(dir, kid)) as [KeyFile, KeyFile, KeyFile, KeyFile];
}, 120_000);

afterAll(async () => {
  for (const r of reports) console.log(`[reliability] ${JSON.stringify(r)}`);
  await blobProxy?.stop();
  await tableProxy?.stop();
  await az?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// ------------------------------------------------------------------ driving the CLI

/** A CLI run that exited non-zero. */
class CliFailure extends Error {
  constructor(
    readonly code: number,
    readonly err: string,
    readonly report: OpsReport | undefined,
  ) {
    super(`azcse exited ${code}: ${err.split("\n").find((l) => l.startsWith("azcse: ")) ?? err.slice(0, 200)}`);
  }
}

function parseReport(out: string): OpsReport | undefined {
  if (!out.trim()) return undefined;
  return JSON.parse(out) as OpsReport;
}

/** Exit 2/3/4 with `azcse: CODE: …` naming one of our codes, and every failed object carrying one of them. */
function typedCliFailure(e: unknown): boolean {
  if (!(e instanceof CliFailure) || ![2, 3, 4].includes(e.code)) return false;
  const line = /^azcse: (?:\d+ object\(s\) failed: (.*)|verify failed: |([A-Z_]+): )/m.exec(e.err);
  if (!line) return false;
  if (line[2] !== undefined && !KNOWN_CODES.has(line[2] as ClientSideEncryptionErrorCode)) return false;
  // A plain JavaScript error mapped to an exit code would be a crash in disguise.
  if (/TypeError|ReferenceError|RangeError|SyntaxError|is not a function|Cannot read prop/.test(e.err)) return false;
  return [...(e.report?.failed ?? []), ...(e.report?.verify?.failed ?? [])].every((f) => KNOWN_CODES.has(f.code as ClientSideEncryptionErrorCode));
}

interface Truth {
  /** Objects in their final state (migrated / rotated). */
  atTarget: number;
  total: number;
}

interface DriveOptions {
  label: string;
  ledger: FaultLedger;
  proxy: FaultProxy;
  argv: (stateFile: string) => string[];
  /** Verifier: records violations in the ledger and says how many objects reached the target. */
  check: (after: string) => Promise<Truth>;
  /** Extra condition for "finished" on the last report (e.g. --verify passed). */
  finished?: (report: OpsReport) => boolean;
}

/**
 * Runs the command until a run exits 0 with a complete report and the verifier finds every object at its
 * target. A run that stopped early (listing failed: no complete report) is resumed with the same state file;
 * a run that completed with failed objects is followed by a new state file, as docs/operations.md says
 * (failures are final within a state file).
 */
async function drive(o: DriveOptions): Promise<{ attempts: number; last: OpsReport | undefined; truth: Truth }> {
  const { ledger } = o;
  let generation = 0;
  let truth: Truth = { atTarget: 0, total: 0 };
  let last: OpsReport | undefined;
  const reportedDone = new Set<string>();
  const finish = (attempts: number) => {
    ledger.count("reportedDone", reportedDone.size);
    return { attempts, last, truth };
  };
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const state = path.join(dir, `${o.label}-${generation}.state.json`);
    const label = `${o.label} attempt ${attempt}`;
    const r = await ledger.run(
      label,
      async () => {
        const started = Date.now();
        const run = await azcse(...o.argv(state)).finally(() => ledger.count("cliMs", Date.now() - started));
        let report: OpsReport | undefined;
        try {
          report = parseReport(run.out);
        } catch {
          ledger.violation(`${label}: stdout is not a JSON report: ${run.out.slice(0, 200)}`);
        }
        if (run.code !== 0) throw new CliFailure(run.code, run.err, report);
        return report;
      },
      typedCliFailure,
    );
    // Nothing of the command may still be running once main() returned: no request may reach the proxy now.
    const requestsAtReturn = o.proxy.stats().requests;
    last = r.ok ? r.value : r.error instanceof CliFailure ? r.error.report : undefined;
    if (!r.ok) ledger.count(r.error instanceof CliFailure && r.error.report?.complete ? "completedWithFailures" : "stoppedEarly");
    for (const f of last?.failed ?? []) ledger.count(`objectFailed:${f.code}`);
    for (const f of last?.verify?.failed ?? []) ledger.count(`verifyFailed:${f.code}`);
    for (const s of last?.skipped ?? []) if (s.reason === "changed" || s.reason === "deleted") ledger.count(`objectSkipped:${s.reason}`);
    for (const m of [...(last?.migrated ?? []), ...(last?.rotated ?? [])]) {
      if (m.recovered) ledger.count("objectRecovered");
      reportedDone.add(m.name ?? m.key);
    }
    for (const f of last?.failed ?? []) if (/Two reads/.test(f.message ?? "")) ledger.count("inconsistentReadCaught");
    truth = await o.check(label);
    await new Promise((res) => setTimeout(res, 20));
    if (o.proxy.stats().requests !== requestsAtReturn) ledger.violation(`${label}: requests reached storage after the command returned`);
    ledger.count("attempts");
    if (r.ok && last?.complete && truth.atTarget === truth.total && (o.finished?.(last) ?? true)) return finish(attempt);
    if (last?.complete) {
      generation++;
      ledger.count("newStateFile");
    } else {
      ledger.count("resumed");
    }
  }
  return finish(MAX_ATTEMPTS);
}

// ------------------------------------------------------------------ blob corpus and verifier

const HEADERS = { content_type: "application/x-report", content_language: "fr-CA", content_disposition: "attachment; filename=r.bin", cache_control: "max-age=60", content_encoding: "identity" };

interface BlobTruth {
  name: string;
  sha256: string;
  size: number;
  metadata: Record<string, string>;
  headers: Record<string, string | undefined>;
  tags: Record<string, string>;
  /** Key ids allowed at the start of the phase (old) and at the end (target). */
  protocol: "1.0" | "2.0" | "none";
  inScope: boolean;
  etag?: string;
}

function headersOf(item: BlobItem): Record<string, string | undefined> {
  const p = item.properties;
  return { contentType: p.contentType, contentEncoding: p.contentEncoding, contentLanguage: p.contentLanguage, contentDisposition: p.contentDisposition, cacheControl: p.cacheControl };
}

/**
 * User metadata without `encryptiondata`, names lower-cased: the fault proxy forwards request headers through
 * Node's `req.headers`, which lower-cases `x-ms-meta-*` names, so case cannot survive a write through it
 * (ops-blob.test.ts checks case preservation without the proxy).
 */
function userMetadata(m: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m ?? {}).sort(([a], [b]) => (a.toLowerCase() < b.toLowerCase() ? -1 : 1))) {
    if (k.toLowerCase() !== "encryptiondata") out[k.toLowerCase()] = v;
  }
  return out;
}

async function listAll(c: ContainerClient): Promise<Map<string, BlobItem>> {
  const m = new Map<string, BlobItem>();
  for await (const b of c.listBlobsFlat({ includeMetadata: true, includeTags: true })) m.set(b.name, b);
  return m;
}

/** Writes one seed's container: Python 1.0 and 2.0 blobs, our 1.0 (opt-in) blobs, an other-key and a plain blob. */
async function writeCorpus(seed: number, container: string): Promise<Map<string, BlobTruth>> {
  const c = direct.getContainerClient(container);
  await c.create();
  const rand = createPrng(`${seed}-corpus`);
  const between = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const py: PyBlobSpec[] = [
    { name: "m/a-empty", protocol: "1.0", size: 0, seed: `${seed}-a`, kek: kOld.jwk },
    { name: "m/b-small", protocol: "1.0", size: between(1, 2000), seed: `${seed}-b`, kek: kOld.jwk, metadata: { Origin: "python", Seed: String(seed) }, content_settings: HEADERS, tags: { stage: "raw", seed: String(seed) } },
    { name: "m/c-x16", protocol: "1.0", size: 16 * between(1, 8), seed: `${seed}-c`, kek: kOld.jwk },
    // Several source blocks (Python Put Block + Put Block List).
    { name: "m/d-blocks", protocol: "1.0", size: between(100 * KiB, 200 * KiB), seed: `${seed}-d`, kek: kOld.jwk, metadata: { n: "blocks" }, max_single_put_size: 32 * KiB, max_block_size: 32 * KiB },
    // Larger than migrate's 4 MiB block: re-encrypted through two staged blocks and one Put Block List.
    { name: "m/e-large", protocol: "1.0", size: 4 * MiB + between(1, 64 * KiB), seed: `${seed}-e`, kek: kOld.jwk, content_settings: { content_type: "text/plain" }, max_single_put_size: MiB, max_block_size: MiB },
    { name: "m/f-v2-old", protocol: "2.0", size: between(40 * KiB, 90 * KiB), seed: `${seed}-f`, kek: kOld.jwk, metadata: { Kind: "v2-old" } },
    { name: "x/g-other-key", protocol: "2.0", size: 10 * KiB, seed: `${seed}-g`, kek: kOther.jwk, metadata: { Kind: "other" } },
  ];
  const truth = new Map<string, BlobTruth>();
  for (const b of await pyWrite(az.connectionString, container, py)) {
    const spec = py.find((s) => s.name === b.name)!;
    truth.set(b.name, { name: b.name, sha256: b.sha256, size: b.size, metadata: spec.metadata ?? {}, headers: {}, tags: spec.tags ?? {}, protocol: spec.protocol, inScope: spec.name.startsWith("m/") });
  }
  // Our client, protocol 1.0 only with the explicit opt-in: staged in 16 KiB blocks, and one single Put Blob.
  const v1 = { keyEncryptionKey: kOld.kek, encryptionVersion: "1.0", allowDeprecatedV1Encryption: true } as const;
  const ours: Array<[string, number, Record<string, unknown>]> = [
    ["m/h-ours-staged", between(30 * KiB, 60 * KiB), { maxSingleShotSize: 0, blockSize: 16 * KiB, concurrency: 1, metadata: { Writer: "azure-cse" }, blobHTTPHeaders: { blobContentType: "application/json" }, tags: { w: "ours" } }],
    ["m/i-ours-single", between(1000, 9000), { metadata: { Writer: "azure-cse" } }],
  ];
  for (const [name, size, options] of ours) {
    const data = payload(`${seed}-${name}`, size);
    await new EncryptedBlobClient(c.getBlobClient(name), v1).uploadData(data, options);
    truth.set(name, { name, sha256: sha256(data), size, metadata: {}, headers: {}, tags: {}, protocol: "1.0", inScope: true });
  }
  await c.getBlockBlobClient("x/j-plain.txt").upload("not encrypted", 13, { metadata: { plain: "yes" } });
  truth.set("x/j-plain.txt", { name: "x/j-plain.txt", sha256: sha256(Buffer.from("not encrypted")), size: 13, metadata: {}, headers: {}, tags: {}, protocol: "none", inScope: false });
  // What the listing says now is the reference for metadata (original case), content headers and tags.
  for (const [name, item] of await listAll(c)) {
    const t = truth.get(name)!;
    t.metadata = userMetadata(item.metadata);
    t.headers = headersOf(item);
    t.tags = item.tags ?? {};
    t.etag = item.properties.etag;
  }
  return truth;
}

/** Whether `key` alone opens the blob to its original plaintext (content key unwraps and the body decrypts exactly). */
async function opensWith(c: ContainerClient, name: string, encryptiondata: string, key: KeyEncryptionKey, expectedSha: string, ledger: FaultLedger, label: string): Promise<boolean> {
  try {
    const cek = await unwrapContentKey(parseEncryptionData(encryptiondata), { keyEncryptionKey: key });
    cek.fill(0);
    const got = await new EncryptedBlobClient(c.getBlobClient(name), { keyEncryptionKey: key }).downloadToBuffer();
    if (sha256(got) !== expectedSha) {
      ledger.violation(`${label}: ${name} opens with ${key.keyId} but to ${got.length} bytes that are not its plaintext`);
      return false;
    }
    return true;
  } catch (e) {
    if (ClientSideEncryptionError.hasCode(e, "KEY_NOT_FOUND") || ClientSideEncryptionError.hasCode(e, "KID_MISMATCH")) return false;
    ledger.violation(`${label}: ${name} with ${key.keyId}: ${describeError(e)}`);
    return false;
  }
}

/**
 * The verifier for one container: every blob exactly one of {from key, to key}, in an allowed
 * (protocol, key) state, with its metadata, headers and tags; blobs out of scope untouched.
 */
async function checkContainer(
  c: ContainerClient,
  truth: Map<string, BlobTruth>,
  phase: { from: KeyFile; to: KeyFile; allowed: (protocol: string, kid: string, t: BlobTruth) => "start" | "target" | undefined },
  ledger: FaultLedger,
  label: string,
): Promise<Truth> {
  const listed = await listAll(c);
  let atTarget = 0;
  let total = 0;
  if ([...listed.keys()].sort().join() !== [...truth.keys()].sort().join()) ledger.violation(`${label}: the container lists ${[...listed.keys()].join(", ")}`);
  for (const t of truth.values()) {
    const item = listed.get(t.name);
    if (!item) {
      ledger.violation(`${label}: ${t.name} is gone`);
      continue;
    }
    if (JSON.stringify(userMetadata(item.metadata)) !== JSON.stringify(t.metadata)) ledger.violation(`${label}: ${t.name} metadata ${JSON.stringify(userMetadata(item.metadata))} != ${JSON.stringify(t.metadata)}`);
    if (JSON.stringify(headersOf(item)) !== JSON.stringify(t.headers)) ledger.violation(`${label}: ${t.name} content headers changed: ${JSON.stringify(headersOf(item))}`);
    if (JSON.stringify(item.tags ?? {}) !== JSON.stringify(t.tags)) ledger.violation(`${label}: ${t.name} tags changed: ${JSON.stringify(item.tags)}`);
    if (!t.inScope) {
      if (item.properties.etag !== t.etag) ledger.violation(`${label}: ${t.name} is out of scope but was written`);
      continue;
    }
    total++;
    const ed = item.metadata?.encryptiondata;
    if (ed === undefined) {
      ledger.violation(`${label}: ${t.name} has no encryptiondata`);
      continue;
    }
    let protocol: string;
    let kid: string;
    try {
      const d = parseEncryptionData(ed);
      protocol = d.protocol;
      kid = d.wrappedContentKey.keyId;
    } catch (e) {
      ledger.violation(`${label}: ${t.name} encryptiondata unreadable: ${describeError(e)}`);
      continue;
    }
    const where = phase.allowed(protocol, kid, t);
    if (!where) {
      ledger.violation(`${label}: ${t.name} is protocol ${protocol} under ${kid}, not an allowed state`);
      continue;
    }
    const withFrom = await opensWith(c, t.name, ed, phase.from.kek, t.sha256, ledger, label);
    const withTo = await opensWith(c, t.name, ed, phase.to.kek, t.sha256, ledger, label);
    if (Number(withFrom) + Number(withTo) !== 1) ledger.violation(`${label}: ${t.name} opens with ${Number(withFrom) + Number(withTo)} of {${phase.from.kid}, ${phase.to.kid}}`);
    else if ((where === "target") !== withTo) ledger.violation(`${label}: ${t.name} names ${kid} but opens with the other key`);
    if (where === "target" && withTo) atTarget++;
  }
  ledger.count("verifierChecks", total);
  return { atTarget, total };
}

// ------------------------------------------------------------------ the blob suites

interface SeedContext {
  seed: number;
  container: string;
  truth: Map<string, BlobTruth>;
  migrated: boolean;
}
const contexts: SeedContext[] = [];

beforeAll(async () => {
  for (const seed of SEEDS) {
    const container = `relops-${seed}`;
    contexts.push({ seed, container, truth: await writeCorpus(seed, container), migrated: false });
  }
}, 180_000);

function finishReport(ledger: FaultLedger, attempts: number): SuiteReport {
  const report = ledger.report();
  report.extra = { ...report.extra, attemptsToFinish: attempts };
  reports.push(report);
  return report;
}

describe("azcse migrate (1.0 → 2.0) under faults", () => {
  it.each(SEEDS)(
    "seed %i: after every attempt each blob is 1.0 (or its 2.0 source) under the old key or 2.0 under the new key, opening with exactly that key to its plaintext, metadata/headers/tags kept; --resume finishes every blob",
    async (seed) => {
      const ctx = contexts.find((x) => x.seed === seed)!;
      const c = direct.getContainerClient(ctx.container);
      blobProxy.setFaults(BLOB_FAULTS);
      blobProxy.resetStats();
      const ledger = new FaultLedger("ops-migrate", blobProxy, seed);
      const allowed = (protocol: string, kid: string, t: BlobTruth) => {
        if (kid === kOld.kid && protocol === t.protocol) return "start";
        if (kid === kMid.kid && protocol === "2.0") return "target";
        return undefined;
      };
      const before = await checkContainer(c, ctx.truth, { from: kOld, to: kMid, allowed }, ledger, `${seed} before`);
      expect(before.atTarget).toBe(0);
      const { attempts, last, truth } = await drive({
        label: `migrate-${seed}`,
        ledger,
        proxy: blobProxy,
        argv: (state) => ["migrate", ctx.container, "--key", kOld.file, "--new-key", kMid.file, "--resume", state, "--concurrency", "2", "--page-size", "4", "--progress", "none", "--connection-string", blobCs],
        check: (label) => checkContainer(c, ctx.truth, { from: kOld, to: kMid, allowed }, ledger, label),
      });
      blobProxy.setFaults({});
      const report = finishReport(ledger, attempts);
      expect(ledger.violations).toEqual([]);
      expect(report.dataLost).toBe(0);
      expect(truth).toEqual({ atTarget: 8, total: 8 });
      expect(last?.complete).toBe(true);
      expect(blobProxy.stats().faultsInjected - blobProxy.stats().faults.delay).toBeGreaterThan(0);
      ctx.migrated = true;
    },
    120_000,
  );
});

describe("migrate reads a 1.0 blob twice before replacing it", () => {
  it("1.0 (CBC) has no integrity: when every download of a 1.0 blob is corrupted in transit, migrate fails it typed (InconsistentRead) and the blob stays 1.0 under the old key with its exact plaintext", async () => {
    const c = direct.getContainerClient(`relops-flip-${FIRST_SEED}`);
    await c.create();
    const data = payload(`${FIRST_SEED}-flip`, 100 * KiB + 3);
    await new EncryptedBlobClient(c.getBlobClient("v1"), { keyEncryptionKey: kOld.kek, encryptionVersion: "1.0", allowDeprecatedV1Encryption: true }).uploadData(data, { metadata: { Kind: "flip" } });
    const before = (await c.getBlobClient("v1").getProperties()).etag;
    // Only the blob's content GETs from offset 0 (not the listing, tags, HEADs or the read of the last 1.0
    // block that finds the padding) get one flipped bit each.
    const fromStart = (range: string | string[] | undefined) => range === undefined || String(range).startsWith("bytes=0-");
    blobProxy.setFaults({ corrupt: 1, match: (r) => r.method === "GET" && r.url.includes("/v1") && !r.url.includes("comp=") && fromStart(r.headers["x-ms-range"] ?? r.headers.range) });
    try {
      const r = await azcse("migrate", c.containerName, "--key", kOld.file, "--new-key", kMid.file, "--progress", "none", "--connection-string", blobCs);
      expect(r.code, r.err).toBe(4);
      const rep = JSON.parse(r.out) as OpsReport;
      expect(rep.migrated).toEqual([]);
      expect(rep.failed).toHaveLength(1);
      expect(rep.failed[0]).toMatchObject({ name: "v1", code: "SERVICE_ERROR" });
      expect(rep.failed[0]!.message).toMatch(/^Two reads of blob "v1" disagree \(protocol 1\.0 has no integrity check/);
    } finally {
      blobProxy.setFaults({});
    }
    const props = await c.getBlobClient("v1").getProperties();
    expect(props.etag).toBe(before);
    expect(parseEncryptionData(props.metadata!.encryptiondata!).protocol).toBe("1.0");
    expect((await new EncryptedBlobClient(c.getBlobClient("v1"), { keyEncryptionKey: kOld.kek }).downloadToBuffer()).equals(data)).toBe(true);
  });
});

describe("azcse rotate-key (container) under faults", () => {
  it.each(SEEDS)(
    "seed %i: after every attempt each blob opens with exactly one of {old, new} key to its plaintext, metadata/headers/tags and stored bytes kept; --resume --verify finishes every blob",
    async (seed) => {
      const ctx = contexts.find((x) => x.seed === seed)!;
      expect(ctx.migrated).toBe(true);
      const c = direct.getContainerClient(ctx.container);
      // Rotation never rewrites content: remember every stored length.
      const lengths = new Map([...(await listAll(c))].map(([n, b]) => [n, b.properties.contentLength]));
      // Rotation needs only ~25 requests (a listing, then a pinned HEAD and one Set Blob Metadata per blob), few
      // enough that a seed can draw no fault at all. Script one of each kind that matters, whatever the seed:
      // a 503 on the first metadata write (retried by the SDK) and a reset on the first HEAD (retried too).
      const scripted = new Set<string>();
      const force = (r: { method: string; url: string }) => {
        const key = r.method === "PUT" && r.url.includes("comp=metadata") ? "metadata" : r.method === "HEAD" ? "head" : undefined;
        if (key === undefined || scripted.has(key)) return undefined;
        scripted.add(key);
        return key === "metadata" ? ("status503" as const) : ("reset" as const);
      };
      blobProxy.setFaults({ ...BLOB_FAULTS, force });
      blobProxy.resetStats();
      const ledger = new FaultLedger("ops-rotate-blobs", blobProxy, seed);
      const allowed = (protocol: string, kid: string) => (protocol !== "2.0" ? undefined : kid === kMid.kid ? "start" : kid === kNew.kid ? "target" : undefined);
      const check = async (label: string) => {
        const t = await checkContainer(c, ctx.truth, { from: kMid, to: kNew, allowed }, ledger, label);
        for (const [n, b] of await listAll(c)) if (b.properties.contentLength !== lengths.get(n)) ledger.violation(`${label}: ${n} content was rewritten by a rotation`);
        return t;
      };
      const { attempts, last, truth } = await drive({
        label: `rotate-${seed}`,
        ledger,
        proxy: blobProxy,
        argv: (state) => ["rotate-key", ctx.container, "--prefix", "m/", "--key", kMid.file, "--new-key", kNew.file, "--resume", state, "--verify", "--concurrency", "2", "--page-size", "3", "--progress", "none", "--connection-string", blobCs],
        check,
        finished: (r) => r.verify?.passed === true,
      });
      blobProxy.setFaults({});
      const report = finishReport(ledger, attempts);
      expect(ledger.violations).toEqual([]);
      expect(report.dataLost).toBe(0);
      expect(truth).toEqual({ atTarget: 8, total: 8 });
      expect(last?.verify).toMatchObject({ checked: 8, ok: 8, passed: true });
      expect(scripted).toEqual(new Set(["metadata", "head"]));
      expect(blobProxy.stats().faultsInjected - blobProxy.stats().faults.delay).toBeGreaterThan(0);
    },
    120_000,
  );
});

// ------------------------------------------------------------------ the table suite

const PY_TABLE = `${PYTHON_KEK_PRELUDE}
from azure.cosmosdb.table import TableService
d = json.load(sys.stdin)
ts = TableService(connection_string=d['cs'])
ts.require_encryption = True
ts.key_encryption_key = kek_from_jwk(d['kek'])
ts.encryption_resolver_function = lambda pk, rk, name: name in ('Secret', 'Note')
for t in d['tables']:
    ts.create_table(t['name'])
    for e in t['entities']:
        ts.insert_entity(t['name'], e)
print(json.dumps({'ok': True}))
`;

interface EntityTruth {
  pk: string;
  rk: string;
  secret: string;
  note: string;
  plain: number;
  m2?: string;
  ciphertext?: string;
}

function b64(v: unknown): string {
  return Buffer.from(v as Uint8Array).toString("base64");
}

async function checkTable(t: TableClient, truth: EntityTruth[], ledger: FaultLedger, label: string): Promise<Truth> {
  const stored = new Map<string, Record<string, unknown>>();
  for await (const e of t.listEntities<Record<string, unknown>>()) stored.set(`${e.partitionKey}/${e.rowKey}`, e);
  if (stored.size !== truth.length) ledger.violation(`${label}: the table holds ${stored.size} entities, not ${truth.length}`);
  let atTarget = 0;
  for (const x of truth) {
    const e = stored.get(`${x.pk}/${x.rk}`);
    if (!e) {
      ledger.violation(`${label}: ${x.pk}/${x.rk} is gone`);
      continue;
    }
    // The legacy Python SDK stores Python ints as Edm.Int64 (read back as a bigint).
    if (String(e.Plain) !== String(x.plain)) ledger.violation(`${label}: ${x.pk}/${x.rk} Plain changed`);
    if (x.m2 !== undefined && b64(e[METADATA2]) !== x.m2) ledger.violation(`${label}: ${x.pk}/${x.rk} ${METADATA2} changed`);
    if (x.ciphertext !== undefined && b64(e.Secret) !== x.ciphertext) ledger.violation(`${label}: ${x.pk}/${x.rk} ciphertext changed`);
    let kid: string | undefined;
    try {
      kid = parseEncryptionData(String(e[METADATA1])).wrappedContentKey.keyId;
    } catch (err) {
      ledger.violation(`${label}: ${x.pk}/${x.rk} ${METADATA1} unreadable: ${describeError(err)}`);
      continue;
    }
    if (kid !== kOld.kid && kid !== kNew.kid) ledger.violation(`${label}: ${x.pk}/${x.rk} names key ${kid}`);
    let opens = 0;
    let opensNew = false;
    for (const k of [kOld, kNew]) {
      try {
        const d = await decryptEntity({ ...e }, { keyEncryptionKey: k.kek });
        if (d.Secret !== x.secret || d.Note !== x.note) ledger.violation(`${label}: ${x.pk}/${x.rk} opens with ${k.kid} to other values`);
        else {
          opens++;
          if (k === kNew) opensNew = true;
        }
      } catch (err) {
        if (!ClientSideEncryptionError.hasCode(err, "KEY_NOT_FOUND") && !ClientSideEncryptionError.hasCode(err, "KID_MISMATCH")) {
          ledger.violation(`${label}: ${x.pk}/${x.rk} with ${k.kid}: ${describeError(err)}`);
        }
      }
    }
    if (opens !== 1) ledger.violation(`${label}: ${x.pk}/${x.rk} opens with ${opens} of {old, new}`);
    else if (opensNew !== (kid === kNew.kid)) ledger.violation(`${label}: ${x.pk}/${x.rk} names ${kid} but opens with the other key`);
    if (opens === 1 && opensNew) atTarget++;
  }
  ledger.count("verifierChecks", truth.length);
  return { atTarget, total: truth.length };
}

describe("azcse rotate-key --table under faults", () => {
  const tables = new Map<number, { name: string; truth: EntityTruth[] }>();
  beforeAll(async () => {
    const specs = SEEDS.map((seed) => {
      const rand = createPrng(`${seed}-table`);
      const truth: EntityTruth[] = [];
      for (const pk of ["p0", "p1", "p2"]) {
        for (let i = 0; i < 4; i++) {
          const len = Math.floor(rand() * 60);
          truth.push({ pk, rk: `r${i}`, secret: `secret ${seed}/${pk}/${i} é ${"x".repeat(len)}`, note: "n".repeat(Math.floor(rand() * 40)), plain: i });
        }
      }
      return { seed, name: `relops${seed}`, truth };
    });
    await runPython(
      PY_TABLE,
      { cs: az.connectionString, kek: kOld.jwk, tables: specs.map((s) => ({ name: s.name, entities: s.truth.map((x) => ({ PartitionKey: x.pk, RowKey: x.rk, Secret: x.secret, Note: x.note, Plain: x.plain })) })) },
      { timeoutMs: 120_000 },
    );
    for (const s of specs) {
      const t = TableClient.fromConnectionString(az.connectionString, s.name, { allowInsecureConnection: true });
      for await (const e of t.listEntities<Record<string, unknown>>()) {
        const x = s.truth.find((y) => y.pk === e.partitionKey && y.rk === e.rowKey)!;
        x.m2 = b64(e[METADATA2]);
        x.ciphertext = b64(e.Secret);
      }
      tables.set(s.seed, { name: s.name, truth: s.truth });
    }
  }, 120_000);

  it.each(SEEDS)(
    "seed %i: after every attempt each entity decrypts with exactly one of {old, new} key to its values, ciphertexts and _ClientEncryptionMetadata2 unchanged; --resume --verify finishes every entity",
    async (seed) => {
      const { name, truth } = tables.get(seed)!;
      const t = TableClient.fromConnectionString(az.connectionString, name, { allowInsecureConnection: true });
      tableProxy.setFaults(TABLE_FAULTS);
      tableProxy.resetStats();
      const ledger = new FaultLedger("ops-rotate-table", tableProxy, seed);
      const before = await checkTable(t, truth, ledger, `${seed} before`);
      expect(before.atTarget).toBe(0);
      const { attempts, last, truth: end } = await drive({
        label: `table-${seed}`,
        ledger,
        proxy: tableProxy,
        argv: (state) => ["rotate-key", "--table", name, "--key", kOld.file, "--new-key", kNew.file, "--resume", state, "--verify", "--concurrency", "2", "--page-size", "5", "--progress", "none", "--connection-string", tableCs],
        check: (label) => checkTable(t, truth, ledger, label),
        finished: (r) => r.verify?.passed === true,
      });
      tableProxy.setFaults({});
      const report = finishReport(ledger, attempts);
      expect(ledger.violations).toEqual([]);
      expect(report.dataLost).toBe(0);
      expect(end).toEqual({ atTarget: truth.length, total: truth.length });
      expect(last?.verify).toMatchObject({ checked: truth.length, ok: truth.length, passed: true });
      expect(tableProxy.stats().faultsInjected - tableProxy.stats().faults.delay).toBeGreaterThan(0);
    },
    120_000,
  );
});
