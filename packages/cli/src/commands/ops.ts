// azcse operations at scale: scan / scan-table (inventory), migrate (1.0 → 2.x in place) and rotate-key
// (bulk re-wrap for a container or a table), resumable with --resume STATE. The engine is ../ops.
import { existsSync } from "node:fs";
import path from "node:path";
import { ContainerClient } from "@azure/storage-blob";
import type { TableClient } from "@azure/data-tables";
import type { KeyEncryptionKey } from "@azure-cse/core-envelope";
import { allowedReadProtocols, defineCommand, EXIT, READ_FLAGS, UsageError, type CommandDef, type FlagSpecs, type Io, type ParsedArgs } from "../framework.js";
import { blobServiceOf, SERVICE_FLAGS, storageClientOptions, tableOf } from "../account.js";
import { CommandKeys, isVersionlessVaultKey, KEY_VAULT_FLAGS } from "../keys.js";
import { checkOutputPath } from "../files.js";
import {
  BlobRunState,
  blobSelector,
  entitySelector,
  EXIT_LOCAL,
  exitCodeOfRun,
  formatScan,
  formatShard,
  migrateRun,
  parseShard,
  ProgressReporter,
  rotateBlobsRun,
  rotateTableRun,
  scanBlobs,
  scanTable,
  summaryReport,
  writeFileAtomic,
  writeFileStreamed,
  writeFullReport,
  writeOutcomes,
  type BlobStateLocation,
  type OpsRun,
  type ProgressMode,
  type RunIdentity,
  type Shard,
} from "../ops/index.js";
import { isLocalResourceError, localErrorMessage } from "../ops/local-errors.js";
import { commands as reportCommands } from "./report.js";

const CONNECTION: FlagSpecs = SERVICE_FLAGS;
const RUN_FLAGS: FlagSpecs = {
  "dry-run": { help: "list what would change; write nothing" },
  concurrency: { value: true, arg: "N", help: "objects in flight, 1-256" },
  resume: { value: true, arg: "STATE", help: "local state file: resume an interrupted run (created when missing)" },
  state: { value: true, arg: "CONTAINER/PATH|BLOB-URL", help: "state in a blob (leased; for workers on several machines)" },
  "state-lease-seconds": { value: true, arg: "S", help: "lease of --state, 15-60" },
  "state-wait-seconds": { value: true, arg: "S", help: "wait up to S seconds for a --state held by another worker (max 3600)" },
  shard: { value: true, arg: "K/N", help: "this worker's share K of N (by name hash)" },
  progress: { value: true, arg: "auto|bar|summary|lines|none", help: "progress on stderr (auto: bar on a terminal, summary lines otherwise)" },
  "progress-interval": { value: true, arg: "SECONDS", help: "interval of summary lines (1-86400; default 30)" },
  "page-size": { value: true, arg: "N", help: "listing page size, 1-5000" },
  report: { value: true, arg: "FILE", help: "also write the JSON report to FILE" },
  summary: { help: "print the bounded summary report instead of the full one" },
  outcomes: { value: true, arg: "FILE.jsonl", help: "write every object's outcome as JSON Lines" },
  "no-plan": { help: "skip the planning listing (no totals in the progress)" },
};
const OLD_KEYS_HELP = "old key(s): private JWK files or versioned Key Vault key ids (…/keys/NAME/VERSION; `azcse scan` lists the key ids in use)";
const NEW_KEY_HELP = "the new key: a private JWK file or a Key Vault key id (a versionless id is pinned to the key's current version)";

function container(a: ParsedArgs, name: string) {
  return blobServiceOf(a).getContainerClient(name);
}

function table(a: ParsedArgs, name: string): TableClient {
  return tableOf(a, name);
}

/**
 * Keys of the bulk commands. The engine matches stored kids exactly, so vault keys are pinned to one version: old
 * keys must name it, the new key is pinned to the version that wraps now.
 */
async function opsKeys(a: ParsedArgs, newRequired: boolean): Promise<{ keys: KeyEncryptionKey[]; newKey: KeyEncryptionKey }> {
  const ck = new CommandKeys(a);
  const keys = ck.load(a.all("key"));
  const versionless = a.all("key").filter((_, i) => isVersionlessVaultKey(keys[i]!));
  const newValue = a.get("new-key");
  // migrate without --new-key re-encrypts under the first --key: that one may be versionless (it is pinned).
  const old = newValue === undefined ? versionless.filter((v) => v !== a.all("key")[0]) : versionless;
  if (old.length) {
    throw new UsageError(`--key ${old[0]}: give the versioned Key Vault key id of each old key (…/keys/NAME/VERSION) — stored data names one version; \`azcse scan\` lists the key ids in use`);
  }
  if (newValue === undefined && newRequired) throw new UsageError("--new-key is required");
  const chosen = newValue === undefined ? keys[0]! : ck.load([newValue], "--new-key")[0]!;
  const newKey = await ck.pinned(chosen);
  return { keys: newValue === undefined ? [newKey, ...keys.slice(1)] : keys, newKey };
}

/**
 * --report / --outcomes are checked before the run (a missing folder is reported now, naming it, not after the
 * run with a temporary name); so is a missing folder of --resume (its other local failures stay exit 5).
 */
function checkReportPaths(a: ParsedArgs): void {
  for (const flag of ["report", "outcomes"]) if (a.has(flag)) checkOutputPath(`--${flag}`, a.get(flag));
  const resume = a.get("resume");
  if (resume !== undefined && resume.length > 0 && !existsSync(path.dirname(path.resolve(resume)))) checkOutputPath("--resume", resume);
}

function onePositional(a: ParsedArgs, what: string): string {
  if (a.positionals.length !== 1) throw new UsageError(`expected ${what} (got ${a.positionals.length} arguments)`);
  return a.positionals[0]!;
}

function progressFor(a: ParsedArgs, io: Io): ProgressReporter {
  const mode = a.get("progress") ?? "auto";
  if (!["auto", "bar", "summary", "lines", "none"].includes(mode)) throw new UsageError("--progress must be auto, bar, summary, lines or none");
  // Without a terminal: periodic summary lines (one line per object only with --progress lines).
  const resolved: ProgressMode = mode === "auto" ? (process.stderr.isTTY ? "bar" : "summary") : (mode as ProgressMode);
  const interval = a.int("progress-interval");
  if (interval !== undefined && (interval < 1 || interval > 86_400)) throw new UsageError("--progress-interval must be from 1 to 86400 seconds");
  return new ProgressReporter(resolved, io.stderr, Date.now, interval === undefined ? undefined : interval * 1000);
}

function shardOf(a: ParsedArgs): Shard | undefined {
  const v = a.get("shard");
  if (v === undefined) return undefined;
  try {
    return parseShard(v);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function runOptions(a: ParsedArgs, io: Io) {
  const concurrency = a.int("concurrency");
  if (concurrency !== undefined && (concurrency < 1 || concurrency > 256)) throw new UsageError("--concurrency must be from 1 to 256");
  const pageSize = a.int("page-size");
  if (pageSize !== undefined && (pageSize < 1 || pageSize > 5000)) throw new UsageError("--page-size must be from 1 to 5000");
  const dryRun = a.has("dry-run");
  if (dryRun && a.has("resume")) throw new UsageError("--dry-run writes nothing, so it takes no --resume state file");
  if (dryRun && a.has("state")) throw new UsageError("--dry-run writes nothing, so it takes no --state");
  if (a.has("resume") && a.has("state")) throw new UsageError("give either --resume FILE (local) or --state (in a blob), not both");
  const lease = a.int("state-lease-seconds");
  if (lease !== undefined && !a.has("state")) throw new UsageError("--state-lease-seconds needs --state");
  if (lease !== undefined && (lease < 15 || lease > 60)) throw new UsageError("--state-lease-seconds must be from 15 to 60");
  const wait = a.int("state-wait-seconds");
  if (wait !== undefined && !a.has("state")) throw new UsageError("--state-wait-seconds needs --state");
  if (wait !== undefined && wait > 3600) throw new UsageError("--state-wait-seconds must be at most 3600");
  const allowed = allowedReadProtocols(a);
  const common = { concurrency, pageSize, dryRun, progress: progressFor(a, io), shard: shardOf(a), noPlan: a.has("no-plan"), ...(allowed ? { allowedReadProtocols: allowed } : {}) };
  const state = a.get("state");
  if (state === undefined) return { ...common, stateFile: a.get("resume") };
  const loc = stateLocation(a, state);
  return { ...common, stateFile: loc.display, openState: (identity: RunIdentity) => BlobRunState.openAt(loc, identity, { leaseSeconds: lease, waitMs: wait === undefined ? undefined : wait * 1000 }) };
}

/**
 * `--state` names the checkpoint blob: `CONTAINER/PATH` on the account of the connection string, or a blob
 * URL — on that account (its credential is used) or carrying a SAS (container scope: the journal blobs are
 * created next to it).
 */
function stateLocation(a: ParsedArgs, value: string): BlobStateLocation {
  if (/^https?:\/\//i.test(value)) {
    const u = new URL(value);
    if (u.search) {
      const parts = u.pathname.split("/");
      // Path-style (emulator, IP address) URLs carry the account first: /account/container/blob.
      const first = /^\d+\.\d+\.\d+\.\d+$|^localhost$/i.test(u.hostname) || u.port ? 2 : 1;
      const containerName = decodeURIComponent(parts[first] ?? "");
      const name = parts.slice(first + 1).map(decodeURIComponent).join("/");
      if (!containerName || !name) throw new UsageError("--state URL must name a blob: https://ACCOUNT.blob.core.windows.net/CONTAINER/PATH");
      const containerUrl = `${u.origin}${parts.slice(0, first + 1).join("/")}${u.search}`;
      return { container: new ContainerClient(containerUrl, undefined, storageClientOptions(a)), name, display: `${u.origin}${u.pathname}` };
    }
    const service = blobServiceOf(a);
    const serviceUrl = service.url.replace(/\?.*$/s, "");
    const base = serviceUrl.endsWith("/") ? serviceUrl : `${serviceUrl}/`;
    if (!value.startsWith(base)) throw new UsageError(`--state URL must be on the account of the command (${base}) or carry a SAS`);
    return stateLocation(a, decodeURIComponent(value.slice(base.length)));
  }
  const slash = value.indexOf("/");
  if (slash <= 0 || slash === value.length - 1) throw new UsageError("--state must be CONTAINER/PATH or a blob URL");
  const c = blobServiceOf(a).getContainerClient(value.slice(0, slash));
  return { container: c, name: value.slice(slash + 1), display: `${c.url.replace(/\?.*$/, "")}/${value.slice(slash + 1)}` };
}

/**
 * Writes the report of a finished run and returns the exit code. The outcomes are streamed from the journal
 * (`--outcomes FILE` as JSON Lines, the arrays of the full report piece by piece); `--summary` prints the
 * bounded summary instead of the full report. Nothing here holds all outcomes in memory.
 */
async function output(run: OpsRun, a: ParsedArgs, io: Io): Promise<number> {
  try {
    const outcomesFile = a.get("outcomes");
    if (outcomesFile) await writeFileStreamed(outcomesFile, (sink) => writeOutcomes(run, sink));
    const file = a.get("report");
    if (a.has("summary")) {
      const text = JSON.stringify(summaryReport(run, outcomesFile ?? null), null, 2) + "\n";
      if (file) writeFileAtomic(file, text);
      io.stdout(text);
    } else if (file) {
      await writeFileStreamed(file, (sink) =>
        writeFullReport(run, (s) => {
          sink(s);
          io.stdout(s);
        }),
      );
    } else await writeFullReport(run, io.stdout);
    const s = run.summary;
    if (s.failed > 0) io.stderr(`azcse: ${s.failed} object(s) failed: ${Object.entries(s.failedByCode).map(([c, n]) => `${c} ${n}`).join(", ")}\n`);
    const v = run.verify;
    if (v && !v.passed) {
      io.stderr(`azcse: verify failed: ${v.stillOldKeyCount ?? v.stillOldKey.length} object(s) still name an old key, ${v.failedCount ?? v.failed.length} do not open with the new key\n`);
    }
    return exitCodeOfRun(run);
  } finally {
    await run.close();
  }
}

/** Local limits and I/O failures (disk full, out of memory, too many open files) exit 5, not 4: the service is fine. */
function localErrors(run: CommandDef["run"]): CommandDef["run"] {
  return async (a, io) => {
    try {
      return await run(a, io);
    } catch (e) {
      if (!isLocalResourceError(e)) throw e;
      io.stderr(`azcse: ${localErrorMessage(e)}\n`);
      return EXIT_LOCAL;
    }
  };
}

const opsCommands: CommandDef[] = [
  defineCommand({
    path: ["scan"],
    args: "CONTAINER",
    summary: "Inventory from the listing (no content read): counts and bytes per protocol, key id, writer library; plaintext vs stored; unencrypted objects.",
    flags: {
      prefix: { value: true, arg: "P", help: "only blobs whose names start with P" },
      shard: RUN_FLAGS.shard!,
      json: { help: "JSON instead of a table" },
      ...CONNECTION,
    },
    run: localErrors(async (a, io) => {
      const name = onePositional(a, "CONTAINER");
      const shard = shardOf(a);
      const report = await scanBlobs({ container: container(a, name), prefix: a.get("prefix"), select: blobSelector(shard), shard: shard && formatShard(shard) });
      io.stdout(a.has("json") ? JSON.stringify(report, null, 2) + "\n" : formatScan(report));
      return EXIT.ok;
    }),
  }),
  defineCommand({
    path: ["scan-table"],
    args: "TABLE",
    summary: "The same inventory for entities.",
    flags: {
      "partition-from": { value: true, arg: "A", help: "first PartitionKey (inclusive)" },
      "partition-to": { value: true, arg: "B", help: "last PartitionKey (exclusive)" },
      shard: RUN_FLAGS.shard!,
      json: { help: "JSON instead of a table" },
      ...CONNECTION,
    },
    run: localErrors(async (a, io) => {
      const name = onePositional(a, "TABLE");
      const shard = shardOf(a);
      const report = await scanTable({ table: table(a, name), partitionFrom: a.get("partition-from"), partitionTo: a.get("partition-to"), select: entitySelector(shard), shard: shard && formatShard(shard) });
      io.stdout(a.has("json") ? JSON.stringify(report, null, 2) + "\n" : formatScan(report));
      return EXIT.ok;
    }),
  }),
  defineCommand({
    path: ["migrate"],
    args: "CONTAINER",
    summary: "Re-encrypts every 1.0 blob (and every 2.x blob under an offered old key) as 2.x in place, If-Match the listed ETag (exit 5: a local limit or I/O error).",
    flags: {
      prefix: { value: true, arg: "P", help: "only blobs whose names start with P" },
      key: { value: true, repeat: true, required: true, arg: "K", help: OLD_KEYS_HELP },
      "new-key": { value: true, arg: "K", help: `${NEW_KEY_HELP}; default: the first --key` },
      to: { value: true, arg: "2.0|2.1", help: "target protocol (default 2.0)" },
      "region-size": { value: true, arg: "BYTES", help: "region size of --to 2.1" },
      ...RUN_FLAGS,
      ...READ_FLAGS,
      ...KEY_VAULT_FLAGS,
      ...CONNECTION,
    },
    run: localErrors(async (a, io) => {
      const name = onePositional(a, "CONTAINER");
      const to = a.get("to") ?? "2.0";
      if (to !== "2.0" && to !== "2.1") throw new UsageError("--to must be 2.0 or 2.1 (1.0 is never written by migrate)");
      const regionSize = a.int("region-size");
      if (regionSize !== undefined && to !== "2.1") throw new UsageError("--region-size needs --to 2.1");
      checkReportPaths(a);
      const options = runOptions(a, io);
      const { keys, newKey } = await opsKeys(a, false);
      const run = await migrateRun({ container: container(a, name), prefix: a.get("prefix"), keys, newKey, to, regionSize, ...options });
      return output(run, a, io);
    }),
  }),
  defineCommand({
    path: ["rotate-key"],
    args: "[CONTAINER]",
    summary: "Re-wraps content keys of a container (or of --table TABLE) with --new-key (metadata / _ClientEncryptionMetadata1 only; exit 5: a local limit or I/O error).",
    flags: {
      table: { value: true, arg: "TABLE", help: "rotate a table instead of CONTAINER" },
      prefix: { value: true, arg: "P", help: "only blobs whose names start with P" },
      "partition-from": { value: true, arg: "A", help: "tables: first PartitionKey (inclusive)" },
      "partition-to": { value: true, arg: "B", help: "tables: last PartitionKey (exclusive)" },
      key: { value: true, repeat: true, required: true, arg: "OLD", help: OLD_KEYS_HELP },
      "new-key": { value: true, required: true, arg: "NEW", help: NEW_KEY_HELP },
      verify: { help: "afterwards, check that every object opens with the new key and none names an old key" },
      ...RUN_FLAGS,
      ...READ_FLAGS,
      ...KEY_VAULT_FLAGS,
      ...CONNECTION,
    },
    run: localErrors(async (a, io) => {
      checkReportPaths(a);
      const tableName = a.get("table");
      if (tableName !== undefined) {
        if (a.positionals.length > 0) throw new UsageError("give either CONTAINER or --table TABLE, not both");
        if (a.has("prefix")) throw new UsageError("--prefix is for containers; split tables with --partition-from/--partition-to");
      } else {
        if (a.has("partition-from") || a.has("partition-to")) throw new UsageError("--partition-from/--partition-to need --table");
        onePositional(a, "CONTAINER or --table TABLE");
      }
      const options = runOptions(a, io);
      const { keys: oldKeys, newKey } = await opsKeys(a, true);
      if (oldKeys.every((k) => k.keyId === newKey.keyId)) throw new UsageError("--key must name the old key(s); it is the same as --new-key");
      const common = { oldKeys, newKey, verify: a.has("verify"), ...options };
      if (tableName !== undefined) {
        const run = await rotateTableRun({ table: table(a, tableName), partitionFrom: a.get("partition-from"), partitionTo: a.get("partition-to"), ...common });
        return output(run, a, io);
      }
      const run = await rotateBlobsRun({ container: container(a, a.positionals[0]!), prefix: a.get("prefix"), ...common });
      return output(run, a, io);
    }),
  }),
];

// `report merge` is registered with the ops commands (it reads their reports).
export const commands: CommandDef[] = [...opsCommands, ...reportCommands];
