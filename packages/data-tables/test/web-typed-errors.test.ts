// The web table client throws core's typed service errors (toTypedError from core's /web entry) with the same
// codes as the Node client: a missing table is NOT_FOUND naming it, an existing entity is SERVICE_ERROR 409
// EntityAlreadyExists, a stale ETag is CONDITION_NOT_MET with the Node client's message, a caller abort is ABORTED.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TableClient } from "@azure/data-tables";
import { AesKeyWrapKey, ClientSideEncryptionError, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { EncryptedTableClient } from "@azure-cse/data-tables";
import { WebEncryptedTableClient } from "@azure-cse/data-tables/web";
import { startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { uniqueTableName } from "./helpers.js";

const kek = AesKeyWrapKey.generate("local:tw-errors");
const policy: ClientSideEncryptionPolicy = { keyEncryptionKey: kek };
const selection = { encryptedProperties: ["secret"] };

let az: AzuriteHandle;
beforeAll(async () => {
  az = await startAzurite();
});
afterAll(async () => {
  await az?.stop();
});

async function typed(p: Promise<unknown>): Promise<ClientSideEncryptionError> {
  try {
    await p;
  } catch (e) {
    if (ClientSideEncryptionError.is(e)) return e;
    throw new Error(`untyped failure: ${String(e)}`);
  }
  throw new Error("expected a failure");
}

describe("web table client: typed service errors (core's one mapping)", () => {
  it("a missing table: NOT_FOUND naming the table (and entity), 404, the RestError as cause — like the Node client", async () => {
    const name = uniqueTableName("nosuch");
    const t = TableClient.fromConnectionString(az.connectionString, name, { allowInsecureConnection: true });
    const web = new WebEncryptedTableClient(t, policy, selection);
    const node = new EncryptedTableClient(t, policy, selection);
    const created = await typed(web.createEntity({ partitionKey: "p", rowKey: "r", secret: "s" }));
    expect(created.code).toBe("NOT_FOUND");
    expect(created.details).toMatchObject({ table: name, partitionKey: "p", rowKey: "r", statusCode: 404 });
    expect((created.cause as { statusCode?: number }).statusCode).toBe(404);
    expect(created.message).toContain(`entity "${name}" ("p", "r")`);
    expect((await typed(web.getEntity("p", "r"))).code).toBe("NOT_FOUND");
    const listed = await typed((async () => {
      for await (const _ of web.listEntities()) void _;
    })());
    expect(listed.code).toBe("NOT_FOUND");
    expect((await typed(node.createEntity({ partitionKey: "p", rowKey: "r", secret: "s" }))).code).toBe("NOT_FOUND");
  });

  it("an existing entity: SERVICE_ERROR 409 EntityAlreadyExists; a stale ETag on update/delete: CONDITION_NOT_MET (Node's message); a caller abort: ABORTED", async () => {
    const t = TableClient.fromConnectionString(az.connectionString, uniqueTableName("errs"), { allowInsecureConnection: true });
    await t.createTable();
    const web = new WebEncryptedTableClient(t, policy, selection);
    const node = new EncryptedTableClient(t, policy, selection);
    const first = await web.createEntity({ partitionKey: "p", rowKey: "r", secret: "one" });
    const exists = await typed(web.createEntity({ partitionKey: "p", rowKey: "r", secret: "two" }));
    expect(exists.code).toBe("SERVICE_ERROR");
    expect(exists.details).toMatchObject({ statusCode: 409, errorCode: "EntityAlreadyExists" });
    await web.updateEntity({ partitionKey: "p", rowKey: "r", secret: "three" }, "Replace", { etag: first.etag! });
    const staleUpdate = await typed(web.updateEntity({ partitionKey: "p", rowKey: "r", secret: "four" }, "Replace", { etag: first.etag! }));
    const staleNode = await typed(node.updateEntity({ partitionKey: "p", rowKey: "r", secret: "four" }, "Replace", { etag: first.etag! }));
    expect(staleUpdate.code).toBe("CONDITION_NOT_MET");
    expect(staleUpdate.message).toBe(staleNode.message);
    expect(staleUpdate.details).toMatchObject({ partitionKey: "p", rowKey: "r", statusCode: 412 });
    expect((await typed(web.deleteEntity("p", "r", { etag: first.etag! }))).code).toBe("CONDITION_NOT_MET");
    const ac = new AbortController();
    ac.abort();
    expect((await typed(web.deleteEntity("p", "r", { abortSignal: ac.signal }))).code).toBe("ABORTED");
    expect((await web.getEntity<{ secret: string }>("p", "r")).secret).toBe("three");
  });
});
