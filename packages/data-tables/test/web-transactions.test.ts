// @azure-cse/data-tables/web against Azurite (Web Crypto in Node, the official TableClient's Node build):
// updateEntity (Replace, ETag-conditional), deleteEntity, submitTransaction and key rotation. What the web client
// writes is read by the Node client (and the reverse); merge actions in transactions are refused (merges through
// updateEntity/upsertEntity: test/web-merge.test.ts); stale ETags and concurrent writers are CONDITION_NOT_MET
// with nothing changed.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { typedErrorAssertions } from "@azure-cse/testkit/assertions";
import { TableClient } from "@azure/data-tables";
import { AesKeyWrapKey, ClientSideEncryptionError, RsaKey, createLocalKeyResolver, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { EncryptedTableClient, METADATA1, METADATA2 } from "@azure-cse/data-tables";
import { WebEncryptedTableClient } from "@azure-cse/data-tables/web";
import { startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { rawGetEntity, uniqueTableName } from "./helpers.js";

const oldKek = new AesKeyWrapKey("local:tw-old", Buffer.alloc(32, 0x51));
const newKek = RsaKey.generate("local:tw-new-rsa", 2048);
const policy: ClientSideEncryptionPolicy = { keyEncryptionKey: oldKek, keyResolver: createLocalKeyResolver([oldKek, newKek]) };
const selection = { encryptedProperties: ["ssn", "note"] };

let az: AzuriteHandle;
beforeAll(async () => {
  az = await startAzurite();
});
afterAll(async () => {
  await az?.stop();
});

async function newTable(): Promise<TableClient> {
  const t = TableClient.fromConnectionString(az.connectionString, uniqueTableName("web"), { allowInsecureConnection: true });
  await t.createTable();
  return t;
}

const { codeOf, settled: caught } = typedErrorAssertions(ClientSideEncryptionError);

async function setup() {
  const t = await newTable();
  return { t, web: new WebEncryptedTableClient(t, policy, selection), node: new EncryptedTableClient(t, policy, selection) };
}

const wrappedKey = (m1: unknown) => JSON.parse(m1 as string).WrappedContentKey as { KeyId: string; EncryptedKey: string; Algorithm: string };

describe("WebEncryptedTableClient.updateEntity / deleteEntity", () => {
  it("Replace re-encrypts under a fresh content key and IV; the Node client reads it; a stale ETag is CONDITION_NOT_MET and changes nothing", async () => {
    const { t, web, node } = await setup();
    const created = await web.createEntity({ partitionKey: "p", rowKey: "r", ssn: "111", note: "v1", plain: "a" });
    const before = await rawGetEntity(az, t.tableName, "p", "r");
    const upd = await web.updateEntity({ partitionKey: "p", rowKey: "r", ssn: "222", note: "v2 😀", plain: "b" }, "Replace", { etag: created.etag });
    expect(upd.encryptedProperties).toEqual(["ssn", "note"]);
    const after = await rawGetEntity(az, t.tableName, "p", "r");
    expect(after["ssn@odata.type"]).toBe("Edm.Binary");
    expect(wrappedKey(after[METADATA1]).EncryptedKey).not.toBe(wrappedKey(before[METADATA1]).EncryptedKey);
    expect(JSON.parse(after[METADATA1] as string).ContentEncryptionIV).not.toBe(JSON.parse(before[METADATA1] as string).ContentEncryptionIV);
    expect(await node.getEntity("p", "r")).toMatchObject({ ssn: "222", note: "v2 😀", plain: "b" });
    // The first ETag is stale now.
    expect(await codeOf(web.updateEntity({ partitionKey: "p", rowKey: "r", ssn: "333" }, "Replace", { etag: created.etag }))).toBe("CONDITION_NOT_MET");
    expect(await codeOf(web.deleteEntity("p", "r", { etag: created.etag }))).toBe("CONDITION_NOT_MET");
    expect(await rawGetEntity(az, t.tableName, "p", "r")).toEqual(after);
    // Unconditional (no ETag) replace, then a delete pinned to the current ETag.
    const u2 = await web.updateEntity({ partitionKey: "p", rowKey: "r", ssn: "444" });
    expect(await web.getEntity("p", "r")).toMatchObject({ ssn: "444" });
    await web.deleteEntity("p", "r", { etag: u2.etag });
    expect(await codeOf(web.getEntity("p", "r"))).toBe("NOT_FOUND");
  });

  it("a Merge that would write an encrypted property is refused before anything is sent; updating a missing entity is NOT_FOUND", async () => {
    const { t, web } = await setup();
    await web.createEntity({ partitionKey: "p", rowKey: "m", ssn: "1", plain: "x" });
    const stored = await rawGetEntity(az, t.tableName, "p", "m");
    expect(await codeOf(web.updateEntity({ partitionKey: "p", rowKey: "m", ssn: "2", plain: "y" }, "Merge"))).toBe("UNSUPPORTED_OPERATION");
    expect(await codeOf(web.upsertEntity({ partitionKey: "p", rowKey: "m", note: "n" }, "Merge"))).toBe("UNSUPPORTED_OPERATION");
    expect(await rawGetEntity(az, t.tableName, "p", "m")).toEqual(stored);
    expect(await codeOf(web.updateEntity({ partitionKey: "p", rowKey: "missing", ssn: "1" }, "Replace", { etag: "*" }))).toBe("NOT_FOUND");
    expect(await codeOf(web.deleteEntity("p", 7 as unknown as string))).toBe("INVALID_ARGUMENT");
  });

  it("the web client updates what the Node client wrote (tamper after update is DECRYPTION_FAILED)", async () => {
    const { t, web, node } = await setup();
    const n = await node.createEntity({ partitionKey: "p", rowKey: "n", ssn: "node", plain: "n" });
    await web.updateEntity({ partitionKey: "p", rowKey: "n", ssn: "web", plain: "w" }, "Replace", { etag: n.etag });
    expect(await node.getEntity("p", "n")).toMatchObject({ ssn: "web", plain: "w" });
    const raw = await t.getEntity<Record<string, unknown>>("p", "n");
    const flipped = Uint8Array.from(raw.ssn as Uint8Array);
    flipped[flipped.length - 1]! ^= 1;
    await t.updateEntity({ partitionKey: "p", rowKey: "n", ssn: flipped }, "Merge");
    expect(await codeOf(web.getEntity("p", "n"))).toBe("DECRYPTION_FAILED");
  });
});

describe("WebEncryptedTableClient.submitTransaction", () => {
  it("create, upsert/update Replace (with ETag) and delete in one batch; each entity its own key; the Node client reads them", async () => {
    const { t, web, node } = await setup();
    const existing = await node.createEntity({ partitionKey: "b", rowKey: "u", ssn: "old" });
    await node.createEntity({ partitionKey: "b", rowKey: "d", ssn: "gone" });
    await web.submitTransaction([
      ["create", { partitionKey: "b", rowKey: "c1", ssn: "c1-ssn", plain: "p1" }],
      ["create", { partitionKey: "b", rowKey: "c2", note: "c2-note" }],
      ["upsert", { partitionKey: "b", rowKey: "s", ssn: "up" }, "Replace"],
      ["update", { partitionKey: "b", rowKey: "u", ssn: "new" }, "Replace", { etag: existing.etag! }],
      ["delete", { partitionKey: "b", rowKey: "d" }],
    ]);
    const got = new Map<string, Record<string, unknown>>();
    for await (const e of node.listEntities()) got.set(e.rowKey as string, e);
    expect([...got.keys()].sort()).toEqual(["c1", "c2", "s", "u"]);
    expect(got.get("c1")).toMatchObject({ ssn: "c1-ssn", plain: "p1" });
    expect(got.get("c2")).toMatchObject({ note: "c2-note" });
    expect(got.get("s")).toMatchObject({ ssn: "up" });
    expect(got.get("u")).toMatchObject({ ssn: "new" });
    const keys = new Set<string>();
    for (const rk of ["c1", "c2", "s", "u"]) {
      const raw = await rawGetEntity(az, t.tableName, "b", rk);
      expect(raw[`${METADATA2}@odata.type`]).toBe("Edm.Binary");
      keys.add(wrappedKey(raw[METADATA1]).EncryptedKey);
    }
    expect(keys.size).toBe(4);
  });

  it("merge actions are refused like the Node client refuses them (same code, same message when something would be encrypted); nothing is sent", async () => {
    const { t, web, node } = await setup();
    const e = await web.createEntity({ partitionKey: "m", rowKey: "1", ssn: "s", plain: "p" });
    const before = await rawGetEntity(az, t.tableName, "m", "1");
    const encryptedMerge = [["create", { partitionKey: "m", rowKey: "2", ssn: "x" }], ["update", { partitionKey: "m", rowKey: "1", ssn: "merged" }, "Merge"]] as const;
    const w = await caught(web.submitTransaction(encryptedMerge as never));
    const n = await caught(node.submitTransaction(encryptedMerge as never));
    expect(typeof w !== "string" && typeof n !== "string").toBe(true);
    expect((w as ClientSideEncryptionError).code).toBe("UNSUPPORTED_OPERATION");
    expect((w as ClientSideEncryptionError).message).toBe((n as ClientSideEncryptionError).message);
    // A merge with the SDK's default mode (no mode given) and a plaintext-only merge are refused too (entities are written whole).
    expect(await codeOf(web.submitTransaction([["upsert", { partitionKey: "m", rowKey: "1", ssn: "y" }]]))).toBe("UNSUPPORTED_OPERATION");
    expect(await codeOf(web.submitTransaction([["update", { partitionKey: "m", rowKey: "1", plain: "q" }, "Merge", { etag: e.etag! }]]))).toBe("UNSUPPORTED_OPERATION");
    expect(await codeOf(web.submitTransaction([["bogus" as "create", { partitionKey: "m", rowKey: "1" }]]))).toBe("INVALID_ARGUMENT");
    expect(await rawGetEntity(az, t.tableName, "m", "1")).toEqual(before);
    expect(await codeOf(web.getEntity("m", "2"))).toBe("NOT_FOUND");
  });

  it("a stale ETag in a batch fails the whole batch with CONDITION_NOT_MET", async () => {
    const { t, web } = await setup();
    const first = await web.createEntity({ partitionKey: "e", rowKey: "1", ssn: "a" });
    await web.updateEntity({ partitionKey: "e", rowKey: "1", ssn: "b" });
    const code = await codeOf(web.submitTransaction([["create", { partitionKey: "e", rowKey: "2", ssn: "c" }], ["update", { partitionKey: "e", rowKey: "1", ssn: "d" }, "Replace", { etag: first.etag! }]]));
    expect(code).toBe("CONDITION_NOT_MET");
    expect(await web.getEntity("e", "1")).toMatchObject({ ssn: "b" });
    expect(await codeOf(t.getEntity("e", "2"))).toBe("untyped:404");
  });
});

describe("WebEncryptedTableClient.updateKeyEncryptionKey", () => {
  it("re-wraps under the new key: only _ClientEncryptionMetadata1's wrapped key changes; the Node client with only the new key reads it", async () => {
    const { t, web } = await setup();
    await web.createEntity({ partitionKey: "k", rowKey: "1", ssn: "secret", note: "n", plain: "p" });
    const before = await rawGetEntity(az, t.tableName, "k", "1");
    const r = await web.updateKeyEncryptionKey({ partitionKey: "k", rowKey: "1" }, newKek);
    expect(r).toMatchObject({ previousKeyId: oldKek.keyId, keyId: newKek.keyId, keyWrapAlgorithm: "RSA-OAEP" });
    const after = await rawGetEntity(az, t.tableName, "k", "1");
    expect(after["odata.etag"]).toBe(r.etag);
    for (const n of ["ssn", "note", "plain", METADATA2]) expect(after[n]).toEqual(before[n]);
    const m0 = JSON.parse(before[METADATA1] as string);
    const m1 = JSON.parse(after[METADATA1] as string);
    expect(Object.keys(m1)).toEqual(Object.keys(m0));
    expect({ ...m1, WrappedContentKey: undefined }).toEqual({ ...m0, WrappedContentKey: undefined });
    expect(m1.WrappedContentKey.KeyId).toBe(newKek.keyId);
    const onlyNew = new EncryptedTableClient(t, { keyEncryptionKey: newKek });
    expect(await onlyNew.getEntity("k", "1")).toMatchObject({ ssn: "secret", note: "n", plain: "p" });
    expect(await codeOf(new WebEncryptedTableClient(t, { keyEncryptionKey: oldKek }).getEntity("k", "1"))).toBe("KID_MISMATCH");
  });

  it("rotates a Node-written entity; the caller's stale ETag, a concurrent writer and a wrong key are refused with nothing changed", async () => {
    const { t, node } = await setup();
    const created = await node.createEntity({ partitionKey: "k", rowKey: "2", ssn: "s2" });
    await node.updateEntity({ partitionKey: "k", rowKey: "2", ssn: "s2b" }, "Replace");
    const stored = await rawGetEntity(az, t.tableName, "k", "2");
    const web = new WebEncryptedTableClient(t, policy, selection);
    expect(await codeOf(web.updateKeyEncryptionKey({ partitionKey: "k", rowKey: "2", etag: created.etag }, newKek))).toBe("CONDITION_NOT_MET");
    // A writer that changes the entity between the read and the metadata write.
    let reads = 0;
    const racing = new WebEncryptedTableClient(
      {
        createEntity: (e) => t.createEntity(e),
        upsertEntity: (e, m) => t.upsertEntity(e, m),
        listEntities: (o) => t.listEntities(o),
        getEntity: async (pk, rk, o) => {
          const e = await t.getEntity(pk, rk, o as never);
          if (++reads === 2) await t.updateEntity({ partitionKey: "k", rowKey: "2", plain: "concurrent" }, "Merge");
          return e;
        },
        updateEntity: (e, m, o) => t.updateEntity(e, m, o as never),
      },
      policy,
    );
    expect(await codeOf(racing.updateKeyEncryptionKey({ partitionKey: "k", rowKey: "2" }, newKek))).toBe("CONDITION_NOT_MET");
    const afterRace = await rawGetEntity(az, t.tableName, "k", "2");
    expect(afterRace[METADATA1]).toBe(stored[METADATA1]);
    // A policy without the old key cannot unwrap: nothing is written.
    expect(await codeOf(new WebEncryptedTableClient(t, { keyEncryptionKey: newKek }).updateKeyEncryptionKey({ partitionKey: "k", rowKey: "2" }, newKek))).toBe("KID_MISMATCH");
    // A new key that does not unwrap its own wrap.
    const liar = { keyId: "local:liar", defaultWrapAlgorithm: "X", wrapKey: async () => ({ encryptedKey: new Uint8Array(40), keyId: "local:liar" }), unwrapKey: async () => new Uint8Array(32) };
    expect(await codeOf(web.updateKeyEncryptionKey({ partitionKey: "k", rowKey: "2" }, liar))).toBe("KEY_OPERATION_FAILED");
    expect((await rawGetEntity(az, t.tableName, "k", "2"))[METADATA1]).toBe(stored[METADATA1]);
    // Finally the rotation goes through, and the Node client (old key gone) reads it.
    const r = await web.updateKeyEncryptionKey({ partitionKey: "k", rowKey: "2", etag: afterRace["odata.etag"] as string }, newKek);
    expect(r.previousKeyId).toBe(oldKek.keyId);
    expect(await new EncryptedTableClient(t, { keyEncryptionKey: newKek }).getEntity("k", "2")).toMatchObject({ ssn: "s2b", plain: "concurrent" });
  });

  it("an entity without encryption metadata is ENCRYPTION_REQUIRED; a tampered name list is DECRYPTION_FAILED; nothing is written", async () => {
    const { t, web } = await setup();
    await t.createEntity({ partitionKey: "k", rowKey: "plain", x: "y" });
    expect(await codeOf(web.updateKeyEncryptionKey({ partitionKey: "k", rowKey: "plain" }, newKek))).toBe("ENCRYPTION_REQUIRED");
    await web.createEntity({ partitionKey: "k", rowKey: "t", ssn: "s" });
    const raw = await t.getEntity<Record<string, unknown>>("k", "t");
    const list = Uint8Array.from(raw[METADATA2] as Uint8Array);
    list[0]! ^= 1;
    await t.updateEntity({ partitionKey: "k", rowKey: "t", [METADATA2]: list }, "Merge");
    const stored = await rawGetEntity(az, t.tableName, "k", "t");
    expect(await codeOf(web.updateKeyEncryptionKey({ partitionKey: "k", rowKey: "t" }, newKek))).toBe("DECRYPTION_FAILED");
    expect(await rawGetEntity(az, t.tableName, "k", "t")).toEqual(stored);
  });
});
