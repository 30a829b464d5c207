// azcse operations at scale: scan / scan-table (inventory), migrate (1.0 → 2.x in place) and rotate-key
// (bulk re-wrap for a container or a table), resumable with --resume STATE. The engine is ../ops.
import { BlobServiceClient } from "@azure/storage-blob";
import { TableClient } from "@azure/data-tables";
import type { KeyEncryptionKey } from "@azure-cse/core-envelope";
import { connectionString, EXIT, loadKeys, parseArgs, SERVICE_FLAGS, SERVICE_USAGE, storageClientOptions, tableClientOptions, UsageError, type CommandDef, type FlagSpec, type Io, type ParsedArgs } from "../framework.js";
import {
  exitCodeOf,
  formatScan,
  ProgressReporter,
  runMigrate,
  runRotateBlobs,
  runRotateTable,
  scanBlobs,
  scanTable,
  writeFileAtomic,
  type OpsReport,
  type ProgressMode,
} from "../ops/index.js";

const CONNECTION: Record<string, FlagSpec> = SERVICE_FLAGS;
const RUN_FLAGS: Record<string, FlagSpec> = {
  "dry-run": {},
  concurrency: { value: true },
  resume: { value: true },
  progress: { value: true },
  "page-size": { value: true },
  report: { value: true },
};

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
  if (!["auto", "bar", "lines", "none"].includes(mode)) throw new UsageError("--progress must be auto, bar, lines or none");
  const resolved: ProgressMode = mode === "auto" ? (process.stderr.isTTY ? "bar" : "lines") : (mode as ProgressMode);
  return new ProgressReporter(resolved, io.stderr);
}

function runOptions(a: ParsedArgs, io: Io) {
  const concurrency = a.int("concurrency");
  if (concurrency !== undefined && (concurrency < 1 || concurrency > 256)) throw new UsageError("--concurrency must be from 1 to 256");
  const pageSize = a.int("page-size");
  if (pageSize !== undefined && (pageSize < 1 || pageSize > 5000)) throw new UsageError("--page-size must be from 1 to 5000");
  const dryRun = a.has("dry-run");
  if (dryRun && a.has("resume")) throw new UsageError("--dry-run writes nothing, so it takes no --resume state file");
  return { concurrency, pageSize, dryRun, stateFile: a.get("resume"), progress: progressFor(a, io) };
}

function output(report: OpsReport, a: ParsedArgs, io: Io): number {
  const text = JSON.stringify(report, null, 2) + "\n";
  const file = a.get("report");
  if (file) writeFileAtomic(file, text);
  io.stdout(text);
  const code = exitCodeOf(report);
  if (report.failed.length > 0) io.stderr(`azcse: ${report.failed.length} object(s) failed: ${Object.entries(report.failedByCode).map(([c, n]) => `${c} ${n}`).join(", ")}\n`);
  if (report.verify && !report.verify.passed) {
    io.stderr(`azcse: verify failed: ${report.verify.stillOldKey.length} object(s) still name an old key, ${report.verify.failed.length} do not open with the new key\n`);
  }
  return code;
}

function newKeyOf(a: ParsedArgs, keys: KeyEncryptionKey[], required: boolean): KeyEncryptionKey {
  const file = a.get("new-key");
  if (!file) {
    if (required) throw new UsageError("--new-key FILE is required");
    return keys[0]!;
  }
  return loadKeys([file])[0]!;
}

export const commands: CommandDef[] = [
  {
    path: ["scan"],
    usage: `scan CONTAINER [--prefix P] [--json] ${SERVICE_USAGE}   (inventory from the listing: protocols, key ids, writers, sizes)`,
    async run(argv, io) {
      const a = parseArgs(argv, { ...CONNECTION, prefix: { value: true }, json: {} });
      const name = onePositional(a, "CONTAINER");
      const report = await scanBlobs({ container: container(a, name), prefix: a.get("prefix") });
      io.stdout(a.has("json") ? JSON.stringify(report, null, 2) + "\n" : formatScan(report));
      return EXIT.ok;
    },
  },
  {
    path: ["scan-table"],
    usage: `scan-table TABLE [--partition-from A] [--partition-to B] [--json] ${SERVICE_USAGE}`,
    async run(argv, io) {
      const a = parseArgs(argv, { ...CONNECTION, "partition-from": { value: true }, "partition-to": { value: true }, json: {} });
      const name = onePositional(a, "TABLE");
      const report = await scanTable({ table: table(a, name), partitionFrom: a.get("partition-from"), partitionTo: a.get("partition-to") });
      io.stdout(a.has("json") ? JSON.stringify(report, null, 2) + "\n" : formatScan(report));
      return EXIT.ok;
    },
  },
  {
    path: ["migrate"],
    usage:
      `migrate CONTAINER [--prefix P] --key K... [--new-key K] [--to 2.0|2.1] [--region-size BYTES] [--dry-run] [--concurrency N] [--resume STATE] [--progress auto|bar|lines|none] [--page-size N] [--report FILE] ${SERVICE_USAGE}`,
    async run(argv, io) {
      const a = parseArgs(argv, {
        ...CONNECTION,
        ...RUN_FLAGS,
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
      const report = await runMigrate({
        container: container(a, name),
        prefix: a.get("prefix"),
        keys,
        newKey: newKeyOf(a, keys, false),
        to,
        regionSize,
        ...runOptions(a, io),
      });
      return output(report, a, io);
    },
  },
  {
    path: ["rotate-key"],
    usage:
      `rotate-key CONTAINER|--table TABLE --key OLD... --new-key NEW [--prefix P] [--partition-from A] [--partition-to B] [--dry-run] [--concurrency N] [--resume STATE] [--verify] [--progress auto|bar|lines|none] [--page-size N] [--report FILE] ${SERVICE_USAGE}`,
    async run(argv, io) {
      const a = parseArgs(argv, {
        ...CONNECTION,
        ...RUN_FLAGS,
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
        const report = await runRotateTable({ table: table(a, tableName), partitionFrom: a.get("partition-from"), partitionTo: a.get("partition-to"), ...common });
        return output(report, a, io);
      }
      if (a.has("partition-from") || a.has("partition-to")) throw new UsageError("--partition-from/--partition-to need --table");
      const name = onePositional(a, "CONTAINER or --table TABLE");
      const report = await runRotateBlobs({ container: container(a, name), prefix: a.get("prefix"), ...common });
      return output(report, a, io);
    },
  },
];
