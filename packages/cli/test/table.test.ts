// azcse table: offline encrypt-entity/decrypt-entity on OData JSON, and put/get/query against Azurite.
// Exit codes are the contract: 0 ok, 1 usage, 2 crypto, 3 not found, 4 service.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TableClient } from "@azure/data-tables";
import { startAzurite, tempDir, vectorsDir, freePort, type AzuriteHandle } from "@azure-cse/testkit";
import { main } from "../src/main.js";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function azcse(...argv: string[]): Promise<Run> {
  let stdout = "";
  let stderr = "";
  const code = await main(argv, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) });
  return { code, stdout, stderr };
}

interface TableCase {
  id: string;
  kind: string;
  kek_algorithm: string;
  encrypted_properties: string[];
  wire: { request_file: string };
  service_response: { file: string };
  expected_decrypted: { properties: { name: string; value: unknown }[] };
}
const manifest = JSON.parse(readFileSync(path.join(vectorsDir, "manifest.json"), "utf8")) as { keks: { kid: string; algorithm: string; key_b64: string }[]; cases: TableCase[] };
const tableCases = manifest.cases.filter((c) => c.kind === "table");
const aesVector = manifest.keks.find((k) => k.algorithm === "A256KW")!;

let az: AzuriteHandle;
let tmp: { dir: string; cleanup: () => void };
let keyFile: string;
let otherKeyFile: string;
let vectorKeyFile: string;
const f = (name: string) => path.join(tmp.dir, name);
const write = (name: string, v: unknown) => (writeFileSync(f(name), typeof v === "string" ? v : JSON.stringify(v)), f(name));
const readJson = (file: string) => JSON.parse(readFileSync(file, "utf8"));

const ENTITY = {
  PartitionKey: "cli",
  RowKey: "r1",
  Secret: "top secret é 😀",
  Note: "also secret",
  Plain: "visible",
  Count: 42,
  Big: "9007199254740993",
  "Big@odata.type": "Edm.Int64",
  When: "2021-02-03T04:05:06Z",
  "When@odata.type": "Edm.DateTime",
  Id: "c9da6455-213d-42c9-9a79-3e9149a57833",
  "Id@odata.type": "Edm.Guid",
  Bytes: "AAEC/w==",
  "Bytes@odata.type": "Edm.Binary",
  Yes: true,
  Pi: 3.25,
};

beforeAll(async () => {
  tmp = tempDir("azcse-table-");
  keyFile = f("k1.jwk");
  otherKeyFile = f("k2.jwk");
  expect((await azcse("key", "generate", "--alg", "A256KW", "--kid", "local:cli-table-1", "--out", keyFile)).code).toBe(0);
  expect((await azcse("key", "generate", "--alg", "RSA-OAEP", "--kid", "local:cli-table-2", "--out", otherKeyFile)).code).toBe(0);
  vectorKeyFile = write("vector.jwk", { kty: "oct", kid: aesVector.kid, alg: "A256KW", k: Buffer.from(aesVector.key_b64, "base64").toString("base64url") });
  az = await startAzurite();
});
afterAll(async () => {
  await az?.stop();
  tmp?.cleanup();
});

describe("azcse table encrypt-entity / decrypt-entity (offline, OData JSON)", () => {
  it("encrypts the named properties to Edm.Binary with both metadata properties, and decrypts back to the same entity", async () => {
    const input = write("entity.json", ENTITY);
    const r = await azcse("table", "encrypt-entity", "--in", input, "--out", f("wire.json"), "--key", keyFile, "--encrypt", "Secret,Note");
    expect(r.code, r.stderr).toBe(0);
    const wire = readJson(f("wire.json"));
    expect(wire["Secret@odata.type"]).toBe("Edm.Binary");
    expect(wire["Note@odata.type"]).toBe("Edm.Binary");
    expect(wire.Secret).not.toContain("secret");
    expect(wire["_ClientEncryptionMetadata2@odata.type"]).toBe("Edm.Binary");
    expect(JSON.parse(wire._ClientEncryptionMetadata1).EncryptionAgent.Protocol).toBe("1.0");
    const d = await azcse("table", "decrypt-entity", "--in", f("wire.json"), "--out", f("plain.json"), "--key", otherKeyFile, "--key", keyFile);
    expect(d.code, d.stderr).toBe(0);
    expect(readJson(f("plain.json"))).toEqual(ENTITY);
  });

  it("decrypts the Python SDK's vectors in either annotation order (request body: value first; Azurite response: annotation first)", async () => {
    for (const c of tableCases.filter((x) => x.kek_algorithm === "A256KW")) {
      for (const file of [c.wire.request_file, c.service_response.file]) {
        const out = f(`${c.id}.${path.basename(file)}.plain.json`);
        const r = await azcse("table", "decrypt-entity", "--in", path.join(vectorsDir, file), "--out", out, "--key", vectorKeyFile);
        expect(r.code, `${file}: ${r.stderr}`).toBe(0);
        const got = readJson(out);
        for (const p of c.expected_decrypted.properties) expect(got[p.name], `${c.id}/${p.name}`).toEqual(p.value);
        for (const n of c.encrypted_properties) expect(got[`${n}@odata.type`]).toBeUndefined();
        expect(got._ClientEncryptionMetadata1).toBeUndefined();
        expect(got._ClientEncryptionMetadata2).toBeUndefined();
      }
    }
  });

  it("wrong key → exit 2 (KEY_NOT_FOUND); tampered ciphertext → exit 2 (DECRYPTION_FAILED); no output file is left", async () => {
    await azcse("table", "encrypt-entity", "--in", write("e2.json", ENTITY), "--out", f("w2.json"), "--key", keyFile, "--encrypt", "Secret");
    const wrong = await azcse("table", "decrypt-entity", "--in", f("w2.json"), "--out", f("nope.json"), "--key", otherKeyFile);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain("KEY_NOT_FOUND");
    const wire = readJson(f("w2.json"));
    const m2 = Buffer.from(wire._ClientEncryptionMetadata2, "base64");
    m2[m2.length - 1]! ^= 1;
    wire._ClientEncryptionMetadata2 = m2.toString("base64");
    const bad = await azcse("table", "decrypt-entity", "--in", write("w2bad.json", wire), "--out", f("nope.json"), "--key", keyFile);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("DECRYPTION_FAILED");
    expect(existsSync(f("nope.json"))).toBe(false);
  });

  it("an entity without encryption metadata → exit 2 (ENCRYPTION_REQUIRED)", async () => {
    const r = await azcse("table", "decrypt-entity", "--in", write("plainwire.json", { PartitionKey: "p", RowKey: "r", A: "a" }), "--out", f("x.json"), "--key", keyFile);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("ENCRYPTION_REQUIRED");
  });

  it("usage errors exit 1: non-string property to encrypt, unknown name, no --encrypt, bad JSON; a missing input file exits 3", async () => {
    const input = write("e3.json", ENTITY);
    const nonString = await azcse("table", "encrypt-entity", "--in", input, "--out", f("o.json"), "--key", keyFile, "--encrypt", "Count");
    expect(nonString.code).toBe(1);
    expect(nonString.stderr).toContain("INVALID_ARGUMENT");
    expect((await azcse("table", "encrypt-entity", "--in", input, "--out", f("o.json"), "--key", keyFile, "--encrypt", "Nope")).code).toBe(1);
    expect((await azcse("table", "encrypt-entity", "--in", input, "--out", f("o.json"), "--key", keyFile)).code).toBe(1);
    expect((await azcse("table", "encrypt-entity", "--in", input, "--out", f("o.json"), "--key", keyFile, "--encrypt", "PartitionKey")).code).toBe(1);
    expect((await azcse("table", "encrypt-entity", "--in", write("bad.json", "{not json"), "--out", f("o.json"), "--key", keyFile, "--encrypt", "Secret")).code).toBe(1);
    expect((await azcse("table", "decrypt-entity", "--in", f("missing.json"), "--out", f("o.json"), "--key", keyFile)).code).toBe(3);
    expect(existsSync(f("o.json"))).toBe(false);
  });
});

describe("azcse table put / get / query (Azurite)", () => {
  it("put encrypts and stores; get returns the decrypted entity (stdout or --out); the stored entity holds only ciphertext", async () => {
    const env = ["--connection-string", az.connectionString];
    const put = await azcse("table", "put", "clitable1", "--in", write("put.json", ENTITY), "--key", keyFile, "--encrypt", "Secret,Note", "--create-table", ...env);
    expect(put.code, put.stderr).toBe(0);
    expect(JSON.parse(put.stdout)).toMatchObject({ partitionKey: "cli", rowKey: "r1", encrypted: ["Secret", "Note"] });
    const raw = await TableClient.fromConnectionString(az.connectionString, "clitable1", { allowInsecureConnection: true }).getEntity("cli", "r1");
    expect(raw.Secret).toBeInstanceOf(Uint8Array);
    expect(typeof raw._ClientEncryptionMetadata1).toBe("string");
    const get = await azcse("table", "get", "clitable1", "cli", "r1", "--key", keyFile, ...env);
    expect(get.code, get.stderr).toBe(0);
    const got = JSON.parse(get.stdout);
    const { "odata.etag": etag, Timestamp, "Timestamp@odata.type": _tt, ...rest } = got;
    expect(typeof etag).toBe("string");
    expect(typeof Timestamp).toBe("string");
    expect(rest).toEqual(ENTITY);
    const toFile = await azcse("table", "get", "clitable1", "cli", "r1", "--key", keyFile, "--out", f("got.json"), ...env);
    expect(toFile.code).toBe(0);
    expect(readJson(f("got.json")).Secret).toBe(ENTITY.Secret);
  });

  it("query decrypts one entity per line, with --filter and --select (metadata columns added and removed)", async () => {
    const env = ["--connection-string", az.connectionString];
    for (const rk of ["q1", "q2", "q3"]) {
      const r = await azcse("table", "put", "clitable2", "--in", write(`${rk}.json`, { ...ENTITY, RowKey: rk, Secret: `s-${rk}` }), "--key", keyFile, "--encrypt", "Secret", "--create-table", ...env);
      expect(r.code, r.stderr).toBe(0);
    }
    const all = await azcse("table", "query", "clitable2", "--key", keyFile, ...env);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout.trim().split("\n").map((l) => JSON.parse(l).Secret)).toEqual(["s-q1", "s-q2", "s-q3"]);
    const some = await azcse("table", "query", "clitable2", "--key", keyFile, "--filter", "RowKey ge 'q2'", "--select", "Secret,Plain", ...env);
    expect(some.code, some.stderr).toBe(0);
    const rows = some.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(rows.map((r) => r.Secret)).toEqual(["s-q2", "s-q3"]);
    for (const r of rows) {
      expect(Object.keys(r).filter((k) => !k.startsWith("odata.")).sort()).toEqual(["Plain", "Secret"]);
    }
  });

  it("exit codes: missing entity or table → 3; wrong key → 2; unencrypted entity → 2; service unreachable → 4; missing TABLE → 1", async () => {
    const env = ["--connection-string", az.connectionString];
    await azcse("table", "put", "clitable3", "--in", write("e5.json", ENTITY), "--key", keyFile, "--encrypt", "Secret", "--create-table", ...env);
    expect((await azcse("table", "get", "clitable3", "cli", "nope", "--key", keyFile, ...env)).code).toBe(3);
    expect((await azcse("table", "get", "notable", "cli", "r1", "--key", keyFile, ...env)).code).toBe(3);
    const wrong = await azcse("table", "get", "clitable3", "cli", "r1", "--key", otherKeyFile, ...env);
    expect(wrong.code).toBe(2);
    await TableClient.fromConnectionString(az.connectionString, "clitable3", { allowInsecureConnection: true }).createEntity({ partitionKey: "cli", rowKey: "plain", A: "a" });
    const plain = await azcse("table", "get", "clitable3", "cli", "plain", "--key", keyFile, ...env);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toContain("ENCRYPTION_REQUIRED");
    const q = await azcse("table", "query", "clitable3", "--key", keyFile, ...env);
    expect(q.code).toBe(2);
    expect(q.stdout).toBe("");
    const port = await freePort();
    const dead = az.connectionString.replace(/TableEndpoint=[^;]+/, `TableEndpoint=http://127.0.0.1:${port}/devstoreaccount1`);
    const down = await azcse("table", "get", "clitable3", "cli", "r1", "--key", keyFile, "--connection-string", dead);
    expect(down.code).toBe(4);
    expect((await azcse("table", "get", "--key", keyFile, ...env)).code).toBe(1);
  });
});
