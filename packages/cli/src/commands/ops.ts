// azcse operations at scale: scan / scan-table (inventory), migrate (1.0 → 2.x in place) and rotate-key
// (bulk re-wrap for a container or a table), resumable with --resume STATE. The engine is ../ops.
import { BlobServiceClient, ContainerClient } from "@azure/storage-blob";
import { TableClient } from "@azure/data-tables";
import type { KeyEncryptionKey } from "@azure-cse/core-envelope";
import { allowedReadProtocols, connectionString, EXIT, loadKeys, parseArgs, READ_FLAGS, READ_USAGE, SERVICE_FLAGS, SERVICE_USAGE, storageClientOptions, tableClientOptions, UsageError, type CommandDef, type FlagSpec, type Io, type ParsedArgs } from "../framework.js";
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

const CONNECTION: Record<string, FlagSpec> = SERVICE_FLAGS;
const RUN_FLAGS: Record<string, FlagSpec> = {
  "dry-run": {},
  concurrency: { value: true },
  resume: { value: true },
  progress: { value: true },
  "page-size": { value: true },
  report: { value: true },
  summary: {},
  outcomes: { value: true },
  shard: { value: true },
  "progress-interval": { value: true },
  "no-plan": {},
  state: { value: true },
  "state-lease-seconds": { value: true },
  "state-wait-seconds": { value: true },
};
const RUN_USAGE =
  "[--dry-run] [--concurrency N] [--resume STATE | --state CONTAINER/PATH|BLOB-URL [--state-lease-seconds S] [--state-wait-seconds S]] [--shard K/N] [--progress auto|bar|summary|lines|none] [--progress-interval SECONDS] [--page-size N] [--report FILE] [--summary] [--outcomes FILE.jsonl] [--no-plan]";

function container(a: ParsedArgs, name: string) {
  return BlobServiceClient.fromConnectionString(connectionString(a), storageClientOptions(a)).getContainerClient(name);
}

function table(a: ParsedArgs, name: string): TableClient {
  const cs = connectionString(a);
  return TableClient.fromConnectionString(cs, name, tableClientOptions(a, cs));
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
    const service = BlobServiceClient.fromConnectionString(connectionString(a), storageClientOptions(a));
    const base = service.url.endsWith("/") ? service.url : `${service.url}/`;
    if (!value.startsWith(base)) throw new UsageError(`--state URL must be on the account of the connection string (${base}) or carry a SAS`);
    return stateLocation(a, decodeURIComponent(value.slice(base.length)));
  }
  const slash = value.indexOf("/");
  if (slash <= 0 || slash === value.length - 1) throw new UsageError("--state must be CONTAINER/PATH or a blob URL");
  const service = BlobServiceClient.fromConnectionString(connectionString(a), storageClientOptions(a));
  const c = service.getContainerClient(value.slice(0, slash));
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
  return async (argv, io) => {
    try {
      return await run(argv, io);
    } catch (e) {
      if (!isLocalResourceError(e)) throw e;
      io.stderr(`azcse: ${localErrorMessage(e)}\n`);
      return EXIT_LOCAL;
    }
  };
}

function newKeyOf(a: ParsedArgs, keys: KeyEncryptionKey[], required: boolean): KeyEncryptionKey {
  const file = a.get("new-key");
  if (!file) {
    if (required) throw new UsageError("--new-key FILE is required");
    return keys[0]!;
  }
  return loadKeys([file])[0]!;
}

const opsCommands: CommandDef[] = [
  {
    path: ["scan"],
    usage: `scan CONTAINER [--prefix P] [--shard K/N] [--json] ${SERVICE_USAGE}   (inventory from the listing: protocols, key ids, writers, sizes)`,
    run: localErrors(async (argv, io) => {
      const a = parseArgs(argv, { ...CONNECTION, prefix: { value: true }, json: {}, shard: { value: true } });
      const name = onePositional(a, "CONTAINER");
      const shard = shardOf(a);
      const report = await scanBlobs({ container: container(a, name), prefix: a.get("prefix"), select: blobSelector(shard), shard: shard && formatShard(shard) });
      io.stdout(a.has("json") ? JSON.stringify(report, null, 2) + "\n" : formatScan(report));
      return EXIT.ok;
    }),
  },
  {
    path: ["scan-table"],
    usage: `scan-table TABLE [--partition-from A] [--partition-to B] [--shard K/N] [--json] ${SERVICE_USAGE}`,
    run: localErrors(async (argv, io) => {
      const a = parseArgs(argv, { ...CONNECTION, "partition-from": { value: true }, "partition-to": { value: true }, json: {}, shard: { value: true } });
      const name = onePositional(a, "TABLE");
      const shard = shardOf(a);
      const report = await scanTable({ table: table(a, name), partitionFrom: a.get("partition-from"), partitionTo: a.get("partition-to"), select: entitySelector(shard), shard: shard && formatShard(shard) });
      io.stdout(a.has("json") ? JSON.stringify(report, null, 2) + "\n" : formatScan(report));
      return EXIT.ok;
    }),
  },
  {
    path: ["migrate"],
    usage:
      `migrate CONTAINER [--prefix P] --key K... [--new-key K] [--to 2.0|2.1] [--region-size BYTES] ${RUN_USAGE} ${READ_USAGE} ${SERVICE_USAGE}   (exit 5: a local limit or I/O error)`,
    run: localErrors(async (argv, io) => {
      const a = parseArgs(argv, {
        ...CONNECTION,
        ...RUN_FLAGS,
        ...READ_FLAGS,
        prefix: { value: true },
        key: { value: true, repeat: true, required: true },
        "new-key": { value: true },
        to: { value: true },
        "region-size": { value: true },
      });
      const name = onePositional(a, "CONTAINER");
      const to = a.get("to") ?? "2.0";
      if (to !== "2.0" && to !== "2.1") throw new UsageError("--to must be 2.0 or 2.1 (1.0 is never written by migrate)");
      const regionSize = a.int("region-size");
      if (regionSize !== undefined && to !== "2.1") throw new UsageError("--region-size needs --to 2.1");
      const keys = loadKeys(a.all("key"));
      const run = await migrateRun({
        container: container(a, name),
        prefix: a.get("prefix"),
        keys,
        newKey: newKeyOf(a, keys, false),
        to,
        regionSize,
        ...runOptions(a, io),
      });
      return output(run, a, io);
    }),
  },
  {
    path: ["rotate-key"],
    usage:
      `rotate-key CONTAINER|--table TABLE --key OLD... --new-key NEW [--prefix P] [--partition-from A] [--partition-to B] [--verify] ${RUN_USAGE} ${READ_USAGE} ${SERVICE_USAGE}   (exit 5: a local limit or I/O error)`,
    run: localErrors(async (argv, io) => {
      const a = parseArgs(argv, {
        ...CONNECTION,
        ...RUN_FLAGS,
        ...READ_FLAGS,
        table: { value: true },
        prefix: { value: true },
        "partition-from": { value: true },
        "partition-to": { value: true },
        key: { value: true, repeat: true, required: true },
        "new-key": { value: true, required: true },
        verify: {},
      });
      const oldKeys = loadKeys(a.all("key"));
      const newKey = newKeyOf(a, oldKeys, true);
      if (oldKeys.every((k) => k.keyId === newKey.keyId)) throw new UsageError("--key must name the old key(s); it is the same as --new-key");
      const common = { oldKeys, newKey, verify: a.has("verify"), ...runOptions(a, io) };
      const tableName = a.get("table");
      if (tableName !== undefined) {
        if (a.positionals.length > 0) throw new UsageError("give either CONTAINER or --table TABLE, not both");
        if (a.has("prefix")) throw new UsageError("--prefix is for containers; split tables with --partition-from/--partition-to");
        const run = await rotateTableRun({ table: table(a, tableName), partitionFrom: a.get("partition-from"), partitionTo: a.get("partition-to"), ...common });
        return output(run, a, io);
      }
      if (a.has("partition-from") || a.has("partition-to")) throw new UsageError("--partition-from/--partition-to need --table");
      const name = onePositional(a, "CONTAINER or --table TABLE");
      const run = await rotateBlobsRun({ container: container(a, name), prefix: a.get("prefix"), ...common });
      return output(run, a, io);
    }),
  },
];

// `report merge` is registered with the ops commands (it reads their reports).
export const commands: CommandDef[] = [...opsCommands, ...reportCommands];
