#!/usr/bin/env node
// Regenerates the .NET-written vector set in this folder (see README.md): the real .NET libraries
// (tools/dotnet-peer: Azure.Storage.Blobs 12.30.1, Azure.Storage.Queues 12.28.1, WindowsAzure.Storage 9.3.3)
// write blobs, queue messages and table entities into an embedded Azurite; this script captures exactly
// what was stored (with clients that have no encryption) plus the keys and plaintexts.
//   node tools/dotnet-sdk-vectors/generate.mjs            (needs the .NET 10 SDK; replaces the set)
import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { assertDotnetPeer, runDotnetBatch, startAzurite, DOTNET_PEER_VERSIONS } from "../testkit/index.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const req = (pkg) => createRequire(path.join(root, "packages", pkg, "package.json"));
const { BlobServiceClient } = req("storage-blob")("@azure/storage-blob");
const { QueueServiceClient } = req("storage-queue")("@azure/storage-queue");
const { TableClient } = req("data-tables")("@azure/data-tables");

const sha256 = (b) => createHash("sha256").update(b).digest("hex");
/** The plaintext generator shared with the Python set: SHA-256(seed || BE64(i)) blocks, cut to size. */
function generate(seed, size) {
  const out = Buffer.alloc(size);
  for (let i = 0, off = 0; off < size; i++, off += 32) {
    const ctr = Buffer.alloc(8);
    ctr.writeBigUInt64BE(BigInt(i));
    createHash("sha256").update(Buffer.concat([Buffer.from(seed, "utf8"), ctr])).digest().copy(out, off);
  }
  return out;
}

assertDotnetPeer();
const work = mkdtempSync(path.join(tmpdir(), "azcse-dotnet-vectors-"));
const az = await startAzurite();
try {
  // Test keys (committed on purpose: they protect nothing). Ids shaped like versioned Key Vault key ids.
  const rsaJwk = { ...generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" }), kid: "https://azcse-vectors.vault.azure.net/keys/dotnet-rsa/3f2e1d0c9b8a79685746352413021f0e", alg: "RSA-OAEP" };
  const aesJwk = { kty: "oct", kid: "https://azcse-vectors.vault.azure.net/keys/dotnet-aes/a1b2c3d4e5f60718293a4b5c6d7e8f90", alg: "A256KW", k: randomBytes(32).toString("base64url") };
  const keyFiles = { rsa: path.join(work, "rsa.jwk"), aes: path.join(work, "aes.jwk") };
  writeFileSync(keyFiles.rsa, JSON.stringify(rsaJwk));
  writeFileSync(keyFiles.aes, JSON.stringify(aesJwk));
  const kidOf = { rsa: rsaJwk.kid, aes: aesJwk.kid };

  for (const d of ["blob", "table"]) {
    rmSync(path.join(here, d), { recursive: true, force: true });
    mkdirSync(path.join(here, d));
  }
  const container = "dotnet-vectors";
  const cases = [];
  const commands = [];
  let k = 0;
  const nextKey = () => (k++ % 2 === 0 ? "rsa" : "aes");

  const blobPlan = [
    ...[0, 1, 16, 17, 1000, 4 * 1024 * 1024 + 1].map((size) => ({ library: "v12", protocol: "2.0", size, type: "block" })),
    ...[0, 15, 16, 17, 1000].map((size) => ({ library: "v12", protocol: "1.0", size, type: "block" })),
    ...[0, 17, 1000].map((size) => ({ library: "legacy", protocol: "1.0", size, type: "block" })),
    { library: "legacy", protocol: "1.0", size: 1024, type: "page" },
  ];
  for (const b of blobPlan) {
    const key = nextKey();
    const id = `blob-${b.library}-v${b.protocol.replace(".", "")}-${key === "rsa" ? "rsaoaep" : "a256kw"}-${String(b.size).padStart(7, "0")}${b.type === "page" ? "-pageblob" : ""}`;
    const seed = `dotnet-${b.size}`;
    const p = generate(seed, b.size);
    const file = path.join(work, `${id}.in`);
    writeFileSync(file, p);
    cases.push({ id, kind: "blob", library: b.library, protocol: b.protocol, blob_type: b.type === "page" ? "PageBlob" : "BlockBlob", kek_kid: kidOf[key], plaintext: { size: b.size, sha256: sha256(p), generator: { algorithm: "sha256-counter", seed } } });
    commands.push(["blob-put", "--container", container, "--blob", id, "--in", file, "--protocol", b.protocol, "--library", b.library, "--blob-type", b.type, "--key", keyFiles[key]]);
  }

  const texts = [
    { name: "special", text: "a+b/c=d==+//== ?&" },
    { name: "unicode", text: "émoji 😀 music 𝄞 中文 \"quoted\" \\" },
  ];
  const queuePlan = [
    { library: "v12", protocol: "2.0", encoding: "none" },
    { library: "v12", protocol: "1.0", encoding: "none" },
    { library: "legacy", protocol: "1.0", encoding: "none" },
    { library: "legacy", protocol: "1.0", encoding: "base64" },
  ];
  for (const q of queuePlan) {
    for (const t of texts) {
      const key = nextKey();
      const id = `queue-${q.library}-v${q.protocol.replace(".", "")}-${q.encoding}-${key === "rsa" ? "rsaoaep" : "a256kw"}-${t.name}`;
      const file = path.join(work, `${id}.txt`);
      writeFileSync(file, t.text, "utf8");
      cases.push({ id, kind: "queue", library: q.library, protocol: q.protocol, encoding: q.encoding, kek_kid: kidOf[key], plaintext: { text: t.text } });
      commands.push(["queue-put", "--queue", id.toLowerCase().slice(0, 63), "--in", file, "--protocol", q.protocol, "--encoding", q.encoding, "--library", q.library, "--key", keyFiles[key]]);
    }
  }

  const table = "dotnetvectors";
  for (const key of ["rsa", "aes"]) {
    const id = `table-legacy-v10-${key === "rsa" ? "rsaoaep" : "a256kw"}`;
    const entity = { PartitionKey: "pý 中", RowKey: `${key} 😀`, Name: "Zoë 😀", Secret: "s3cr3t+/==", Empty: "", Plain: "visible", N: 7, "L@odata.type": "Edm.Int64", L: "9007199254740993" };
    const file = path.join(work, `${id}.json`);
    writeFileSync(file, JSON.stringify(entity));
    cases.push({ id, kind: "table", library: "legacy", protocol: "1.0", kek_kid: kidOf[key], partition_key: entity.PartitionKey, row_key: entity.RowKey, input: entity, encrypt: ["Name", "Secret", "Empty"] });
    commands.push(["table-put", "--table", table, "--in", file, "--encrypt", "Name,Secret,Empty", "--key", keyFiles[key]]);
  }

  const results = await runDotnetBatch(commands, { connectionString: az.connectionString });
  results.forEach((r, i) => {
    if (r.exit !== 0) throw new Error(`${commands[i].join(" ")} → exit ${r.exit}: ${r.error}`);
  });

  const blobs = BlobServiceClient.fromConnectionString(az.connectionString).getContainerClient(container);
  const queues = QueueServiceClient.fromConnectionString(az.connectionString);
  const tables = TableClient.fromConnectionString(az.connectionString, table, { allowInsecureConnection: true });
  for (const c of cases) {
    if (c.kind === "blob") {
      const bc = blobs.getBlobClient(c.id);
      const props = await bc.getProperties();
      const stored = props.contentLength ? await bc.downloadToBuffer() : Buffer.alloc(0);
      const rel = `blob/${c.id}.stored.bin`;
      writeFileSync(path.join(here, rel), stored);
      c.stored = { file: rel, size: stored.length, sha256: sha256(stored), blob_type: props.blobType, metadata: props.metadata };
    } else if (c.kind === "queue") {
      const peeked = await queues.getQueueClient(c.id.toLowerCase().slice(0, 63)).peekMessages();
      c.stored = { message_text: peeked.peekedMessageItems[0].messageText };
    } else {
      const e = await tables.getEntity(c.partition_key, c.row_key, { disableTypeConversion: true });
      const props = {};
      for (const [name, v] of Object.entries(e)) {
        if (["etag", "timestamp", "odata.metadata", "partitionKey", "rowKey"].includes(name)) continue;
        props[name] = v;
      }
      const rel = `table/${c.id}.stored.json`;
      writeFileSync(path.join(here, rel), JSON.stringify(props, null, 1) + "\n");
      c.stored = { file: rel, properties: props };
    }
  }

  const dotnet = spawnSync("dotnet", ["--version"], { encoding: "utf8" }).stdout.trim();
  const azuriteVersion = JSON.parse(readFileSync(createRequire(path.join(root, "package.json")).resolve("azurite/package.json"), "utf8")).version;
  const counts = {};
  for (const c of cases) counts[c.kind] = (counts[c.kind] ?? 0) + 1;
  const manifest = {
    format: "azure-storage-cse-dotnet-vectors",
    format_version: 1,
    generated_at: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    generated_by: { "dotnet-sdk": dotnet, packages: DOTNET_PEER_VERSIONS, azurite: azuriteVersion, peer: "tools/dotnet-peer" },
    conventions: {
      paths: "file paths are relative to this folder",
      plaintext_generator: "sha256-counter: SHA-256(utf8(seed) || uint64_be(i)) for i = 0, 1, ..., concatenated and cut to size (as in tools/python-sdk-vectors)",
      keks: "keks[].jwk are private JWKs as `azcse key generate` writes them (test keys, committed on purpose)",
    },
    counts,
    keks: [
      { kid: rsaJwk.kid, algorithm: "RSA-OAEP", jwk: rsaJwk },
      { kid: aesJwk.kid, algorithm: "A256KW", jwk: aesJwk },
    ],
    cases,
  };
  writeFileSync(path.join(here, "manifest.json"), JSON.stringify(manifest, null, 1) + "\n");
  console.log(`wrote ${cases.length} cases (${JSON.stringify(counts)}) to ${path.relative(root, here)}`);
} finally {
  await az.stop();
  rmSync(work, { recursive: true, force: true });
}
