// @azure-cse/data-tables/web merges against Azurite (Web Crypto in Node, the official TableClient's Node build):
// updateEntity/upsertEntity mode "Merge" follow the Node client's rule — nothing the selection encrypts, no stored
// encrypted property touched, the write If-Match the ETag read — with the Node client's codes and messages, side by
// side with EncryptedTableClient on the same table. Merge actions in transactions stay refused
// (test/web-transactions.test.ts).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { typedErrorAssertions } from "@azure-cse/testkit/assertions";
import { TableClient } from "@azure/data-tables";
import { AesKeyWrapKey, ClientSideEncryptionError, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { EncryptedTableClient, METADATA1, METADATA2 } from "@azure-cse/data-tables";
import { WebEncryptedTableClient } from "@azure-cse/data-tables/web";
import { startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { ENTITY_CHANGED_MESSAGE, MERGE_REFUSED_MESSAGE } from "../src/shared/entity-format.js";
import { rawGetEntity, uniqueTableName } from "./helpers.js";

const kek = new AesKeyWrapKey("local:web-merge", Buffer.alloc(32, 0x3c));
const policy: ClientSideEncryptionPolicy = { keyEncryptionKey: kek };
const selection = { encryptedProperties: ["ssn", "note"] };

let az: AzuriteHandle;
beforeAll(async () => {
  az = await startAzurite();
});
afterAll(async () => {
  await az?.stop();
});

function tableClient(name: string): TableClient {
  return TableClient.fromConnectionString(az.connectionString, name, { allowInsecureConnection: true });
}

async function setup() {
  const t = tableClient(uniqueTableName("webmerge"));
  await t.createTable();
  return { t, web: new WebEncryptedTableClient(t, policy, selection), node: new EncryptedTableClient(t, policy, selection) };
}

const { codeOf, settled: caught } = typedErrorAssertions(ClientSideEncryptionError);

/** Code and message of a typed failure (a string describes anything else). */
async function failure(p: Promise<unknown>): Promise<{ code: string; message: string } | string> {
  const e = await caught(p);
  return typeof e === "string" ? e : { code: e.code, message: e.message };
}

/**
 * A second TableClient on the same table whose getEntity lets `writer` change the entity right after each of the
 * first `times` reads (whether the read found it or not): a concurrent writer between a merge's read and its write.
 */
function racingTable(tableName: string, times: number, writer: (t: TableClient) => Promise<unknown>): { table: TableClient; reads: () => number } {
  const plain = tableClient(tableName);
  const racing = tableClient(tableName);
  const getEntity = racing.getEntity.bind(racing);
  let reads = 0;
  racing.getEntity = (async (...args: Parameters<TableClient["getEntity"]>) => {
    try {
      return await getEntity(...args);
    } finally {
      if (++reads <= times) await writer(plain);
    }
  }) as TableClient["getEntity"];
  return { table: racing, reads: () => reads };
}

describe("WebEncryptedTableClient merges (updateEntity / upsertEntity mode \"Merge\")", () => {
  it("a merge of plain properties into an encrypted entity is written; both clients still decrypt the encrypted properties", async () => {
    const { t, web, node } = await setup();
    const created = await web.createEntity({ partitionKey: "p", rowKey: "r", ssn: "123-45", note: "n 😀", plain: "a" });
    const before = await rawGetEntity(az, t.tableName, "p", "r");
    const merged = await web.updateEntity({ partitionKey: "p", rowKey: "r", plain: "b", count: 7 }, "Merge", { etag: created.etag });
    expect(merged.encryptedProperties).toEqual([]);
    expect(merged.etag).toBeTruthy();
    expect(merged.etag).not.toBe(created.etag);
    const after = await rawGetEntity(az, t.tableName, "p", "r");
    // Ciphertexts and metadata are untouched; only the plain properties changed.
    for (const n of ["ssn", "note", METADATA1, METADATA2]) expect(after[n]).toEqual(before[n]);
    expect(after.plain).toBe("b");
    expect(await node.getEntity("p", "r")).toMatchObject({ ssn: "123-45", note: "n 😀", plain: "b", count: 7 });
    expect(await web.getEntity("p", "r")).toMatchObject({ ssn: "123-45", note: "n 😀", plain: "b", count: 7 });
    // upsertEntity "Merge" on the existing entity, the current ETag "*" and an entity's own etag/timestamp fields are fine too.
    const current = await web.getEntity("p", "r");
    await web.upsertEntity({ partitionKey: "p", rowKey: "r", plain: "c", etag: current.etag, timestamp: current.timestamp }, "Merge");
    await web.updateEntity({ partitionKey: "p", rowKey: "r", other: "o" }, "Merge", { etag: "*" });
    expect(await node.getEntity("p", "r")).toMatchObject({ ssn: "123-45", note: "n 😀", plain: "c", other: "o", count: 7 });
    // What the Node client wrote, the web client merges into (and the reverse).
    await node.createEntity({ partitionKey: "p", rowKey: "n", ssn: "node" });
    await web.updateEntity({ partitionKey: "p", rowKey: "n", plain: "web" }, "Merge");
    await node.updateEntity({ partitionKey: "p", rowKey: "r", plain: "node" }, "Merge");
    expect(await node.getEntity("p", "n")).toMatchObject({ ssn: "node", plain: "web" });
    expect(await web.getEntity("p", "r")).toMatchObject({ ssn: "123-45", plain: "node" });
  });

  it("a merge naming a property the selection encrypts is UNSUPPORTED_OPERATION with the Node client's message; nothing is written", async () => {
    const { t, web, node } = await setup();
    await web.createEntity({ partitionKey: "p", rowKey: "r", ssn: "1", plain: "a" });
    const stored = await rawGetEntity(az, t.tableName, "p", "r");
    const refused = { code: "UNSUPPORTED_OPERATION", message: MERGE_REFUSED_MESSAGE };
    for (const [name, entity] of [
      ["stored encrypted", { partitionKey: "p", rowKey: "r", ssn: "2", plain: "b" }],
      ["not stored yet", { partitionKey: "p", rowKey: "r", note: "new", plain: "b" }],
    ] as const) {
      expect(await failure(web.updateEntity(entity, "Merge")), name).toEqual(refused);
      expect(await failure(node.updateEntity(entity, "Merge")), name).toEqual(refused);
      expect(await failure(web.upsertEntity(entity, "Merge")), name).toEqual(refused);
      expect(await failure(node.upsertEntity(entity, "Merge")), name).toEqual(refused);
    }
    // A resolver selection, and an upsert of a missing entity, are refused the same way.
    const byResolver = new WebEncryptedTableClient(t, policy, { encryptionResolver: (_pk, _rk, n) => n === "card" });
    expect(await failure(byResolver.updateEntity({ partitionKey: "p", rowKey: "r", card: "4111" }, "Merge"))).toEqual(refused);
    expect(await failure(web.upsertEntity({ partitionKey: "p", rowKey: "missing", ssn: "9" }, "Merge"))).toEqual(refused);
    expect(await rawGetEntity(az, t.tableName, "p", "r")).toEqual(stored);
    expect(await codeOf(web.getEntity("p", "missing"))).toBe("NOT_FOUND");
    // The metadata names are reserved, as on every write.
    expect(await codeOf(web.updateEntity({ partitionKey: "p", rowKey: "r", [METADATA1]: "{}" }, "Merge"))).toBe("INVALID_ARGUMENT");
    expect(await codeOf(node.updateEntity({ partitionKey: "p", rowKey: "r", [METADATA1]: "{}" }, "Merge"))).toBe("INVALID_ARGUMENT");
    expect(await codeOf(web.updateEntity({ partitionKey: "p", rowKey: "r", plain: "x" }, "Patch" as never))).toBe("INVALID_ARGUMENT");
    expect(await rawGetEntity(az, t.tableName, "p", "r")).toEqual(stored);
  });

  it("a merge touching a stored encrypted property the current selection does not name is refused exactly as the Node client refuses it", async () => {
    const { t } = await setup();
    await new WebEncryptedTableClient(t, policy, { encryptedProperties: ["secret", "ssn"] }).createEntity({ partitionKey: "p", rowKey: "r", secret: "s", ssn: "1", plain: "a" });
    const stored = await rawGetEntity(az, t.tableName, "p", "r");
    const web = new WebEncryptedTableClient(t, policy, { encryptedProperties: ["other"] });
    const node = new EncryptedTableClient(t, policy, { encryptedProperties: ["other"] });
    const one = { partitionKey: "p", rowKey: "r", secret: "plaintext!", plain: "b" };
    const w = await failure(web.updateEntity(one, "Merge"));
    expect(w).toEqual(await failure(node.updateEntity(one, "Merge")));
    expect(w).toEqual({ code: "UNSUPPORTED_OPERATION", message: 'Merge refused: it would overwrite stored encrypted property "secret" with plaintext and leave stale encryption metadata. Use mode "Replace".' });
    expect(await failure(web.upsertEntity(one, "Merge"))).toEqual(w);
    const two = { partitionKey: "p", rowKey: "r", ssn: "2", secret: "x" };
    const w2 = await failure(web.updateEntity(two, "Merge"));
    expect(w2).toEqual(await failure(node.updateEntity(two, "Merge")));
    expect(typeof w2 === "object" && w2.message).toMatch(/^Merge refused: it would overwrite stored encrypted properties "(secret|ssn)", "(secret|ssn)" with plaintext/);
    expect(await rawGetEntity(az, t.tableName, "p", "r")).toEqual(stored);
    // Without the policy's key the stored list cannot be checked: the merge fails as the Node client's does.
    const otherKek = new AesKeyWrapKey("local:web-merge-other", Buffer.alloc(32, 0x77));
    const noKey = { partitionKey: "p", rowKey: "r", plain: "c" };
    const wk = await codeOf(new WebEncryptedTableClient(t, { keyEncryptionKey: otherKek }).updateEntity(noKey, "Merge"));
    expect(wk).not.toBe("resolved");
    expect(wk).toBe(await codeOf(new EncryptedTableClient(t, { keyEncryptionKey: otherKek }).updateEntity(noKey, "Merge")));
    expect(await rawGetEntity(az, t.tableName, "p", "r")).toEqual(stored);
  });

  it("a stale caller ETag is CONDITION_NOT_MET with the Node client's message and changes nothing; a missing entity is NOT_FOUND", async () => {
    const { t, web, node } = await setup();
    const created = await web.createEntity({ partitionKey: "p", rowKey: "r", ssn: "1", plain: "a" });
    await node.updateEntity({ partitionKey: "p", rowKey: "r", plain: "b" }, "Merge");
    const stored = await rawGetEntity(az, t.tableName, "p", "r");
    const stale = { partitionKey: "p", rowKey: "r", plain: "stale" };
    const w = await caught(web.updateEntity(stale, "Merge", { etag: created.etag }));
    const n = await caught(node.updateEntity(stale, "Merge", { etag: created.etag }));
    expect(ClientSideEncryptionError.is(w) && { code: w.code, message: w.message }).toEqual({ code: "CONDITION_NOT_MET", message: ENTITY_CHANGED_MESSAGE });
    expect(ClientSideEncryptionError.is(n) && { code: n.code, message: n.message }).toEqual({ code: "CONDITION_NOT_MET", message: ENTITY_CHANGED_MESSAGE });
    expect(ClientSideEncryptionError.is(w) && w.details).toMatchObject({ table: t.tableName, partitionKey: "p", rowKey: "r" });
    expect(await rawGetEntity(az, t.tableName, "p", "r")).toEqual(stored);
    const missing = { partitionKey: "p", rowKey: "missing", plain: "x" };
    expect(await codeOf(web.updateEntity(missing, "Merge"))).toBe("NOT_FOUND");
    expect(await codeOf(node.updateEntity(missing, "Merge"))).toBe("NOT_FOUND");
    expect(await codeOf(web.getEntity("p", "missing"))).toBe("NOT_FOUND");
  });

  it("upsert Merge of a missing entity inserts it with encryption metadata (the Node client reads it under requireEncryption)", async () => {
    const { t, web, node } = await setup();
    const r = await web.upsertEntity({ partitionKey: "p", rowKey: "new", plain: "a", n: 1 }, "Merge");
    expect(r).toMatchObject({ encryptedProperties: [] });
    expect(r.etag).toBeTruthy();
    const raw = await rawGetEntity(az, t.tableName, "p", "new");
    expect(typeof raw[METADATA1]).toBe("string");
    expect(raw[METADATA2]).toBeTruthy();
    expect(await node.getEntity("p", "new")).toMatchObject({ plain: "a", n: 1 });
    expect(await web.getEntity("p", "new")).toMatchObject({ plain: "a", n: 1 });
    // A second merge-upsert merges into it.
    await web.upsertEntity({ partitionKey: "p", rowKey: "new", more: "m" }, "Merge");
    expect(await node.getEntity("p", "new")).toMatchObject({ plain: "a", n: 1, more: "m" });
  });

  it("a concurrent writer between the read and the merge: update is CONDITION_NOT_MET; upsert reads again, at most 3 attempts, like the Node client", async () => {
    const { t, web, node } = await setup();
    await web.createEntity({ partitionKey: "p", rowKey: "r", ssn: "1", plain: "a" });
    const concurrent = (tc: TableClient) => tc.updateEntity({ partitionKey: "p", rowKey: "r", plain: "concurrent" }, "Merge");

    // updateEntity: no retry; the concurrent write stays.
    for (const make of [(tc: TableClient) => new WebEncryptedTableClient(tc, policy, selection), (tc: TableClient) => new EncryptedTableClient(tc, policy, selection)]) {
      const race = racingTable(t.tableName, 1, concurrent);
      const e = await caught(make(race.table).updateEntity({ partitionKey: "p", rowKey: "r", plain: "mine" }, "Merge"));
      expect(ClientSideEncryptionError.is(e) && { code: e.code, message: e.message }).toEqual({ code: "CONDITION_NOT_MET", message: ENTITY_CHANGED_MESSAGE });
      expect(race.reads()).toBe(1);
      expect(await node.getEntity("p", "r")).toMatchObject({ ssn: "1", plain: "concurrent" });
    }

    // upsertEntity: one concurrent change is absorbed by a second read; a writer that never stops wins after 3 reads.
    const once = racingTable(t.tableName, 1, concurrent);
    await new WebEncryptedTableClient(once.table, policy, selection).upsertEntity({ partitionKey: "p", rowKey: "r", plain: "mine" }, "Merge");
    expect(once.reads()).toBe(2);
    expect(await node.getEntity("p", "r")).toMatchObject({ ssn: "1", plain: "mine" });
    const counts: number[] = [];
    for (const make of [(tc: TableClient) => new WebEncryptedTableClient(tc, policy, selection), (tc: TableClient) => new EncryptedTableClient(tc, policy, selection)]) {
      const always = racingTable(t.tableName, 100, concurrent);
      expect(await codeOf(make(always.table).upsertEntity({ partitionKey: "p", rowKey: "r", plain: "mine" }, "Merge"))).toBe("CONDITION_NOT_MET");
      counts.push(always.reads());
    }
    expect(counts).toEqual([3, 3]);
    expect(await node.getEntity("p", "r")).toMatchObject({ ssn: "1", plain: "concurrent" });

    // A missing entity created by someone else between the read and the insert: the upsert reads again and merges.
    const creator = racingTable(t.tableName, 1, (tc) => node.createEntity({ partitionKey: "p", rowKey: "c", ssn: "theirs", plain: "theirs" }).then(() => tc));
    await new WebEncryptedTableClient(creator.table, policy, selection).upsertEntity({ partitionKey: "p", rowKey: "c", plain: "mine", extra: "x" }, "Merge");
    expect(creator.reads()).toBe(2);
    expect(await node.getEntity("p", "c")).toMatchObject({ ssn: "theirs", plain: "mine", extra: "x" });
  });
});
