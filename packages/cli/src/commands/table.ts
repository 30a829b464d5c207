// azcse table commands: put/get/query encrypted entities through the service, and offline
// encrypt-entity/decrypt-entity on entities in OData JSON as on the wire.
// Entities are always OData JSON: values plus `<name>@odata.type` annotations (either order).
import { readFileSync } from "node:fs";
import { TableClient } from "@azure/data-tables";
import { EncryptedTableClient, decryptEntity, encryptEntity, entityFromODataJson, entityToODataJson, type EntityRecord } from "@azure-cse/data-tables";
import { EXIT, connectionString, parseArgs, policyFromKeyFiles, SERVICE_FLAGS, SERVICE_USAGE, tableClientOptions, UsageError, type CommandDef, type ParsedArgs, writeFileAtomically } from "../framework.js";

/** Reads an OData JSON entity file (ENOENT surfaces as "not found"). */
function readEntityFile(file: string): EntityRecord {
  const text = readFileSync(file, "utf8");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UsageError(`${file} is not JSON (expected one entity in OData JSON)`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new UsageError(`${file} must hold one JSON object (an entity)`);
  return entityFromODataJson(json);
}

/** The entity to write: keys required, service bookkeeping (etag, Timestamp, odata.*) dropped. */
function writableEntity(entity: EntityRecord, file: string): EntityRecord & { partitionKey: string; rowKey: string } {
  const { etag: _etag, timestamp: _ts, ...rest } = entity;
  for (const k of Object.keys(rest)) if (k.startsWith("odata.")) delete rest[k];
  if (typeof rest.partitionKey !== "string" || typeof rest.rowKey !== "string") throw new UsageError(`${file} needs string PartitionKey and RowKey properties`);
  return rest as EntityRecord & { partitionKey: string; rowKey: string };
}

/** `--encrypt NAME[,NAME...]`; every name must be a property of the entity (catches typos before anything is written). */
function encryptList(a: ParsedArgs, entity: EntityRecord): string[] {
  const names = (a.get("encrypt") ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length === 0) throw new UsageError("--encrypt needs at least one property name (NAME[,NAME...])");
  const missing = names.filter((n) => !Object.prototype.hasOwnProperty.call(entity, n));
  if (missing.length) throw new UsageError(`--encrypt names ${missing.map((n) => `"${n}"`).join(", ")}, which the entity does not have`);
  return names;
}

function tableOf(a: ParsedArgs, count: number): { table: TableClient; args: string[] } {
  const [name, ...rest] = a.positionals;
  if (!name) throw new UsageError("the TABLE name is required");
  if (rest.length !== count - 1) throw new UsageError(count === 1 ? `unexpected argument ${rest[0]}` : `expected TABLE PK RK (${count} arguments)`);
  const cs = connectionString(a);
  return { table: TableClient.fromConnectionString(cs, name, tableClientOptions(a, cs)), args: rest };
}

const serviceFlags = SERVICE_FLAGS;
const json = (v: unknown) => JSON.stringify(v);

/** A read entity as OData JSON, without the service's `odata.metadata` URL. */
function outputEntity(entity: EntityRecord): Record<string, unknown> {
  const { "odata.metadata": _m, ...rest } = entityToODataJson(entity);
  return rest;
}

export const commands: CommandDef[] = [
  {
    path: ["table", "put"],
    usage: `table put TABLE --in ENTITY.json --key K --encrypt NAME[,NAME...] [--create-table] ${SERVICE_USAGE}`,
    async run(argv, io) {
      const a = parseArgs(argv, {
        in: { value: true, required: true },
        key: { value: true, repeat: true, required: true },
        encrypt: { value: true, required: true },
        "create-table": {},
        ...serviceFlags,
      });
      const { table } = tableOf(a, 1);
      const entity = writableEntity(readEntityFile(a.get("in")!), a.get("in")!);
      const names = encryptList(a, entity);
      const client = new EncryptedTableClient(table, policyFromKeyFiles(a.all("key")));
      if (a.has("create-table")) await table.createTable();
      const res = await client.upsertEntity(entity, "Replace", { encryptedProperties: names });
      io.stdout(json({ table: table.tableName, partitionKey: entity.partitionKey, rowKey: entity.rowKey, etag: res.etag, encrypted: names }) + "\n");
      return EXIT.ok;
    },
  },
  {
    path: ["table", "get"],
    usage: `table get TABLE PK RK --key K [--out FILE] ${SERVICE_USAGE}`,
    async run(argv, io) {
      const a = parseArgs(argv, { key: { value: true, repeat: true, required: true }, out: { value: true }, ...serviceFlags });
      const { table, args } = tableOf(a, 3);
      const client = new EncryptedTableClient(table, policyFromKeyFiles(a.all("key")));
      const entity = await client.getEntity(args[0]!, args[1]!, { disableTypeConversion: true });
      const text = JSON.stringify(outputEntity(entity), null, 2) + "\n";
      if (a.has("out")) writeFileAtomically(a.get("out")!, text);
      else io.stdout(text);
      return EXIT.ok;
    },
  },
  {
    path: ["table", "query"],
    usage: `table query TABLE --key K [--filter F] [--select A,B] ${SERVICE_USAGE}   (one decrypted entity per output line)`,
    async run(argv, io) {
      const a = parseArgs(argv, { key: { value: true, repeat: true, required: true }, filter: { value: true }, select: { value: true }, ...serviceFlags });
      const { table } = tableOf(a, 1);
      const select = a.has("select")
        ? a
            .get("select")!
            .split(",")
            .map((s) => s.trim())
            .filter((s) => s.length > 0)
        : undefined;
      if (select && select.length === 0) throw new UsageError("--select needs at least one property name");
      const client = new EncryptedTableClient(table, policyFromKeyFiles(a.all("key")));
      // Decrypt everything first so a failure prints no partial result.
      const lines: string[] = [];
      for await (const e of client.listEntities({ disableTypeConversion: true, queryOptions: { filter: a.get("filter"), select } })) {
        lines.push(json(outputEntity(e)));
      }
      for (const l of lines) io.stdout(l + "\n");
      return EXIT.ok;
    },
  },
  {
    path: ["table", "encrypt-entity"],
    usage: "table encrypt-entity --in ENTITY.json --out WIRE.json --key K --encrypt NAME[,NAME...]",
    async run(argv, io) {
      const a = parseArgs(argv, {
        in: { value: true, required: true },
        out: { value: true, required: true },
        key: { value: true, repeat: true, required: true },
        encrypt: { value: true, required: true },
      });
      if (a.positionals.length) throw new UsageError(`unexpected argument ${a.positionals[0]}`);
      const entity = writableEntity(readEntityFile(a.get("in")!), a.get("in")!);
      const names = encryptList(a, entity);
      const { entity: wire } = await encryptEntity(entity, policyFromKeyFiles(a.all("key")), { encryptedProperties: names });
      writeFileAtomically(a.get("out")!, JSON.stringify(entityToODataJson(wire)) + "\n");
      io.stdout(json({ out: a.get("out"), encrypted: names }) + "\n");
      return EXIT.ok;
    },
  },
  {
    path: ["table", "decrypt-entity"],
    usage: "table decrypt-entity --in WIRE.json --out ENTITY.json --key K",
    async run(argv, io) {
      const a = parseArgs(argv, { in: { value: true, required: true }, out: { value: true, required: true }, key: { value: true, repeat: true, required: true } });
      if (a.positionals.length) throw new UsageError(`unexpected argument ${a.positionals[0]}`);
      const entity = readEntityFile(a.get("in")!);
      const plain = await decryptEntity(entity, policyFromKeyFiles(a.all("key")));
      writeFileAtomically(a.get("out")!, JSON.stringify(entityToODataJson(plain), null, 2) + "\n");
      io.stdout(json({ out: a.get("out") }) + "\n");
      return EXIT.ok;
    },
  },
];
