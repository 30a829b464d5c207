// Entities written by @azure-cse/data-tables/web (Web Crypto keys) — a transaction, a Replace update and a key
// rotation — decrypted by the legacy Python table SDK (azure.cosmosdb.table) with require_encryption through
// Azurite; the rotated entity with only the new key. Never skipped: assertPythonPeer() fails with the install command.
import { createPrivateKey } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TableClient } from "@azure/data-tables";
import { WebAesKeyWrapKey, WebRsaKey } from "@azure-cse/core-envelope/web";
import { WebEncryptedTableClient } from "@azure-cse/data-tables/web";
import { assertPythonPeer, runPython, startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { PY_SETUP, manifest, uniqueTableName } from "./helpers.js";

const rsaPem = manifest.keks.find((k) => k.algorithm === "RSA-OAEP")!.private_key_pkcs8_pem!;
const aesKey = Buffer.alloc(32, 0x6b);
const AES_KID = "local:web-py-a256kw";
const RSA_KID = "local:web-py-rsa-oaep";

let az: AzuriteHandle;
beforeAll(async () => {
  assertPythonPeer();
  az = await startAzurite();
});
afterAll(async () => {
  await az?.stop();
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON printed by the Python script
type PyResult = Record<string, any>;

describe("data-tables/web writes → legacy Python table SDK reads", () => {
  it("transaction (create, Replace upsert), ETag-conditional Replace update and a rotation to RSA-OAEP: Python decrypts them; the rotated one with only the new key", async () => {
    const t = TableClient.fromConnectionString(az.connectionString, uniqueTableName("webpy"), { allowInsecureConnection: true });
    await t.createTable();
    const aes = await WebAesKeyWrapKey.fromRaw(AES_KID, aesKey);
    const rsa = await WebRsaKey.fromJwk(RSA_KID, createPrivateKey(rsaPem).export({ format: "jwk" }) as Record<string, unknown>, "RSA-OAEP");
    const web = new WebEncryptedTableClient(t, { keyEncryptionKey: aes }, { encryptedProperties: ["Secret", "Empty"] });
    const ent = (rk: string, secret: string) => ({ partitionKey: "web é", rowKey: rk, Secret: secret, Empty: "", Plain: "plain" });
    await web.submitTransaction([
      ["create", ent("tx-1", "first ü 😀")],
      ["upsert", ent("tx-2", "second"), "Replace"],
    ]);
    const tx1 = await t.getEntity("web é", "tx-1");
    await web.updateEntity(ent("tx-1", "first, updated"), "Replace", { etag: tx1.etag });
    await web.createEntity(ent("rot", "rotated secret"));
    const r = await web.updateKeyEncryptionKey({ partitionKey: "web é", rowKey: "rot" }, rsa);
    expect(r).toMatchObject({ previousKeyId: AES_KID, keyId: RSA_KID, keyWrapAlgorithm: "RSA-OAEP" });
    const out = await runPython<PyResult>(
      `${PY_SETUP}
ts.require_encryption = True
ts.key_resolver_function = lambda kid: keks[kid]
got = {rk: dump(ts.get_entity(d['table'], 'web é', rk)) for rk in ('tx-1', 'tx-2')}
ts.key_resolver_function = lambda kid: {d['rsa_kid']: keks[d['rsa_kid']]}[kid]
got['rot'] = dump(ts.get_entity(d['table'], 'web é', 'rot'))
try:
    ts.get_entity(d['table'], 'web é', 'tx-2')
    got['aes_with_rsa_only'] = 'read'
except Exception as e:
    got['aes_with_rsa_only'] = 'refused'
print(json.dumps(got))
`,
      { cs: az.connectionString, aes_kid: AES_KID, aes_key: aesKey.toString("base64"), rsa_kid: RSA_KID, rsa_pem: rsaPem, table: t.tableName },
    );
    expect(out["tx-1"]).toMatchObject({ PartitionKey: "web é", RowKey: "tx-1", Secret: "first, updated", Empty: "", Plain: "plain" });
    expect(out["tx-2"]).toMatchObject({ Secret: "second", Empty: "", Plain: "plain" });
    expect(out.rot).toMatchObject({ Secret: "rotated secret", Empty: "", Plain: "plain" });
    expect(out.rot._ClientEncryptionMetadata1).toBeUndefined();
    expect(out.aes_with_rsa_only).toBe("refused");
  });
});
