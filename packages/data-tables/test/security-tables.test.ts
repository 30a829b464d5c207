// Issue 14 (security hardening), table part. Each describe is one class of hostile or careless input.
/* eslint-disable @typescript-eslint/no-explicit-any -- hostile callers pass values of the wrong type on purpose */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TableClient, TableServiceClient } from "@azure/data-tables";
import {
  AesKeyWrapKey,
  type ClientSideEncryptionError,
  DECRYPTION_FAILED_MESSAGE,
  createLocalKeyResolver,
  type ClientSideEncryptionPolicy,
  type KeyEncryptionKey,
} from "@azure-cse/core-envelope";
import { encryptCbcBuffer } from "@azure-cse/core-envelope/internal";
import {
  EncryptedTableClient,
  EncryptedTableServiceClient,
  METADATA1,
  METADATA2,
  decryptEntity,
  derivePropertyIv,
  encryptEntity,
  entityFromODataJson,
  entityToODataJson,
  selectProperties,
} from "@azure-cse/data-tables";
import { startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { caught, expectCode, seededRandom, uniqueTableName } from "./helpers.js";

const kek = new AesKeyWrapKey("local:sec-table-1", Buffer.alloc(32, 0x51));
const otherKek = new AesKeyWrapKey("local:sec-table-2", Buffer.alloc(32, 0x52));
const policy: ClientSideEncryptionPolicy = { keyEncryptionKey: kek };
/** The Object.prototype members the issue names, and a few more. */
const PROTO_NAMES = ["constructor", "toString", "__proto__", "hasOwnProperty", "valueOf", "isPrototypeOf", "__defineGetter__", "toLocaleString"];
// eslint-disable-next-line no-control-regex -- the point: no raw control characters in messages
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const HOSTILE = "k\u0000\u0007\u001b[31m\u001b]0;owned\u0007\u007f\u0085\u009b\u2028\u202e";

let az: AzuriteHandle;
beforeAll(async () => {
  az = await startAzurite();
});
afterAll(async () => {
  await az?.stop();
});

function expectOpaque(e: ClientSideEncryptionError): void {
  expect(e.code).toBe("DECRYPTION_FAILED");
  expect(e.message).toBe(DECRYPTION_FAILED_MESSAGE);
  expect(e.cause).toBeUndefined();
}

/** A null-prototype record from [name, value] pairs (so "__proto__" is an ordinary own key). */
function record(pairs: [string, unknown][]): Record<string, unknown> {
  const r = Object.create(null) as Record<string, unknown>;
  for (const [k, v] of pairs) r[k] = v;
  return r;
}

/**
 * Azurite 3.35 cannot store these names (its entity parser keeps names in a plain object, so "constructor" …
 * look present and are dropped, and "hasOwnProperty" answers 500). This test-only policy, placed next to the
 * transport (after our own policy), renames them to safe aliases on the way to Azurite and back on the way
 * out, so the round trip through the real SDK and our code can be tested; it also records what our client put
 * on the wire (real names) before aliasing.
 */
function azuriteNameShim(client: TableClient): { sent: string[] } {
  const sent: string[] = [];
  const alias = (n: string) => `zzAlias${Buffer.from(n).toString("hex")}`;
  const swap = (text: string, from: (n: string) => string, to: (n: string) => string) => {
    let out = text;
    for (const n of PROTO_NAMES) out = out.split(`"${from(n)}"`).join(`"${to(n)}"`).split(`"${from(n)}@odata.type"`).join(`"${to(n)}@odata.type"`);
    return out;
  };
  client.pipeline.addPolicy(
    {
      name: "testAzuriteNameShim",
      async sendRequest(request, next) {
        if (typeof request.body === "string") {
          sent.push(request.body);
          request.body = swap(request.body, (n) => n, alias);
          if (request.headers.has("content-length")) request.headers.set("content-length", Buffer.byteLength(request.body));
        }
        const url = new URL(request.url);
        const select = url.searchParams.get("$select");
        if (select) {
          url.searchParams.set("$select", select.split(",").map((n) => (PROTO_NAMES.includes(n) ? alias(n) : n)).join(","));
          request.url = url.toString();
        }
        const response = await next(request);
        if (typeof response.bodyAsText === "string") response.bodyAsText = swap(response.bodyAsText, alias, (n) => n);
        return response;
      },
    },
    { afterPhase: "Sign" },
  );
  return { sent };
}

async function newTable(prefix = "sec"): Promise<TableClient> {
  const t = TableClient.fromConnectionString(az.connectionString, uniqueTableName(prefix), { allowInsecureConnection: true });
  await t.createTable();
  return t;
}

/** Replaces the response body of every request whose URL matches, like a hostile or broken service would. */
function serveBody(client: TableClient, body: (url: string) => string | undefined): void {
  client.pipeline.addPolicy(
    {
      name: "testServeBody",
      async sendRequest(request, next) {
        const response = await next(request);
        const replacement = body(request.url);
        if (replacement !== undefined) response.bodyAsText = replacement;
        return response;
      },
    },
    { afterPhase: "Sign" },
  );
}

describe("class 4: table property names that are Object.prototype members round-trip under their own names", () => {
  it("unencrypted and encrypted (list, resolver), through create, get, list, byPage, select, Replace upsert/update, merge and a transaction on Azurite", async () => {
    const t = await newTable();
    const { sent } = azuriteNameShim(t);
    const encryptedByList = ["constructor", "__proto__", "hasOwnProperty"];
    const resolverPicks = new Set(["valueOf"]);
    const c = new EncryptedTableClient(t, policy, { encryptedProperties: encryptedByList, encryptionResolver: (_p, _r, n) => resolverPicks.has(n) });
    const values = (tag: string) => PROTO_NAMES.map((n, i): [string, unknown] => [n, `${tag}-${i}-${n}`]);
    const entity = record([["partitionKey", "p"], ["rowKey", "r1"], ...values("v1")]);
    await c.createEntity(entity as any);
    // On the wire: every name under its own name; chosen ones as Edm.Binary ciphertext, the rest in plaintext.
    const body = JSON.parse(sent.at(-1)!);
    for (const [i, n] of PROTO_NAMES.entries()) {
      expect(Object.prototype.hasOwnProperty.call(body, n), n).toBe(true);
      const encrypted = encryptedByList.includes(n) || resolverPicks.has(n);
      expect(body[`${n}@odata.type`], n).toBe(encrypted ? "Edm.Binary" : undefined);
      if (!encrypted) expect(body[n]).toBe(`v1-${i}-${n}`);
    }

    const expectEntity = (got: Record<string, unknown>, tag: string, names = PROTO_NAMES) => {
      expect(Object.getPrototypeOf(got)).toBe(null);
      for (const n of names) expect(Object.prototype.hasOwnProperty.call(got, n) ? got[n] : "<missing>", n).toBe(`${tag}-${PROTO_NAMES.indexOf(n)}-${n}`);
      expect(Object.prototype.hasOwnProperty.call(got, METADATA1)).toBe(false);
    };
    expectEntity(await c.getEntity("p", "r1"), "v1");
    const listed: Record<string, unknown>[] = [];
    for await (const e of c.listEntities()) listed.push(e);
    expect(listed).toHaveLength(1);
    expectEntity(listed[0]!, "v1");
    for await (const page of c.listEntities().byPage({ maxPageSize: 1 })) for (const e of page) expectEntity(e, "v1");
    // A projection of some of them (the metadata columns are added and removed again).
    const projected = await c.getEntity("p", "r1", { queryOptions: { select: ["__proto__", "toString", "constructor"] } });
    expectEntity(projected, "v1", ["__proto__", "toString", "constructor"]);
    expect(Object.keys(projected).filter((k) => PROTO_NAMES.includes(k)).sort()).toEqual(["__proto__", "constructor", "toString"]);

    await c.upsertEntity(record([["partitionKey", "p"], ["rowKey", "r1"], ...values("v2")]) as any, "Replace");
    expectEntity(await c.getEntity("p", "r1"), "v2");
    await c.updateEntity(record([["partitionKey", "p"], ["rowKey", "r1"], ...values("v3")]) as any, "Replace");
    expectEntity(await c.getEntity("p", "r1"), "v3");
    // Merge of an unencrypted Object.prototype-named property next to encrypted ones.
    await c.updateEntity(record([["partitionKey", "p"], ["rowKey", "r1"], ["toString", "merged"]]) as any, "Merge");
    expect((await c.getEntity("p", "r1"))["toString"]).toBe("merged");

    await c.submitTransaction([["create", record([["partitionKey", "p"], ["rowKey", "r2"], ...values("tx")]) as any]]);
    expectEntity(await c.getEntity("p", "r2"), "tx");
    // A merge that would overwrite a stored encrypted "__proto__" with plaintext is refused by name.
    const clash = await expectCode(() => new EncryptedTableClient(t, policy).updateEntity(record([["partitionKey", "p"], ["rowKey", "r2"], ["__proto__", "x"]]) as any, "Merge"), "UNSUPPORTED_OPERATION");
    expect(clash.message).toContain('"__proto__"');
  });

  it("reading never touches a prototype: hostile responses with __proto__/constructor objects leave Object.prototype and the result's prototype alone", async () => {
    const t = await newTable();
    await t.createEntity({ partitionKey: "p", rowKey: "r", a: "x" });
    const hostile = (key: string) =>
      JSON.stringify({ ...JSON.parse(`{"PartitionKey":"p","RowKey":"r","odata.etag":"W/\\"1\\"","__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"toString":"t"}`), key }).replace('"key":', `"${key}":`);
    serveBody(t, (url) => (url.includes("(PartitionKey=") ? hostile("k1") : url.includes("()") || /\/\w+\?/.test(url) ? JSON.stringify({ value: [JSON.parse(hostile("k2"))] }) : undefined));
    const c = new EncryptedTableClient(t, { ...policy, requireEncryption: false });
    const got = await c.getEntity("p", "r");
    expect(Object.getPrototypeOf(got)).toBe(null);
    expect(Object.prototype.hasOwnProperty.call(got, "__proto__")).toBe(true);
    expect(got["toString"]).toBe("t");
    const all: Record<string, unknown>[] = [];
    for await (const e of c.listEntities()) all.push(e);
    expect(all).toHaveLength(1);
    expect(Object.getPrototypeOf(all[0]!)).toBe(null);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
    // The plain TableClient the caller also uses is not changed by our policy (no marker → no renaming).
    const plain = await t.getEntity("p", "r");
    expect(Object.prototype.hasOwnProperty.call(plain, "__proto__")).toBe(false);
  });

  it("pure paths: encryptEntity/decryptEntity, the encryption resolver, the stored name list and the OData helpers keep the names as own keys", async () => {
    const asked: string[] = [];
    const entity = record([["partitionKey", "p"], ["rowKey", "r"], ...PROTO_NAMES.map((n): [string, unknown] => [n, `val-${n}`])]);
    const { entity: stored, encryptedProperties } = await encryptEntity(entity, policy, { encryptionResolver: (_p, _r, n) => (asked.push(n), n !== "valueOf") });
    expect(asked.sort()).toEqual([...PROTO_NAMES].sort());
    expect(encryptedProperties.sort()).toEqual(PROTO_NAMES.filter((n) => n !== "valueOf").sort());
    expect(Object.getPrototypeOf(stored)).toBe(null);
    for (const n of PROTO_NAMES) expect(Object.prototype.hasOwnProperty.call(stored, n), n).toBe(true);
    const back = await decryptEntity(stored, policy);
    for (const n of PROTO_NAMES) expect(back[n], n).toBe(`val-${n}`);
    // OData JSON both ways: "constructor" is not mapped through Object.prototype.constructor.
    const wire = entityToODataJson(back);
    const parsed = entityFromODataJson(JSON.parse(JSON.stringify(wire)));
    expect(Object.getPrototypeOf(parsed)).toBe(null);
    for (const n of PROTO_NAMES) expect(parsed[n], n).toBe(`val-${n}`);
    const annotatedOnly = await caught(() => entityFromODataJson(JSON.parse('{"PartitionKey":"p","RowKey":"r","constructor@odata.type":"Edm.String"}')));
    expect(annotatedOnly.code).toBe("INVALID_ARGUMENT");
  });
});

describe("class 1: every table read authenticates (key unwrapped, every listed property present and verified)", () => {
  it("an encrypted empty string round-trips (its 16-byte block is verified); empty, string, flipped or cut stored values are DECRYPTION_FAILED", async () => {
    const { entity } = await encryptEntity({ partitionKey: "p", rowKey: "r", E: "" }, policy, { encryptedProperties: ["E"] });
    expect((entity.E as Uint8Array).length).toBe(16);
    expect((await decryptEntity(entity, policy)).E).toBe("");
    const flipped = Buffer.from(entity.E as Uint8Array);
    flipped[15]! ^= 1;
    for (const bad of [new Uint8Array(0), "", { value: "", type: "Binary" }, flipped, Buffer.from(entity.E as Uint8Array).subarray(0, 8), null]) {
      expectOpaque(await caught(() => decryptEntity({ ...entity, E: bad }, policy)));
    }
  });

  it("listed encrypted properties that are missing are DECRYPTION_FAILED, unless the read's projection left them out", async () => {
    const { entity } = await encryptEntity({ partitionKey: "p", rowKey: "r", A: "a", B: "b", C: "c" }, policy, { encryptedProperties: ["A", "B"] });
    const { B: _b, ...withoutB } = entity;
    expectOpaque(await caught(() => decryptEntity(withoutB, policy)));
    expectOpaque(await caught(() => decryptEntity(withoutB, { ...policy, requireEncryption: false })));
    expectOpaque(await caught(() => decryptEntity({ ...entity, B: null }, policy)));
    expect((await decryptEntity(withoutB, policy, { select: ["A", "C"] })).A).toBe("a");
    expectOpaque(await caught(() => decryptEntity(withoutB, policy, { select: ["A", "B"] })));
    // Without any user property, the listed ones are all missing.
    const bare = { partitionKey: "p", rowKey: "r", [METADATA1]: entity[METADATA1], [METADATA2]: entity[METADATA2] };
    expectOpaque(await caught(() => decryptEntity(bare, policy)));
  });

  it("on Azurite: an entity stored with a listed property removed fails get and list with DECRYPTION_FAILED; a projection without it reads", async () => {
    const t = await newTable();
    const c = new EncryptedTableClient(t, policy, { encryptedProperties: ["A", "B"] });
    await c.createEntity({ partitionKey: "p", rowKey: "r", A: "a", B: "b", C: "c" });
    const raw = await t.getEntity<Record<string, unknown>>("p", "r");
    const { B: _b, etag: _e, timestamp: _ts, ...stripped } = raw;
    await t.updateEntity(stripped as any, "Replace");
    expectOpaque(await caught(() => c.getEntity("p", "r")));
    expectOpaque(await caught(async () => {
      for await (const _ of c.listEntities()) void _;
    }));
    expect((await c.getEntity("p", "r", { queryOptions: { select: ["A", "C"] } })).A).toBe("a");
    expectOpaque(await caught(() => c.getEntity("p", "r", { queryOptions: { select: ["A", "B"] } })));
  });

  it("on Azurite: a listing whose encrypted entity comes back without its keys (broken service response) is DECRYPTION_FAILED, not a caller error", async () => {
    const t = await newTable();
    const c = new EncryptedTableClient(t, policy, { encryptedProperties: ["A"] });
    await c.createEntity({ partitionKey: "p", rowKey: "r", A: "a" });
    t.pipeline.addPolicy(
      {
        name: "testDropKeys",
        async sendRequest(request, next) {
          const response = await next(request);
          if (request.method === "GET" && typeof response.bodyAsText === "string" && response.bodyAsText.includes('"value"')) {
            const body = JSON.parse(response.bodyAsText);
            for (const e of body.value) delete e.RowKey;
            response.bodyAsText = JSON.stringify(body);
          }
          return response;
        },
      },
      { afterPhase: "Sign" },
    );
    expectOpaque(await caught(async () => {
      for await (const _ of c.listEntities()) void _;
    }));
  });

  it("a forged EncryptedKey fails every read, also of an entity with no properties besides its keys (legacy Java shape) and of one with a single metadata property", async () => {
    const { entity } = await encryptEntity({ partitionKey: "p", rowKey: "r", A: "a" }, policy, { encryptedProperties: ["A"] });
    const m1 = JSON.parse(entity[METADATA1] as string);
    const ek = Buffer.from(m1.WrappedContentKey.EncryptedKey, "base64");
    ek[3]! ^= 1;
    m1.WrappedContentKey.EncryptedKey = ek.toString("base64");
    const forged = JSON.stringify(m1);
    expectOpaque(await caught(() => decryptEntity({ ...entity, [METADATA1]: forged }, policy)));
    // Legacy Java: metadata1 only, nothing else. The key is unwrapped anyway.
    const javaShape = { partitionKey: "p", rowKey: "r", [METADATA1]: entity[METADATA1] };
    expect(Object.keys(await decryptEntity(javaShape, policy)).sort()).toEqual(["partitionKey", "rowKey"]);
    expectOpaque(await caught(() => decryptEntity({ ...javaShape, [METADATA1]: forged }, policy)));
    const forgedId = JSON.parse(forged);
    forgedId.WrappedContentKey.KeyId = "local:nobody";
    expect((await caught(() => decryptEntity({ ...javaShape, [METADATA1]: JSON.stringify(forgedId) }, { keyResolver: createLocalKeyResolver([kek]) }))).code).toBe("KEY_NOT_FOUND");
    // metadata1 with plaintext properties but no name list, or the name list alone: DECRYPTION_FAILED, also when plaintext is allowed.
    for (const p of [policy, { ...policy, requireEncryption: false }]) {
      expectOpaque(await caught(() => decryptEntity({ partitionKey: "p", rowKey: "r", A: "plain", [METADATA1]: entity[METADATA1] }, p)));
      expectOpaque(await caught(() => decryptEntity({ partitionKey: "p", rowKey: "r", A: entity.A, [METADATA2]: entity[METADATA2] }, p)));
    }
  });

  it("a name list naming PartitionKey, RowKey, Timestamp or a metadata property is DECRYPTION_FAILED (no writer lists them)", async () => {
    const random = seededRandom("class1-list");
    const { entity } = await encryptEntity({ partitionKey: "p", rowKey: "r", A: "a" }, { ...policy, random }, { encryptedProperties: ["A"] });
    const again = seededRandom("class1-list");
    const cek = Buffer.from(again(32));
    const iv = Buffer.from(again(16));
    for (const extra of ["PartitionKey", "RowKey", "Timestamp", METADATA1]) {
      const list = encryptCbcBuffer(cek, derivePropertyIv(iv, "p", "r", METADATA2), Buffer.from(JSON.stringify(["A", extra])));
      expectOpaque(await caught(() => decryptEntity({ ...entity, [METADATA2]: new Uint8Array(list) }, policy)));
    }
    // The same construction with only "A" reads, so the failures above are about the names.
    const ok = encryptCbcBuffer(cek, derivePropertyIv(iv, "p", "r", METADATA2), Buffer.from(JSON.stringify(["A"])));
    expect((await decryptEntity({ ...entity, [METADATA2]: new Uint8Array(ok) }, policy) as Record<string, unknown>).A).toBe("a");
  });
});

describe("class 2: every bad caller value to the table clients is INVALID_ARGUMENT naming the option", () => {
  let t: TableClient;
  let sent: string[];
  beforeAll(async () => {
    t = await newTable("arg");
    ({ sent } = azuriteNameShim(t));
  });

  it("constructors and service clients", async () => {
    const service = TableServiceClient.fromConnectionString(az.connectionString, { allowInsecureConnection: true });
    const cases: [() => unknown, RegExp][] = [
      [() => new EncryptedTableClient(t, null as any), /^policy must be/],
      [() => new EncryptedTableClient(t, { keyEncryptionKey: "kek" as any }), /^policy\.keyEncryptionKey must be/],
      [() => new EncryptedTableClient(t, { keyResolver: 5 as any }), /^policy\.keyResolver must be/],
      [() => new EncryptedTableClient(t, { ...policy, allowedReadProtocols: "1.0" as any }), /^policy\.allowedReadProtocols must be an array/],
      [() => new EncryptedTableClient(t, policy, null as any), /^options must be/],
      [() => new EncryptedTableClient(t, policy, { encryptedProperties: "ssn" as any }), /^options\.encryptedProperties must be an array/],
      [() => new EncryptedTableClient(t, policy, { encryptedProperties: ["a", 5] as any }), /^options\.encryptedProperties must hold/],
      [() => new EncryptedTableClient(t, policy, { encryptionResolver: true as any }), /^options\.encryptionResolver must be a function/],
      [() => new EncryptedTableServiceClient(service, policy, { createTableClient: () => t, encryptedProperties: "x" as any }), /^options\.encryptedProperties must be an array/],
      [() => EncryptedTableServiceClient.fromConnectionString(az.connectionString, policy).getTableClient("t", { encryptedProperties: "x" as any }), /^options\.encryptedProperties must be an array/],
      [() => EncryptedTableServiceClient.fromConnectionString(az.connectionString, policy).getTableClient(7 as any), /^tableName must be/],
      [() => EncryptedTableServiceClient.fromConnectionString(az.connectionString, undefined as any), /^policy must be/],
      [() => EncryptedTableServiceClient.fromConnectionString(undefined as any, policy), /^connectionString must be/],
      [() => EncryptedTableServiceClient.fromConnectionString(az.connectionString, policy, "opts" as any), /^options must be/],
    ];
    for (const [make, message] of cases) await expectCode(make, "INVALID_ARGUMENT", message);
  });

  it("entity operations with null, strings, numbers and wrong shapes send nothing", async () => {
    const c = new EncryptedTableClient(t, policy, { encryptedProperties: ["S"] });
    const before = sent.length;
    const calls: [() => Promise<unknown>, RegExp][] = [
      [() => c.createEntity(null as any), /^The entity must be an object/],
      [() => c.createEntity("entity" as any), /^The entity must be an object/],
      [() => c.createEntity({ partitionKey: 1, rowKey: "r" } as any), /partitionKey and rowKey/],
      [() => c.createEntity({ partitionKey: "p", rowKey: "r" }, { encryptedProperties: "S" as any }), /^options\.encryptedProperties must be an array/],
      [() => c.createEntity({ partitionKey: "p", rowKey: "r" }, null as any), /^options must be/],
      [() => c.updateEntity({ partitionKey: "p", rowKey: "r" }, "Patch" as any), /^mode must be "Merge" or "Replace"/],
      [() => c.upsertEntity({ partitionKey: "p", rowKey: "r" }, 5 as any), /^mode must be/],
      [() => c.getEntity(1 as any, "r"), /^partitionKey must be a string/],
      [() => c.getEntity("p", null as any), /^rowKey must be a string/],
      [() => c.getEntity("p", "r", null as any), /^options must be/],
      [() => c.getEntity("p", "r", { queryOptions: { select: "S" as any } }), /^queryOptions\.select must be an array/],
      [async () => c.listEntities({ queryOptions: { filter: { PartitionKey: "p" } as any } }), /^queryOptions\.filter must be/],
      [async () => c.listEntities({ queryOptions: { select: "S" as any } }), /^queryOptions\.select must be an array/],
      [() => c.deleteEntity("p", undefined as any), /^rowKey must be/],
      [() => c.submitTransaction("create" as any), /^actions must be an array/],
      [() => c.submitTransaction([["create"]] as any), /transaction action/],
      [() => c.submitTransaction([["frobnicate", { partitionKey: "p", rowKey: "r" }]] as any), /transaction action/],
      [() => c.updateKeyEncryptionKey({ partitionKey: "p", rowKey: "r" }, { keyId: "x" } as any), /^newKek must be a KeyEncryptionKey/],
      [() => c.updateKeyEncryptionKey({ partitionKey: "p", rowKey: "r" }, otherKek, { keyWrapAlgorithm: 5 as any }), /keyWrapAlgorithm/],
      [() => encryptEntity({ partitionKey: "p", rowKey: "r", A: "a" }, policy, { encryptedProperties: "A" as any }), /^encryptedProperties must be an array/],
      [() => encryptEntity({ partitionKey: "p", rowKey: "r" }, null as any, {}), /^policy must be/],
      [() => decryptEntity(null as any, policy), /^The entity must be an object/],
      [() => decryptEntity({ partitionKey: "p", rowKey: "r" }, policy, { select: "A" as any }), /^select must be an array/],
      [async () => selectProperties({ partitionKey: "p", rowKey: "r", A: "a" }, { encryptionResolver: 5 as any }), /^encryptionResolver must be a function/],
      [async () => entityFromODataJson("x"), /OData entity must be a JSON object/],
      [async () => entityToODataJson(null as any), /entity must be an object/],
    ];
    for (const [call, message] of calls) await expectCode(call, "INVALID_ARGUMENT", message);
    expect(sent.length).toBe(before);
  });

  it("an encryption resolver that throws or answers anything but a boolean is INVALID_ARGUMENT naming the property; nothing is sent", async () => {
    const before = sent.length;
    const boom = new Error("resolver bug");
    const throwing = new EncryptedTableClient(t, policy, { encryptionResolver: () => {
      throw boom;
    } });
    const e = await expectCode(() => throwing.createEntity({ partitionKey: "p", rowKey: "r", A: "a" }), "INVALID_ARGUMENT", /^encryptionResolver threw for property "A"/);
    expect(e.cause).toBe(boom);
    for (const answer of ["yes", 1, undefined, null, Promise.resolve(true), {}]) {
      const c = new EncryptedTableClient(t, policy, { encryptionResolver: (() => answer) as any });
      await expectCode(() => c.createEntity({ partitionKey: "p", rowKey: "r", A: "a" }), "INVALID_ARGUMENT", /^encryptionResolver must return true or false/);
      await expectCode(() => c.upsertEntity({ partitionKey: "p", rowKey: "r", A: "a" }, "Merge"), "INVALID_ARGUMENT", /^encryptionResolver must return/);
    }
    expect(sent.length).toBe(before);
  });

  it("keys and resolvers returning the wrong type are INVALID_ARGUMENT on write, read and rotation", async () => {
    const c = new EncryptedTableClient(t, policy, { encryptedProperties: ["S"] });
    await c.createEntity({ partitionKey: "kr", rowKey: "r", S: "secret" });
    const liar = (wrap: unknown, unwrap: unknown): KeyEncryptionKey => ({ keyId: kek.keyId, defaultWrapAlgorithm: "A256KW", wrapKey: async () => wrap as any, unwrapKey: async () => unwrap as any });
    for (const wrapped of ["c3RyaW5n", 7, { encryptedKey: "abc", keyId: "k" }]) {
      await expectCode(() => new EncryptedTableClient(t, { keyEncryptionKey: liar(wrapped, undefined) }, { encryptedProperties: ["S"] }).createEntity({ partitionKey: "kr", rowKey: "x", S: "s" }), "INVALID_ARGUMENT", /wrapKey/);
    }
    for (const unwrapped of ["0123456789abcdef0123456789abcdef", 5, null]) {
      await expectCode(() => new EncryptedTableClient(t, { keyEncryptionKey: liar(undefined, unwrapped) }).getEntity("kr", "r"), "INVALID_ARGUMENT", /unwrapKey/);
    }
    for (const resolved of [{ keyId: kek.keyId }, 42, Promise.resolve("kek")]) {
      await expectCode(() => new EncryptedTableClient(t, { keyResolver: (() => resolved) as any }).getEntity("kr", "r"), "INVALID_ARGUMENT", /keyResolver/);
    }
    const badNew = { ...liar("c3RyaW5n", undefined), keyId: "local:new" };
    await expectCode(() => c.updateKeyEncryptionKey({ partitionKey: "kr", rowKey: "r" }, badNew), "INVALID_ARGUMENT", /^newKek\.wrapKey must resolve/);
    // Still readable with the old key: nothing was written.
    expect((await c.getEntity("kr", "r")).S).toBe("secret");
  });
});

describe("class 3: table metadata decoding is linear and bounded", () => {
  const MB = 1024 * 1024;
  it("8 MB _ClientEncryptionMetadata1, 64 MB _ClientEncryptionMetadata2 and 8 MB encrypted values give typed errors quickly", async () => {
    const { entity } = await encryptEntity({ partitionKey: "p", rowKey: "r", A: "a" }, policy, { encryptedProperties: ["A"] });
    const started = Date.now();
    const m1 = JSON.parse(entity[METADATA1] as string);
    m1.WrappedContentKey.KeyId = "k".repeat(8 * MB);
    expect((await caught(() => decryptEntity({ ...entity, [METADATA1]: JSON.stringify(m1) }, policy))).code).toBe("INVALID_ENCRYPTION_DATA");
    expect((await caught(() => decryptEntity({ ...entity, [METADATA1]: "[".repeat(8 * MB) }, policy))).code).toBe("INVALID_ENCRYPTION_DATA");
    for (const m2 of ["A".repeat(64 * MB), { value: "A".repeat(64 * MB), type: "Binary" }, { value: `${"A".repeat(64 * MB - 1)}!`, type: "Binary" }]) {
      expectOpaque(await caught(() => decryptEntity({ ...entity, [METADATA2]: m2 }, policy)));
    }
    expectOpaque(await caught(() => decryptEntity({ ...entity, A: { value: "A".repeat(8 * MB), type: "Binary" } }, policy)));
    expect(Date.now() - started).toBeLessThan(30_000);
  }, 60_000);
});

describe("class 5: values from stored entities and caller names are escaped in error messages", () => {
  it("a hostile stored KeyId (KEY_NOT_FOUND, KID_MISMATCH) and Protocol (UNSUPPORTED_PROTOCOL) give clean messages, also through Azurite", async () => {
    const { entity } = await encryptEntity({ partitionKey: "p", rowKey: "r", A: "a" }, policy, { encryptedProperties: ["A"] });
    const m1 = JSON.parse(entity[METADATA1] as string);
    m1.WrappedContentKey.KeyId = HOSTILE;
    for (const reader of [{ keyResolver: async () => undefined }, { keyEncryptionKey: otherKek }, {}] as ClientSideEncryptionPolicy[]) {
      const e = await caught(() => decryptEntity({ ...entity, [METADATA1]: JSON.stringify(m1) }, reader));
      expect(["KEY_NOT_FOUND", "KID_MISMATCH"]).toContain(e.code);
      expect(e.message).not.toMatch(UNSAFE);
    }
    const proto = JSON.parse(entity[METADATA1] as string);
    proto.EncryptionAgent.Protocol = "\u001b]0;x\u0007\u009b";
    const p = await caught(() => decryptEntity({ ...entity, [METADATA1]: JSON.stringify(proto) }, policy));
    expect(p.code).toBe("UNSUPPORTED_PROTOCOL");
    expect(p.message).not.toMatch(UNSAFE);

    const t = await newTable("esc");
    await t.createEntity({ ...entity, [METADATA1]: JSON.stringify(m1) } as any);
    const viaAzurite = await caught(() => new EncryptedTableClient(t, { keyEncryptionKey: otherKek }).getEntity("p", "r"));
    expect(viaAzurite.code).toBe("KID_MISMATCH");
    expect(viaAzurite.message).not.toMatch(UNSAFE);
  });

  it("caller property names with control characters are quoted escaped (non-string value chosen, reserved name, merge clash)", async () => {
    const name = `bad${HOSTILE}`;
    const e1 = await caught(() => encryptEntity(record([["partitionKey", "p"], ["rowKey", "r"], [name, 5]]), policy, { encryptedProperties: [name] }));
    expect(e1.code).toBe("INVALID_ARGUMENT");
    expect(e1.message).not.toMatch(UNSAFE);
    expect(e1.message).toContain(JSON.stringify(name).slice(1, 6));
    const t = await newTable("esc2");
    const c = new EncryptedTableClient(t, policy, { encryptedProperties: [name] });
    await c.createEntity(record([["partitionKey", "p"], ["rowKey", "r"], [name, "secret"]]) as any);
    const e2 = await caught(() => new EncryptedTableClient(t, policy).updateEntity(record([["partitionKey", "p"], ["rowKey", "r"], [name, "plain"]]) as any, "Merge"));
    expect(e2.code).toBe("UNSUPPORTED_OPERATION");
    expect(e2.message).not.toMatch(UNSAFE);
  });
});
