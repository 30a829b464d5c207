// Live interop with the legacy .NET table library (WindowsAzure.Storage 9.3.3, TableEncryptionPolicy with an
// EncryptionResolver: the only .NET library with table client-side encryption) through Azurite, both ways,
// driven by tools/dotnet-peer. Several encrypted properties per entity, RSA-OAEP and A256KW keys whose ids look
// like versioned Key Vault ids, the resolver deciding what is encrypted. Never skipped: assertDotnetPeer() fails
// with the install command. Each direction runs the .NET program once (`run batch`).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TableClient } from "@azure/data-tables";
import { AesKeyWrapKey, RsaKey, createLocalKeyResolver, type KeyEncryptionKey } from "@azure-cse/core-envelope";
import { EncryptedTableClient, METADATA1 } from "@azure-cse/data-tables";
import { assertDotnetPeer, runDotnetBatch, startAzurite, type AzuriteHandle, type DotnetPeerResult } from "@azure-cse/testkit";
import { rawGetEntity, uniqueTableName } from "./helpers.js";

const RSA_KID = "https://azcse-interop.vault.azure.net/keys/cse-table-rsa/1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f";
const AES_KID = "https://azcse-interop.vault.azure.net/keys/cse-table-aes/9f8e7d6c5b4a39281706f5e4d3c2b1a0";

let az: AzuriteHandle;
let dir: string;
let rsa: RsaKey;
let aes: AesKeyWrapKey;
let rsaFile: string;
let aesFile: string;
const keyFile = (k: KeyEncryptionKey) => (k === rsa ? rsaFile : aesFile);

function batch(commands: string[][]): Promise<DotnetPeerResult[]> {
  return runDotnetBatch(commands, { connectionString: az.connectionString, timeoutMs: 300_000 });
}
async function newTable(prefix: string): Promise<TableClient> {
  const t = TableClient.fromConnectionString(az.connectionString, uniqueTableName(prefix), { allowInsecureConnection: true });
  await t.createTable();
  return t;
}

// String values the encrypted properties carry: base64-special characters, JSON-looking text, astral characters, empty.
const SECRETS = { Name: "Zoë 😀 中文", Secret: "s3cr3t+/== \"quoted\" \\ back", Empty: "", Long: "L".repeat(5000) + "é" };

beforeAll(async () => {
  assertDotnetPeer();
  az = await startAzurite();
  dir = mkdtempSync(path.join(tmpdir(), "azcse-table-dotnet-"));
  rsa = RsaKey.generate(RSA_KID);
  aes = AesKeyWrapKey.generate(AES_KID);
  rsaFile = path.join(dir, "rsa.jwk");
  aesFile = path.join(dir, "aes.jwk");
  writeFileSync(rsaFile, JSON.stringify(rsa.toJwk()));
  writeFileSync(aesFile, JSON.stringify(aes.toJwk()));
});
afterAll(async () => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  await az?.stop();
});

describe("legacy .NET TableEncryptionPolicy writes → EncryptedTableClient reads", () => {
  const cases = [
    { rk: "rsa-all", kek: () => rsa, encrypt: ["Name", "Secret", "Empty", "Long"] },
    { rk: "aes-all", kek: () => aes, encrypt: ["Name", "Secret", "Empty", "Long"] },
    { rk: "aes-some", kek: () => aes, encrypt: ["Secret"] },
    { rk: "rsa-one", kek: () => rsa, encrypt: ["Name"] },
  ];
  const pk = "pý 中 +=";
  let t: TableClient;
  let results: DotnetPeerResult[] = [];

  beforeAll(async () => {
    t = await newTable("netw");
    const commands = cases.map((c) => {
      const file = path.join(dir, `${c.rk}.json`);
      writeFileSync(
        file,
        JSON.stringify({
          PartitionKey: pk, RowKey: `${c.rk} 😀`, ...SECRETS, Plain: "visible", N: -5, L: "9007199254740993", "L@odata.type": "Edm.Int64", D: 3.25, B: true,
          W: "2021-02-03T04:05:06Z", "W@odata.type": "Edm.DateTime", G: "c9da6455-213d-42c9-9a79-3e9149a57833", "G@odata.type": "Edm.Guid", Y: "AAEC/w==", "Y@odata.type": "Edm.Binary",
        }),
      );
      return ["table-put", "--table", t.tableName, "--in", file, "--encrypt", c.encrypt.join(","), "--key", keyFile(c.kek())];
    });
    results = await batch(commands);
  }, 300_000);

  it("every .NET insert succeeded; the resolver was asked about every property but the keys", () => {
    expect(results.map((r) => [r.exit, r.error])).toEqual(cases.map(() => [0, null]));
    for (const r of results) expect([...(r.result as { resolverCalledFor: string[] }).resolverCalledFor].sort()).toEqual(["B", "D", "Empty", "G", "L", "Long", "N", "Name", "Plain", "Secret", "W", "Y"]);
  });

  it("the stored entity is what legacy .NET writes: encrypted strings as Edm.Binary, EncryptionLibrary '.NET 9.3.2', no EncryptionMode", async () => {
    for (const c of cases) {
      const raw = await rawGetEntity(az, t.tableName, pk, `${c.rk} 😀`);
      for (const n of c.encrypt) expect([c.rk, n, raw[`${n}@odata.type`]]).toEqual([c.rk, n, "Edm.Binary"]);
      expect(raw._ClientEncryptionMetadata2).toBeDefined();
      const md = JSON.parse(raw[METADATA1] as string) as Record<string, Record<string, string>>;
      expect(Object.keys(md)).toEqual(["WrappedContentKey", "EncryptionAgent", "ContentEncryptionIV", "KeyWrappingMetadata"]);
      expect(md.WrappedContentKey).toMatchObject({ KeyId: c.kek().keyId, Algorithm: c.kek() === rsa ? "RSA-OAEP" : "A256KW" });
      expect(md.EncryptionAgent).toEqual({ Protocol: "1.0", EncryptionAlgorithm: "AES_CBC_256" });
      expect(md.KeyWrappingMetadata).toEqual({ EncryptionLibrary: ".NET 9.3.2" });
    }
  });

  it("every entity decrypts to the values .NET was given (resolver over both keys), other types intact", async () => {
    const c = new EncryptedTableClient(t, { keyResolver: createLocalKeyResolver([rsa, aes]) });
    for (const k of cases) {
      const e = await c.getEntity(pk, `${k.rk} 😀`);
      expect(e, k.rk).toMatchObject({ ...SECRETS, Plain: "visible", N: -5, D: 3.25, B: true, G: { type: "Guid", value: "c9da6455-213d-42c9-9a79-3e9149a57833" } });
      expect(e[METADATA1]).toBeUndefined();
    }
  });
});

describe("EncryptedTableClient writes → legacy .NET TableEncryptionPolicy reads", () => {
  it("entities we write (resolver and list selections, RSA-OAEP and A256KW, unicode keys) are decrypted by .NET with RequireEncryption", async () => {
    const t = await newTable("jsw");
    const pk = "js é 😀";
    const viaResolver = new EncryptedTableClient(t, { keyEncryptionKey: rsa }, { encryptionResolver: (_pk, _rk, name) => name === "Name" || name === "Secret" });
    const viaList = new EncryptedTableClient(t, { keyEncryptionKey: aes }, { encryptedProperties: ["Name", "Secret", "Empty", "Long"] });
    const entity = (rk: string) => ({ partitionKey: pk, rowKey: rk, ...SECRETS, Plain: "plain", Num: 7, Big: { value: "9007199254740993", type: "Int64" as const } });
    await viaResolver.createEntity(entity("resolver-rsa"));
    await viaList.upsertEntity(entity("list-aes"), "Replace");
    await viaResolver.upsertEntity(entity("resolver-plus-list"), "Replace", { encryptedProperties: ["Long"] });
    const rks = ["resolver-rsa", "list-aes", "resolver-plus-list"];
    const results = await batch(rks.map((rk) => ["table-get", "--table", t.tableName, "--pk", pk, "--rk", rk, "--out", path.join(dir, `${rk}.out.json`), "--key", aesFile, "--key", rsaFile]));
    expect(results.map((r) => [r.exit, r.error])).toEqual(rks.map(() => [0, null]));
    for (const rk of rks) {
      const got = JSON.parse(readFileSync(path.join(dir, `${rk}.out.json`), "utf8")) as Record<string, unknown>;
      expect(got, rk).toEqual({
        PartitionKey: pk, RowKey: rk, ...SECRETS, Plain: "plain", Num: 7, Big: "9007199254740993", "Big@odata.type": "Edm.Int64",
      });
    }
  });
});

describe(".NET refusals", () => {
  it("a non-string property named for encryption is exit 2; an entity under an unknown key is exit 2; a missing entity is exit 3", async () => {
    const t = await newTable("netr");
    await new EncryptedTableClient(t, { keyEncryptionKey: aes }, { encryptedProperties: ["S"] }).createEntity({ partitionKey: "p", rowKey: "r", S: "x" });
    const file = path.join(dir, "int.json");
    writeFileSync(file, JSON.stringify({ PartitionKey: "p", RowKey: "int", N: 5 }));
    const [intProp, wrongKey, missing] = await batch([
      ["table-put", "--table", t.tableName, "--in", file, "--encrypt", "N", "--key", aesFile],
      ["table-get", "--table", t.tableName, "--pk", "p", "--rk", "r", "--out", path.join(dir, "w.json"), "--key", rsaFile],
      ["table-get", "--table", t.tableName, "--pk", "p", "--rk", "nope", "--out", path.join(dir, "m.json"), "--key", aesFile],
    ]);
    expect(intProp!.exit).toBe(2);
    expect(intProp!.error).toMatch(/Only string properties can be encrypted/);
    expect(wrongKey!.exit).toBe(2);
    expect(missing!.exit).toBe(3);
  });
});
