// azcse table commands: put/get/query encrypted entities through the service, and offline
// encrypt-entity/decrypt-entity on entities in OData JSON as on the wire.
// Entities are always OData JSON: values plus `<name>@odata.type` annotations (either order).
import type { TableClient } from "@azure/data-tables";
import { EncryptedTableClient, decryptEntity, encryptEntity, entityFromODataJson, entityToODataJson, type EntityRecord } from "@azure-cse/data-tables";
import { ClientSideEncryptionError } from "@azure-cse/core-envelope";
import {
  EXIT,
  asStoredDataFailure,
  checkResourceName,
  decodingStoredData,
  defineCommand,
  OVERWRITE_FLAG,
  READ_FLAGS,
  readPolicyOptions,
  UsageError,
  type CommandDef,
  type FlagSpecs,
  type ParsedArgs,
} from "../framework.js";
import { SERVICE_FLAGS, tableOf as accountTable } from "../account.js";
import { KEY_HELP, KEY_VAULT_FLAGS, policyFromKeys } from "../keys.js";
import { readInputFile, StagedOutputs } from "../files.js";

/**
 * Reads an OData JSON entity file named by `--in` (ENOENT surfaces as "not found"). A caller's entity that is not
 * an entity is a usage error; a stored entity (`stored`: decrypt-entity's WIRE.json) that is malformed is stored
 * data that cannot be decrypted (INVALID_ENCRYPTION_DATA, exit 2).
 */
async function readEntityFile(file: string | undefined, stored = false): Promise<EntityRecord> {
  const text = (await readInputFile("--in", file)).toString("utf8");
  const bad = (why: string): Error => (stored ? new ClientSideEncryptionError("INVALID_ENCRYPTION_DATA", `--in: ${file} ${why}`) : new UsageError(`--in: ${file} ${why}`));
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw bad("is not JSON (expected one entity in OData JSON)");
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw bad("must hold one JSON object (an entity)");
  try {
    return entityFromODataJson(json);
  } catch (e) {
    if (ClientSideEncryptionError.is(e) && e.code === "INVALID_ARGUMENT") throw bad(`is not a valid OData JSON entity: ${e.message}`);
    throw e;
  }
}

/** The entity to write: keys required, service bookkeeping (etag, Timestamp, odata.*) dropped. */
function writableEntity(entity: EntityRecord, file: string | undefined): EntityRecord & { partitionKey: string; rowKey: string } {
  const { etag: _etag, timestamp: _ts, ...rest } = entity;
  for (const k of Object.keys(rest)) if (k.startsWith("odata.")) delete rest[k];
  if (typeof rest.partitionKey !== "string" || typeof rest.rowKey !== "string") throw new UsageError(`--in: ${file} needs string PartitionKey and RowKey properties`);
  return rest as EntityRecord & { partitionKey: string; rowKey: string };
}

/** `--encrypt NAME[,NAME...]`; every name must be a property of the entity (catches typos before anything is written). */
function encryptList(a: ParsedArgs, entity: EntityRecord): string[] {
  const names = (a.get("encrypt") ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length === 0) throw new UsageError("--encrypt needs at least one property name (NAME[,NAME...])");
  const reserved = names.filter((n) => /^(partitionkey|rowkey|timestamp|etag|_clientencryptionmetadata[12])$/i.test(n) || n.startsWith("odata.") || n.includes("@odata."));
  if (reserved.length) {
    throw new UsageError(`--encrypt: ${reserved.map((n) => `"${n}"`).join(", ")} can never be encrypted (keys, Timestamp, etag, annotations and the encryption metadata are stored in plaintext)`);
  }
  const twice = names.filter((n, i) => names.indexOf(n) !== i);
  if (twice.length) throw new UsageError(`--encrypt names "${twice[0]}" more than once`);
  const missing = names.filter((n) => !Object.prototype.hasOwnProperty.call(entity, n));
  if (missing.length) throw new UsageError(`--encrypt names ${missing.map((n) => `"${n}"`).join(", ")}, which the entity does not have`);
  return names;
}

/** PartitionKey / RowKey values the service accepts: at most 1 KiB, no / \\ # ? and no control characters. */
function checkKeyValue(which: "PK" | "RK", v: string): void {
  // eslint-disable-next-line no-control-regex
  if (Buffer.byteLength(v, "utf8") > 1024 || /[/\\#?\u0000-\u001f\u007f-\u009f]/.test(v)) {
    throw new UsageError(`${which} ${JSON.stringify(v)} is not a valid key (at most 1 KiB; no /, \\, #, ? or control characters)`);
  }
}

/** Encrypting the caller's entity: the library's INVALID_ARGUMENT is about --in or the --encrypt list (exit 1). */
async function callerValues<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (ClientSideEncryptionError.is(e) && e.code === "INVALID_ARGUMENT") throw new ClientSideEncryptionError("INVALID_ARGUMENT", `--in / --encrypt: ${e.message}`, { cause: e });
    throw e;
  }
}

function tableOf(a: ParsedArgs, count: number): { table: TableClient; args: string[] } {
  const [name, ...rest] = a.positionals;
  if (!name) throw new UsageError("the TABLE name is required");
  if (rest.length !== count - 1) throw new UsageError(count === 1 ? `unexpected argument ${rest[0]}` : `expected TABLE PK RK (${count} arguments)`);
  checkResourceName("TABLE", name);
  return { table: accountTable(a, name), args: rest };
}

const serviceFlags = SERVICE_FLAGS;
const KEY: FlagSpecs = { key: { value: true, repeat: true, required: true, arg: "KEY", help: KEY_HELP } };
const ENCRYPT: FlagSpecs = { encrypt: { value: true, required: true, arg: "NAME[,NAME...]", help: "the properties to encrypt (each must be in the entity)" } };

function httpStatusOf(e: unknown): number | undefined {
  for (let x: unknown = e, i = 0; x && i < 4; x = (x as { cause?: unknown }).cause, i++) {
    const s = (x as { statusCode?: unknown; details?: { statusCode?: unknown } }).statusCode ?? (x as { details?: { statusCode?: unknown } }).details?.statusCode;
    if (typeof s === "number") return s;
  }
  return undefined;
}
const json = (v: unknown) => JSON.stringify(v);

/** A read entity as OData JSON, without the service's `odata.metadata` URL. */
function outputEntity(entity: EntityRecord): Record<string, unknown> {
  const { "odata.metadata": _m, ...rest } = entityToODataJson(entity);
  return rest;
}

export const commands: CommandDef[] = [
  defineCommand({
    path: ["table", "put"],
    args: "TABLE",
    summary: "Encrypts the named properties and inserts/replaces the entity.",
    flags: {
      in: { value: true, required: true, arg: "ENTITY.json", help: "the entity in OData JSON (PartitionKey, RowKey, values, @odata.type annotations)" },
      ...KEY,
      ...ENCRYPT,
      "create-table": { help: "create the table when it does not exist" },
      ...KEY_VAULT_FLAGS,
      ...serviceFlags,
    },
    async run(a, io) {
      const { table } = tableOf(a, 1);
      const entity = writableEntity(await readEntityFile(a.get("in")), a.get("in"));
      const names = encryptList(a, entity);
      const client = new EncryptedTableClient(table, policyFromKeys(a));
      if (a.has("create-table")) await table.createTable();
      const res = await callerValues(() => client.upsertEntity(entity, "Replace", { encryptedProperties: names }));
      io.stdout(json({ table: table.tableName, partitionKey: entity.partitionKey, rowKey: entity.rowKey, etag: res.etag, encrypted: names }) + "\n");
      return EXIT.ok;
    },
  }),
  defineCommand({
    path: ["table", "get"],
    args: "TABLE PK RK",
    summary: "Reads and decrypts one entity (OData JSON on stdout, or --out FILE).",
    flags: { ...KEY, out: { value: true, arg: "FILE", help: "write the entity to FILE instead of stdout" }, ...READ_FLAGS, ...OVERWRITE_FLAG, ...KEY_VAULT_FLAGS, ...serviceFlags },
    async run(a, io) {
      const { table, args } = tableOf(a, 3);
      checkKeyValue("PK", args[0]!);
      checkKeyValue("RK", args[1]!);
      const client = new EncryptedTableClient(table, policyFromKeys(a, readPolicyOptions(a)));
      // --out is checked and staged first; the entity file appears only once the entity decrypted.
      const outputs = a.has("out") ? new StagedOutputs([{ label: "--out", path: a.get("out") }], { overwrite: a.has("overwrite") }) : undefined;
      if (outputs) {
        await outputs.run(async (o) => {
          const entity = await decodingStoredData(() => client.getEntity(args[0]!, args[1]!, { disableTypeConversion: true }));
          o.writeFile(0, JSON.stringify(outputEntity(entity), null, 2) + "\n");
        });
      } else {
        const entity = await decodingStoredData(() => client.getEntity(args[0]!, args[1]!, { disableTypeConversion: true }));
        io.stdout(JSON.stringify(outputEntity(entity), null, 2) + "\n");
      }
      return EXIT.ok;
    },
  }),
  defineCommand({
    path: ["table", "query"],
    args: "TABLE",
    summary: "Queries and decrypts entities: one entity per output line (nothing is printed when one fails).",
    flags: {
      ...KEY,
      filter: { value: true, arg: "F", help: "OData filter, e.g. \"PartitionKey eq 'a'\"" },
      select: { value: true, arg: "A,B", help: "properties to return" },
      ...READ_FLAGS,
      ...KEY_VAULT_FLAGS,
      ...serviceFlags,
    },
    async run(a, io) {
      const { table } = tableOf(a, 1);
      const select = a.has("select")
        ? a
            .get("select")!
            .split(",")
            .map((s) => s.trim())
            .filter((s) => s.length > 0)
        : undefined;
      if (select && select.length === 0) throw new UsageError("--select needs at least one property name");
      const client = new EncryptedTableClient(table, policyFromKeys(a, readPolicyOptions(a)));
      // Decrypt everything first so a failure prints no partial result.
      const lines: string[] = [];
      try {
        for await (const e of client.listEntities({ disableTypeConversion: true, queryOptions: { filter: a.get("filter"), select } })) {
          lines.push(json(outputEntity(e)));
        }
      } catch (raw) {
        const e = asStoredDataFailure(raw);
        // The service answers 400 only for what the caller wrote into the query: name the flags.
        if (httpStatusOf(e) === 400 && (a.has("filter") || a.has("select"))) {
          throw new UsageError(`the service rejected the query given by ${[a.has("filter") ? "--filter" : "", a.has("select") ? "--select" : ""].filter(Boolean).join(" / ")} (HTTP 400)`);
        }
        throw e;
      }
      for (const l of lines) io.stdout(l + "\n");
      return EXIT.ok;
    },
  }),
  defineCommand({
    path: ["table", "encrypt-entity"],
    summary: "Offline: the OData JSON of an encrypted entity as stored.",
    offline: "encrypt",
    flags: {
      in: { value: true, required: true, arg: "ENTITY.json", help: "the entity in OData JSON" },
      out: { value: true, required: true, arg: "WIRE.json", help: "the stored OData JSON" },
      ...KEY,
      ...ENCRYPT,
      ...OVERWRITE_FLAG,
      ...KEY_VAULT_FLAGS,
    },
    async run(a, io) {
      if (a.positionals.length) throw new UsageError(`unexpected argument ${a.positionals[0]}`);
      const policy = policyFromKeys(a);
      const outputs = new StagedOutputs([{ label: "--out", path: a.get("out") }], { overwrite: a.has("overwrite") });
      const names = await outputs.run(async (o) => {
        const entity = writableEntity(await readEntityFile(a.get("in")), a.get("in"));
        const names = encryptList(a, entity);
        const { entity: wire } = await callerValues(() => encryptEntity(entity, policy, { encryptedProperties: names }));
        o.writeFile(0, JSON.stringify(entityToODataJson(wire)) + "\n");
        return names;
      });
      io.stdout(json({ out: a.get("out"), encrypted: names }) + "\n");
      return EXIT.ok;
    },
  }),
  defineCommand({
    path: ["table", "decrypt-entity"],
    summary: "Offline: decrypts stored OData JSON.",
    offline: "decrypt",
    flags: {
      in: { value: true, required: true, arg: "WIRE.json", help: "the stored OData JSON" },
      out: { value: true, required: true, arg: "ENTITY.json", help: "the decrypted entity" },
      ...KEY,
      ...READ_FLAGS,
      ...OVERWRITE_FLAG,
      ...KEY_VAULT_FLAGS,
    },
    async run(a, io) {
      if (a.positionals.length) throw new UsageError(`unexpected argument ${a.positionals[0]}`);
      const policy = policyFromKeys(a, readPolicyOptions(a));
      const outputs = new StagedOutputs([{ label: "--out", path: a.get("out") }], { overwrite: a.has("overwrite") });
      await outputs.run(async (o) => {
        const stored = await readEntityFile(a.get("in"), true);
        const plain = await decodingStoredData(() => decryptEntity(stored, policy));
        o.writeFile(0, JSON.stringify(entityToODataJson(plain), null, 2) + "\n");
      });
      io.stdout(json({ out: a.get("out") }) + "\n");
      return EXIT.ok;
    },
  }),
];
