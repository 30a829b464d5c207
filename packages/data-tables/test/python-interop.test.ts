// Live interop with the legacy Python table SDK (azure.cosmosdb.table TableService with key_encryption_key /
// key_resolver_function / encryption_resolver_function / require_encryption) through Azurite, both ways.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TableClient } from "@azure/data-tables";
import { AesKeyWrapKey, RsaKey, createLocalKeyResolver, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { EncryptedTableClient, METADATA1 } from "@azure-cse/data-tables";
import { assertPythonPeer, runPython, startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { PY_SETUP, manifest, rawGetEntity, rawTableRequest, uniqueTableName } from "./helpers.js";
import { buildLegacyWireEntity } from "./legacy.js";

const rsaVector = manifest.keks.find((k) => k.algorithm === "RSA-OAEP")!;
const aesKey = Buffer.alloc(32, 0x5a);
const aes = new AesKeyWrapKey("local:interop-a256kw", aesKey);
const rsa = RsaKey.fromPem("local:interop-rsa-oaep", rsaVector.private_key_pkcs8_pem!, "RSA-OAEP");
const readPolicy: ClientSideEncryptionPolicy = { keyResolver: createLocalKeyResolver([aes, rsa]) };


// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON printed by the Python script
type PyResult = Record<string, any>;
let az: AzuriteHandle;
function pyInput(extra: Record<string, unknown>) {
  return { cs: az.connectionString, aes_kid: aes.keyId, aes_key: aesKey.toString("base64"), rsa_kid: rsa.keyId, rsa_pem: rsaVector.private_key_pkcs8_pem, ...extra };
}
async function newTable(): Promise<TableClient> {
  const t = TableClient.fromConnectionString(az.connectionString, uniqueTableName("py"), { allowInsecureConnection: true });
  await t.createTable();
  return t;
}

beforeAll(async () => {
  assertPythonPeer();
  az = await startAzurite();
});
afterAll(async () => {
  await az?.stop();
});

describe("legacy Python table SDK → EncryptedTableClient", () => {
  it("entities Python inserts (resolver + EntityProperty(encrypt=True), A256KW and RSA-OAEP, insert/insert_or_replace/update) decrypt", async () => {
    const t = await newTable();
    await runPython(
      `${PY_SETUP}
ts.require_encryption = True
ts.encryption_resolver_function = lambda pk, rk, name: name in ('Resolved', 'Empty')
def ent(rk):
    return {'PartitionKey': 'pý 中', 'RowKey': rk, 'Resolved': 'résolu 😀', 'Flagged': EntityProperty(EdmType.STRING, 'flag value', encrypt=True), 'Empty': '', 'Plain': 'plain', 'Num': 7}
ts.key_encryption_key = keks[d['aes_kid']]
ts.insert_entity(d['table'], ent('aes'))
ts.key_encryption_key = keks[d['rsa_kid']]
ts.insert_or_replace_entity(d['table'], ent('rsa'))
ts.key_encryption_key = keks[d['aes_kid']]
ts.insert_entity(d['table'], ent('replaced'))
ts.update_entity(d['table'], ent('replaced'))
print(json.dumps({'ok': True}))
`,
      pyInput({ table: t.tableName }),
    );
    const c = new EncryptedTableClient(t, readPolicy);
    for (const rk of ["aes", "rsa", "replaced"]) {
      const e = await c.getEntity("pý 中", rk);
      expect(e, rk).toMatchObject({ Resolved: "résolu 😀", Flagged: "flag value", Empty: "", Plain: "plain" });
      expect(e[METADATA1]).toBeUndefined();
    }
    const md = JSON.parse((await rawGetEntity(az, t.tableName, "pý 中", "rsa"))[METADATA1] as string);
    expect(md.WrappedContentKey).toMatchObject({ KeyId: rsa.keyId, Algorithm: "RSA-OAEP" });
    expect(md.KeyWrappingMetadata.EncryptionLibrary).toBe("Python 1.4.2");
    const listed: Record<string, unknown>[] = [];
    for await (const e of c.listEntities({ queryOptions: { select: ["Flagged"] } })) listed.push(e);
    expect(listed.map((e) => e.Flagged)).toEqual(["flag value", "flag value", "flag value"]);
  });
});

describe("EncryptedTableClient → legacy Python table SDK", () => {
  it("entities we write (create, Replace upsert, transaction, A256KW and RSA-OAEP, unicode keys) are decrypted by Python with require_encryption", async () => {
    const t = await newTable();
    const writeAes = new EncryptedTableClient(t, { keyEncryptionKey: aes }, { encryptionResolver: (_pk, _rk, n) => n === "Resolved" });
    const writeRsa = new EncryptedTableClient(t, { keyEncryptionKey: rsa }, { encryptedProperties: ["Resolved"] });
    const ent = (rk: string) => ({ partitionKey: "js é", rowKey: rk, Resolved: "from TS ü 😀", Listed: "listed", Empty: "", Plain: "plain", Num: 7, Big: { value: "9007199254740993", type: "Int64" } });
    await writeAes.createEntity(ent("aes"), { encryptedProperties: ["Listed", "Empty"] });
    await writeRsa.upsertEntity(ent("rsa"), "Replace", { encryptedProperties: ["Listed", "Empty"] });
    await writeAes.submitTransaction([["create", ent("tx-1")], ["upsert", ent("tx-2"), "Replace"]], { encryptedProperties: ["Listed", "Empty"] });
    const out = await runPython<PyResult>(
      `${PY_SETUP}
ts.require_encryption = True
ts.key_resolver_function = lambda kid: keks[kid]
got = {rk: dump(ts.get_entity(d['table'], 'js é', rk)) for rk in ('aes', 'rsa', 'tx-1', 'tx-2')}
q = [dump(e) for e in ts.query_entities(d['table'], filter="PartitionKey eq 'js é'", select='Listed,PartitionKey,RowKey')]
print(json.dumps({'got': got, 'query': q}))
`,
      pyInput({ table: t.tableName }),
    );
    for (const rk of ["aes", "rsa", "tx-1", "tx-2"]) {
      expect(out.got[rk], rk).toMatchObject({ PartitionKey: "js é", RowKey: rk, Resolved: "from TS ü 😀", Listed: "listed", Empty: "", Plain: "plain" });
      expect(out.got[rk].Num).toEqual({ type: "Edm.Int32", value: 7 });
      expect(out.got[rk].Big).toEqual({ int: "9007199254740993" });
      expect(out.got[rk]._ClientEncryptionMetadata1).toBeUndefined();
    }
    expect(out.query.map((e: Record<string, unknown>) => e.Listed)).toEqual(["listed", "listed", "listed", "listed"]);
  });

  it("an entity rotated with updateKeyEncryptionKey (A256KW → RSA-OAEP) is decrypted by Python with only the new key", async () => {
    const t = await newTable();
    const c = new EncryptedTableClient(t, { keyEncryptionKey: aes }, { encryptedProperties: ["S"] });
    await c.createEntity({ partitionKey: "rot", rowKey: "r", S: "rotated secret" });
    await c.updateKeyEncryptionKey({ partitionKey: "rot", rowKey: "r" }, rsa);
    const out = await runPython<PyResult>(
      `${PY_SETUP}
ts.require_encryption = True
ts.key_encryption_key = keks[d['rsa_kid']]
print(json.dumps(dump(ts.get_entity(d['table'], 'rot', 'r'))))
`,
      pyInput({ table: t.tableName }),
    );
    expect(out.S).toBe("rotated secret");
  });

  it("Python agrees with our reading of the hand-built layouts: Java order for \"Java 8.6.6\"; the \"JavaScript\" pitfall fails in Python too", async () => {
    const t = await newTable();
    const base = { partitionKey: "legacy", encrypted: { Secret: "s" }, plain: { Plain: "p" }, kek: aes, cek: Buffer.alloc(32, 1), entityIv: Buffer.alloc(16, 2) };
    const java = await buildLegacyWireEntity({ ...base, rowKey: "java", order: "pk-rk", listFormat: "java", library: "Java 8.6.6" });
    const pitfall = await buildLegacyWireEntity({ ...base, rowKey: "javascript", order: "rk-pk", listFormat: "json", library: "JavaScript 1.0" });
    for (const w of [java, pitfall]) expect((await rawTableRequest(az, "POST", t.tableName, JSON.stringify(w), { Prefer: "return-no-content" })).status).toBe(204);
    const out = await runPython<PyResult>(
      `${PY_SETUP}
ts.require_encryption = True
ts.key_encryption_key = keks[d['aes_kid']]
res = {}
for rk in ('java', 'javascript'):
    try: res[rk] = dump(ts.get_entity(d['table'], 'legacy', rk))
    except Exception as ex: res[rk] = {'error': str(ex)}
print(json.dumps(res))
`,
      pyInput({ table: t.tableName }),
    );
    expect(out.java.Secret).toBe("s");
    expect(out.javascript.error).toMatch(/Decryption failed/);
    const c = new EncryptedTableClient(t, { keyEncryptionKey: aes });
    expect((await c.getEntity("legacy", "java")).Secret).toBe("s");
    await expect(c.getEntity("legacy", "javascript")).rejects.toMatchObject({ code: "DECRYPTION_FAILED" });
  });
});
