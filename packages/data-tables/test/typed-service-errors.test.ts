// Typed service errors (issue 15): every service call of EncryptedTableClient / EncryptedTableServiceClient throws a
// ClientSideEncryptionError through core's one mapping (the codes blob and queue throw and the CLI prints), with
// the table and entity keys in details, the SDK's error as cause, and never an entity value.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AzureNamedKeyCredential, TableClient, TableServiceClient } from "@azure/data-tables";
import type { ClientSideEncryptionError} from "@azure-cse/core-envelope";
import { AesKeyWrapKey, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { EncryptedTableClient, EncryptedTableServiceClient } from "@azure-cse/data-tables";
import { freePort, startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { caught, uniqueTableName } from "./helpers.js";

let az: AzuriteHandle;
const kek = new AesKeyWrapKey("local:typed-errors", Buffer.alloc(32, 0x5a));
const policy: ClientSideEncryptionPolicy = { keyEncryptionKey: kek };
const SECRET = "secret-value-9f3c";

function rawTable(name: string, options: ConstructorParameters<typeof TableClient>[2] = {}): TableClient {
  return TableClient.fromConnectionString(az.connectionString, name, { allowInsecureConnection: true, ...options });
}

const credential = () => new AzureNamedKeyCredential(az.accountName, az.accountKey);

async function newClient(): Promise<EncryptedTableClient> {
  const t = rawTable(uniqueTableName("typed"));
  await t.createTable();
  return new EncryptedTableClient(t, policy, { encryptedProperties: ["Secret"] });
}

/** The error carries no entity value, in its message or details. */
function expectNoValues(e: ClientSideEncryptionError): void {
  expect(e.message).not.toContain(SECRET);
  expect(JSON.stringify(e.details)).not.toContain(SECRET);
}

/** A pipeline policy that makes every request fail as the SDK does when a response body is cut short. */
function dropEveryBody(t: TableClient): void {
  t.pipeline.addPolicy({
    name: "drop-body",
    sendRequest: async () => {
      throw Object.assign(new Error("The operation was aborted."), { name: "AbortError" });
    },
  });
}

beforeAll(async () => {
  az = await startAzurite();
});
afterAll(async () => {
  await az?.stop();
});

describe("EncryptedTableClient: service failures are typed", () => {
  it("a missing table is NOT_FOUND (statusCode 404, TableNotFound) naming the table and keys, with the RestError as cause, on every call", async () => {
    const name = uniqueTableName("missing");
    const c = new EncryptedTableClient(rawTable(name), policy, { encryptedProperties: ["Secret"] });
    const calls: Array<[string, () => Promise<unknown>, Record<string, unknown>]> = [
      ["createEntity", () => c.createEntity({ partitionKey: "p", rowKey: "r", Secret: SECRET }), { partitionKey: "p", rowKey: "r" }],
      ["getEntity", () => c.getEntity("p", "r"), { partitionKey: "p", rowKey: "r" }],
      ["upsertEntity Replace", () => c.upsertEntity({ partitionKey: "p", rowKey: "r", Secret: SECRET }, "Replace"), { partitionKey: "p", rowKey: "r" }],
      ["updateEntity Replace", () => c.updateEntity({ partitionKey: "p", rowKey: "r", Secret: SECRET }, "Replace"), { partitionKey: "p", rowKey: "r" }],
      ["updateEntity Merge", () => c.updateEntity({ partitionKey: "p", rowKey: "r", Plain: "x" }, "Merge"), { partitionKey: "p", rowKey: "r" }],
      ["deleteEntity", () => c.deleteEntity("p", "r"), { partitionKey: "p", rowKey: "r" }],
      ["listEntities", () => c.listEntities().next(), {}],
      ["listEntities byPage", () => c.listEntities().byPage().next(), {}],
      ["updateKeyEncryptionKey", () => c.updateKeyEncryptionKey({ partitionKey: "p", rowKey: "r" }, kek), { partitionKey: "p", rowKey: "r" }],
    ];
    for (const [label, call, keys] of calls) {
      const e = await caught(call);
      expect(e.code, label).toBe("NOT_FOUND");
      expect(e.details, label).toMatchObject({ table: name, statusCode: 404, ...keys });
      expect(String(e.details.errorCode), label).toMatch(/NotFound$/);
      expect((e.cause as { name?: string; statusCode?: number }).statusCode, label).toBe(404);
      expect(e.message, label).toContain(`"${name}"`);
      expectNoValues(e);
    }
    const e = await caught(() => c.getEntity("p", "r"));
    expect(e.message).toBe(`Storage returned 404 (${e.details.errorCode}) for entity "${name}" ("p", "r").`);
  });

  it("a missing entity is NOT_FOUND with its keys; names with control characters are escaped in the message", async () => {
    const c = await newClient();
    const e = await caught(() => c.getEntity("p\u001b[31m", "r"));
    expect(e).toMatchObject({ code: "NOT_FOUND", details: { table: c.tableName, partitionKey: "p\u001b[31m", rowKey: "r", statusCode: 404 } });
    expect(e.message).not.toContain("\u001b");
    expect(e.message).toContain("\\u001b");
  });

  it("an entity that already exists is SERVICE_ERROR, statusCode 409, errorCode EntityAlreadyExists, without its values", async () => {
    const c = await newClient();
    await c.createEntity({ partitionKey: "p", rowKey: "dup", Secret: SECRET, Plain: SECRET });
    const e = await caught(() => c.createEntity({ partitionKey: "p", rowKey: "dup", Secret: SECRET, Plain: SECRET }));
    expect(e).toMatchObject({ code: "SERVICE_ERROR", details: { table: c.tableName, partitionKey: "p", rowKey: "dup", statusCode: 409, errorCode: "EntityAlreadyExists" } });
    expect((e.cause as { statusCode?: number }).statusCode).toBe(409);
    expect(e.message).toBe(`Storage returned HTTP 409 (EntityAlreadyExists) for entity "${c.tableName}" ("p", "dup").`);
    expectNoValues(e);
  });

  it("a stale ETag on update (Replace and Merge) and delete is CONDITION_NOT_MET with the keys and status; the RestError is its cause", async () => {
    const c = await newClient();
    const first = await c.createEntity({ partitionKey: "p", rowKey: "r", Secret: SECRET });
    await c.updateEntity({ partitionKey: "p", rowKey: "r", Secret: "v2" }, "Replace");
    const stale = first.etag!;
    const replace = await caught(() => c.updateEntity({ partitionKey: "p", rowKey: "r", Secret: SECRET }, "Replace", { etag: stale }));
    expect(replace).toMatchObject({ code: "CONDITION_NOT_MET", details: { table: c.tableName, partitionKey: "p", rowKey: "r", statusCode: 412 } });
    expect((replace.cause as { statusCode?: number }).statusCode).toBe(412);
    expectNoValues(replace);
    // Merge compares the caller's ETag with the stored one before writing: the same code, naming the entity.
    const merge = await caught(() => c.updateEntity({ partitionKey: "p", rowKey: "r", Plain: "x" }, "Merge", { etag: stale }));
    expect(merge).toMatchObject({ code: "CONDITION_NOT_MET", details: { table: c.tableName, partitionKey: "p", rowKey: "r" } });
    const del = await caught(() => c.deleteEntity("p", "r", { etag: stale }));
    expect(del).toMatchObject({ code: "CONDITION_NOT_MET", details: { table: c.tableName, partitionKey: "p", rowKey: "r", statusCode: 412 } });
    expect(del.message).toBe(replace.message);
    expect((await c.getEntity("p", "r")).Secret).toBe("v2");
  });

  it("the caller's abort is ABORTED (cause: the SDK's AbortError); a cut-short response without one is a retryable SERVICE_ERROR", async () => {
    const c = await newClient();
    await c.createEntity({ partitionKey: "p", rowKey: "r", Secret: SECRET });
    const ac = new AbortController();
    ac.abort();
    for (const call of [() => c.getEntity("p", "r", { abortSignal: ac.signal }), () => c.deleteEntity("p", "r", { abortSignal: ac.signal }), () => c.listEntities({ abortSignal: ac.signal }).next()]) {
      const e = await caught(call);
      expect(e.code).toBe("ABORTED");
      expect(e.details.table).toBe(c.tableName);
      expect((e.cause as { name?: string }).name).toBe("AbortError");
    }
    const dropped = rawTable(c.tableName);
    dropEveryBody(dropped);
    const d = new EncryptedTableClient(dropped, policy);
    const live = new AbortController();
    for (const call of [() => d.getEntity("p", "r", { abortSignal: live.signal }), () => d.deleteEntity("p", "r"), () => d.createEntity({ partitionKey: "p", rowKey: "n", Secret: SECRET })]) {
      const e = await caught(call);
      expect(e).toMatchObject({ code: "SERVICE_ERROR", details: { table: c.tableName, errorCode: "ResponseIncomplete" } });
    }
    expect((await c.getEntity("p", "r")).Secret).toBe(SECRET);
  });

  it("connection refused (no retries) is SERVICE_ERROR with errorCode ECONNREFUSED naming the table", async () => {
    const port = await freePort();
    const closed = new TableClient(`http://127.0.0.1:${port}/${az.accountName}`, "nowhere", credential(), { allowInsecureConnection: true, retryOptions: { maxRetries: 0 } });
    const c = new EncryptedTableClient(closed, policy, { encryptedProperties: ["Secret"] });
    for (const call of [() => c.getEntity("p", "r"), () => c.createEntity({ partitionKey: "p", rowKey: "r", Secret: SECRET }), () => c.listEntities().next()]) {
      const e = await caught(call);
      expect(e).toMatchObject({ code: "SERVICE_ERROR", details: { table: "nowhere", errorCode: "ECONNREFUSED" } });
      expect(e.details.statusCode).toBeUndefined();
      expect(e.message).toMatch(/^The storage request for (entity|table) "nowhere".* failed \(ECONNREFUSED\)/);
      expect(e.cause).toBeDefined();
      expectNoValues(e);
    }
  });

  it("a rejected transaction is typed with the failing action's index and keys; nothing of it was applied", async () => {
    const c = await newClient();
    await c.createEntity({ partitionKey: "tx", rowKey: "b", Secret: SECRET });
    const e = await caught(() =>
      c.submitTransaction([
        ["create", { partitionKey: "tx", rowKey: "a", Secret: SECRET }],
        ["create", { partitionKey: "tx", rowKey: "b", Secret: SECRET }],
        ["create", { partitionKey: "tx", rowKey: "c", Secret: SECRET }],
      ]),
    );
    expect(e).toMatchObject({ code: "SERVICE_ERROR", details: { table: c.tableName, partitionKey: "tx", rowKey: "b", failedActionIndex: 1, statusCode: 409, errorCode: "EntityAlreadyExists" } });
    expect(e.message).toContain("Action 1 of the transaction failed");
    expect((e.cause as { statusCode?: number }).statusCode).toBe(409);
    expectNoValues(e);
    expect((await caught(() => c.getEntity("tx", "a"))).code).toBe("NOT_FOUND");
    // A stale ETag inside a transaction is CONDITION_NOT_MET, like the single-entity calls.
    const { etag } = await c.getEntity("tx", "b");
    await c.updateEntity({ partitionKey: "tx", rowKey: "b", Secret: "v2" }, "Replace");
    const stale = await caught(() => c.submitTransaction([["update", { partitionKey: "tx", rowKey: "b", Secret: SECRET }, "Replace", { etag }]]));
    expect(stale).toMatchObject({ code: "CONDITION_NOT_MET", details: { table: c.tableName, partitionKey: "tx", statusCode: 412 } });
    expect((await c.getEntity("tx", "b")).Secret).toBe("v2");
  });

  it("EncryptedTableServiceClient.createTableIfNotExists: an invalid name is SERVICE_ERROR (400) naming the table; an existing one is no error", async () => {
    const service = EncryptedTableServiceClient.fromConnectionString(az.connectionString, policy, { clientOptions: { allowInsecureConnection: true } });
    const name = uniqueTableName("svc");
    await service.createTableIfNotExists(name);
    await service.createTableIfNotExists(name);
    const e = await caught(() => service.createTableIfNotExists("1-bad_name"));
    expect(e).toMatchObject({ code: "SERVICE_ERROR", details: { table: "1-bad_name", statusCode: 400 } });
    const port = await freePort();
    const closed = new EncryptedTableServiceClient(new TableServiceClient(`http://127.0.0.1:${port}/${az.accountName}`, credential(), { allowInsecureConnection: true, retryOptions: { maxRetries: 0 } }), policy, {
      createTableClient: (t) => rawTable(t),
    });
    expect(await caught(() => closed.createTableIfNotExists(name))).toMatchObject({ code: "SERVICE_ERROR", details: { table: name, errorCode: "ECONNREFUSED" } });
  });
});
