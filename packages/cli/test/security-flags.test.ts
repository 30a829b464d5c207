// Class "every bad caller value is a usage error naming the flag" (issue 14): each bad value of a flag or argument
// gives exit 1 and a message that names it, before anything is read, written or sent; nothing is left behind.
// (A flag naming a file that does not exist keeps the documented exit 3, NOT_FOUND — also naming the flag.)
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { azcse, snapshot } from "./security-helpers.js";

let dir: string;
let key: string;
const f = (n: string): string => path.join(dir, n);
// A syntactically valid account that is never contacted: every case must fail before any request.
const CS = ["--connection-string", "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=AAAA;BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;TableEndpoint=http://127.0.0.1:9/devstoreaccount1"];

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "azcse-sec-flags-"));
  key = f("k.jwk");
  expect((await azcse("key", "generate", "--alg", "A256KW", "--kid", "flag-key", "--out", key)).code).toBe(0);
  writeFileSync(f("plain.bin"), "x");
  writeFileSync(f("not-json.jwk"), "nope");
  writeFileSync(f("array.jwk"), "[]");
  writeFileSync(f("no-kid.jwk"), JSON.stringify({ kty: "oct", k: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }));
  writeFileSync(f("bad-kty.jwk"), JSON.stringify({ kty: "EC", kid: "x" }));
  writeFileSync(f("entity.json"), JSON.stringify({ PartitionKey: "p", RowKey: "r", A: "1" }));
  writeFileSync(f("not-entity.json"), "[1]");
  writeFileSync(f("entity-num.json"), JSON.stringify({ PartitionKey: "p", RowKey: "r", N: 1 }));
  mkdirSync(f("a-dir"));
  expect((await azcse("blob", "encrypt-file", "--in", f("plain.bin"), "--out", f("s.bin"), "--metadata-out", f("m.json"), "--key", key)).code).toBe(0);
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const enc = (...extra: string[]) => ["blob", "encrypt-file", "--in", f("plain.bin"), "--out", f("o1"), "--metadata-out", f("o2"), "--key", key, ...extra];
const dec = (...extra: string[]) => ["blob", "decrypt-file", "--in", f("s.bin"), "--metadata", f("m.json"), "--out", f("o3"), "--key", key, ...extra];
const without = (argv: string[], flag: string): string[] => {
  const i = argv.indexOf(flag);
  return [...argv.slice(0, i), ...argv.slice(i + 2)];
};

/** [description, argv, the flag or argument the message must name] */
const CASES: Array<[string, () => string[], string]> = [
  ["unknown flag", () => enc("--bogus"), "--bogus"],
  ["flag without its value", () => [...enc(), "--protocol"], "--protocol"],
  ["boolean flag given a value", () => dec("--allow-misordered-regions=yes"), "--allow-misordered-regions"],
  ["flag given twice", () => enc("--protocol", "2.0", "--protocol", "2.1"), "--protocol"],
  ["missing required flag", () => without(enc(), "--metadata-out"), "--metadata-out"],
  ["--protocol 3.0", () => enc("--protocol", "3.0"), "--protocol"],
  ["--protocol empty", () => enc("--protocol", ""), "--protocol"],
  ["--region-size without 2.1", () => enc("--region-size", "1024"), "--region-size"],
  ["--region-size 0", () => enc("--protocol", "2.1", "--region-size", "0"), "--region-size"],
  ["--region-size 15", () => enc("--protocol", "2.1", "--region-size", "15"), "--region-size"],
  ["--region-size 2 GiB", () => enc("--protocol", "2.1", "--region-size", String(2 ** 31)), "--region-size"],
  ["--region-size 1e3", () => enc("--protocol", "2.1", "--region-size", "1e3"), "--region-size"],
  ["--offset -1", () => dec("--offset", "-1"), "--offset"],
  ["--offset 1.5", () => dec("--offset", "1.5"), "--offset"],
  ["--offset 0x10", () => dec("--offset", "0x10"), "--offset"],
  ["--offset 2^64", () => dec("--offset", "18446744073709551616"), "--offset"],
  ["--count abc", () => dec("--count", "abc"), "--count"],
  ["--count empty", () => dec("--count", ""), "--count"],
  ["--blob-type AppendBlob", () => dec("--blob-type", "AppendBlob"), "--blob-type"],
  ["--allow-protocols 2.2", () => dec("--allow-protocols", "2.2"), "--allow-protocols"],
  ["--key missing file", () => ["blob", "decrypt-file", "--in", f("s.bin"), "--metadata", f("m.json"), "--out", f("o3"), "--key", f("nope.jwk")], "--key"],
  ["--key a directory", () => ["blob", "decrypt-file", "--in", f("s.bin"), "--metadata", f("m.json"), "--out", f("o3"), "--key", f("a-dir")], "--key"],
  ["--key not JSON", () => ["blob", "decrypt-file", "--in", f("s.bin"), "--metadata", f("m.json"), "--out", f("o3"), "--key", f("not-json.jwk")], "--key"],
  ["--key a JSON array", () => ["blob", "decrypt-file", "--in", f("s.bin"), "--metadata", f("m.json"), "--out", f("o3"), "--key", f("array.jwk")], "--key"],
  ["--key a JWK without kid", () => ["blob", "decrypt-file", "--in", f("s.bin"), "--metadata", f("m.json"), "--out", f("o3"), "--key", f("no-kid.jwk")], "--key"],
  ["--key a JWK of another kty", () => ["blob", "decrypt-file", "--in", f("s.bin"), "--metadata", f("m.json"), "--out", f("o3"), "--key", f("bad-kty.jwk")], "--key"],
  ["--key empty", () => ["blob", "decrypt-file", "--in", f("s.bin"), "--metadata", f("m.json"), "--out", f("o3"), "--key", ""], "--key"],
  ["--key twice with the same key id", () => ["blob", "decrypt-file", "--in", f("s.bin"), "--metadata", f("m.json"), "--out", f("o3"), "--key", key, "--key", key], "--key"],
  ["--in a directory", () => ["blob", "encrypt-file", "--in", f("a-dir"), "--out", f("o1"), "--metadata-out", f("o2"), "--key", key], "--in"],
  ["--in empty", () => ["blob", "encrypt-file", "--in", "", "--out", f("o1"), "--metadata-out", f("o2"), "--key", key], "--in"],
  ["--metadata a directory", () => ["blob", "decrypt-file", "--in", f("s.bin"), "--metadata", f("a-dir"), "--out", f("o3"), "--key", key], "--metadata"],
  ["--out a directory", () => ["blob", "decrypt-file", "--in", f("s.bin"), "--metadata", f("m.json"), "--out", f("a-dir"), "--key", key], "--out"],
  ["--out in a missing directory", () => ["blob", "decrypt-file", "--in", f("s.bin"), "--metadata", f("m.json"), "--out", f("missing/o"), "--key", key], "--out"],
  ["--out with a NUL", () => ["blob", "decrypt-file", "--in", f("s.bin"), "--metadata", f("m.json"), "--out", f("o\u0000x"), "--key", key], "--out"],
  ["stray argument", () => [...enc(), "extra"], "extra"],
  ["key generate --alg HS256", () => ["key", "generate", "--alg", "HS256", "--kid", "k", "--out", f("k9.jwk")], "--alg"],
  ["key generate --kid empty", () => ["key", "generate", "--alg", "A256KW", "--kid", "", "--out", f("k9.jwk")], "--kid"],
  ["key generate --kid with ESC", () => ["key", "generate", "--alg", "A256KW", "--kid", "a\u001b[2J", "--out", f("k9.jwk")], "--kid"],
  ["key generate --bits 1024", () => ["key", "generate", "--alg", "RSA-OAEP", "--kid", "k", "--out", f("k9.jwk"), "--bits", "1024"], "--bits"],
  ["key generate --bits 65536", () => ["key", "generate", "--alg", "RSA-OAEP", "--kid", "k", "--out", f("k9.jwk"), "--bits", "65536"], "--bits"],
  ["key generate --bits with AES", () => ["key", "generate", "--alg", "A256KW", "--kid", "k", "--out", f("k9.jwk"), "--bits", "2048"], "--bits"],
  ["queue encrypt-message --protocol 2.1", () => ["queue", "encrypt-message", "--in", f("plain.bin"), "--out", f("o4"), "--key", key, "--protocol", "2.1"], "--protocol"],
  ["queue encrypt-message --encoding hex", () => ["queue", "encrypt-message", "--in", f("plain.bin"), "--out", f("o4"), "--key", key, "--encoding", "hex"], "--encoding"],
  ["queue decrypt-message --allow-protocols ,", () => ["queue", "decrypt-message", "--in", f("plain.bin"), "--out", f("o4"), "--key", key, "--allow-protocols", ","], "--allow-protocols"],
  ["table encrypt-entity --encrypt empty", () => ["table", "encrypt-entity", "--in", f("entity.json"), "--out", f("o5"), "--key", key, "--encrypt", ""], "--encrypt"],
  ["table encrypt-entity --encrypt unknown property", () => ["table", "encrypt-entity", "--in", f("entity.json"), "--out", f("o5"), "--key", key, "--encrypt", "Nope"], "--encrypt"],
  ["table encrypt-entity --encrypt PartitionKey", () => ["table", "encrypt-entity", "--in", f("entity.json"), "--out", f("o5"), "--key", key, "--encrypt", "PartitionKey"], "--encrypt"],
  ["table encrypt-entity --encrypt the metadata property", () => ["table", "encrypt-entity", "--in", f("entity.json"), "--out", f("o5"), "--key", key, "--encrypt", "_ClientEncryptionMetadata1"], "--encrypt"],
  ["table encrypt-entity --encrypt a name twice", () => ["table", "encrypt-entity", "--in", f("entity.json"), "--out", f("o5"), "--key", key, "--encrypt", "A,A"], "--encrypt"],
  ["table encrypt-entity --encrypt a number property", () => ["table", "encrypt-entity", "--in", f("entity-num.json"), "--out", f("o5"), "--key", key, "--encrypt", "N"], "--encrypt"],
  ["table encrypt-entity --in not an entity", () => ["table", "encrypt-entity", "--in", f("not-entity.json"), "--out", f("o5"), "--key", key, "--encrypt", "A"], "--in"],
  // service commands: refused before any request
  ["--connection-string garbage", () => ["blob", "download", "c1c", "b", f("o6"), "--key", key, "--connection-string", "garbage"], "--connection-string"],
  ["--connection-string without account", () => ["queue", "receive", "q1q", "--key", key, "--connection-string", "Foo=bar"], "--connection-string"],
  ["--max-tries 0", () => ["blob", "download", "c1c", "b", f("o6"), "--key", key, ...CS, "--max-tries", "0"], "--max-tries"],
  ["--retry-delay-ms too large", () => ["queue", "receive", "q1q", "--key", key, ...CS, "--retry-delay-ms", "999999999"], "--retry-delay-ms"],
  ["blob upload --metadata without =", () => ["blob", "upload", "c1c", "b", f("plain.bin"), "--key", key, ...CS, "--metadata", "novalue"], "--metadata"],
  ["blob upload --metadata bad name", () => ["blob", "upload", "c1c", "b", f("plain.bin"), "--key", key, ...CS, "--metadata", "1bad=x"], "--metadata"],
  ["blob upload --metadata encryptiondata", () => ["blob", "upload", "c1c", "b", f("plain.bin"), "--key", key, ...CS, "--metadata", "EncryptionData=x"], "--metadata"],
  ["blob upload --metadata twice (case-insensitive)", () => ["blob", "upload", "c1c", "b", f("plain.bin"), "--key", key, ...CS, "--metadata", "a=1", "--metadata", "A=2"], "--metadata"],
  ["blob upload --metadata non-ASCII value", () => ["blob", "upload", "c1c", "b", f("plain.bin"), "--key", key, ...CS, "--metadata", "a=\u001b[2J"], "--metadata"],
  ["blob upload FILE a directory", () => ["blob", "upload", "c1c", "b", f("a-dir"), "--key", key, ...CS], "FILE"],
  ["blob download FILE a directory", () => ["blob", "download", "c1c", "b", f("a-dir"), "--key", key, ...CS], "FILE"],
  ["blob download CONTAINER invalid", () => ["blob", "download", "Bad_Container", "b", f("o6"), "--key", key, ...CS], "CONTAINER"],
  ["blob download CONTAINER empty", () => ["blob", "download", "", "b", f("o6"), "--key", key, ...CS], "CONTAINER"],
  ["blob inspect BLOB empty", () => ["blob", "inspect", "c1c", "", ...CS], "BLOB"],
  ["blob rotate-key --new-key not JSON", () => ["blob", "rotate-key", "c1c", "b", "--key", key, "--new-key", f("not-json.jwk"), ...CS], "--new-key"],
  ["queue receive --count 0", () => ["queue", "receive", "q1q", "--key", key, ...CS, "--count", "0"], "--count"],
  ["queue receive --count 33", () => ["queue", "receive", "q1q", "--key", key, ...CS, "--count", "33"], "--count"],
  ["queue receive QUEUE invalid", () => ["queue", "receive", "Q!", "--key", key, ...CS], "QUEUE"],
  ["queue receive --out a directory", () => ["queue", "receive", "q1q", "--key", key, ...CS, "--out", f("a-dir")], "--out"],
  ["queue send both --text and --in", () => ["queue", "send", "q1q", "--text", "a", "--in", f("plain.bin"), "--key", key, ...CS], "--text"],
  ["table get TABLE invalid", () => ["table", "get", "1table", "p", "r", "--key", key, ...CS], "TABLE"],
  ["table get PK with a slash", () => ["table", "get", "tbl", "a/b", "r", "--key", key, ...CS], "PK"],
  ["table get RK with a control character", () => ["table", "get", "tbl", "p", "r\u0007", "--key", key, ...CS], "RK"],
  ["table get --out a directory", () => ["table", "get", "tbl", "p", "r", "--key", key, ...CS, "--out", f("a-dir")], "--out"],
  ["table query --select empty", () => ["table", "query", "tbl", "--key", key, ...CS, "--select", ","], "--select"],
];

describe("bad caller values: exit 1 naming the flag, nothing left behind", () => {
  for (const [name, argv, flag] of CASES) {
    it(`${name} → exit 1 naming ${flag}`, async () => {
      const before = snapshot(dir);
      const r = await azcse(...argv());
      expect(r.code, r.err).toBe(1);
      expect(r.err).toContain(flag === "extra" ? "extra" : flag);
      expect(r.err.startsWith("azcse: ")).toBe(true);
      expect(snapshot(dir)).toEqual(before);
    });
  }

  it("a flag naming a missing input file keeps the documented exit 3 (NOT_FOUND) and names the flag", async () => {
    for (const [argv, flag] of [
      [["blob", "encrypt-file", "--in", f("missing"), "--out", f("o1"), "--metadata-out", f("o2"), "--key", key], "--in"],
      [["blob", "decrypt-file", "--in", f("s.bin"), "--metadata", f("missing.json"), "--out", f("o3"), "--key", key], "--metadata"],
      [["table", "decrypt-entity", "--in", f("missing.json"), "--out", f("o5"), "--key", key], "--in"],
    ] as const) {
      const before = snapshot(dir);
      const r = await azcse(...argv);
      expect(r.code, r.err).toBe(3);
      expect(r.err).toContain(`NOT_FOUND: ${flag}`);
      expect(snapshot(dir)).toEqual(before);
    }
  });
});

describe("values only the service can judge (Azurite)", () => {
  let azurite: AzuriteHandle;
  beforeAll(async () => {
    azurite = await startAzurite();
  }, 120_000);
  afterAll(async () => {
    await azurite?.stop();
  });

  it("table query with a --filter the service rejects (HTTP 400) → exit 1 naming --filter", async () => {
    const cs = ["--connection-string", azurite.connectionString];
    expect((await azcse("table", "put", "flags", "--in", f("entity.json"), "--key", key, "--encrypt", "A", "--create-table", ...cs)).code).toBe(0);
    const r = await azcse("table", "query", "flags", "--key", key, "--filter", "PartitionKey eq eq 'p'", ...cs);
    expect(r.code, r.err).toBe(1);
    expect(r.err).toContain("--filter");
    const ok = await azcse("table", "query", "flags", "--key", key, "--filter", "PartitionKey eq 'p'", ...cs);
    expect(ok.code, ok.err).toBe(0);
  });
});
