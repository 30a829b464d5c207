// The official .NET libraries and the browser, live, through one Azurite: tools/dotnet-peer drives
// Azure.Storage.Blobs 12.30.1 / Azure.Storage.Queues 12.28.1 ("v12") and WindowsAzure.Storage 9.3.3 ("legacy",
// protocol 1.0 blob, queue and table); the example page in headless Debian Chromium (Web Crypto, the official
// SDKs' browser builds, SAS) reads what .NET writes and writes what .NET reads. Plaintexts are seeded random
// (patternBytes for blobs, generated identically in the page; seeded text for messages and entities) and compared
// byte for byte. Never skipped: assertDotnetPeer() fails with the command that installs the .NET 10 SDK.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { QueueClient } from "@azure/storage-queue";
import type { TableClient } from "@azure/data-tables";
import { AesKeyWrapKey, RsaKey } from "@azure-cse/core-envelope";
import { METADATA1 } from "@azure-cse/data-tables";
import { assertDotnetPeer, runDotnetBatch, type DotnetPeerResult } from "@azure-cse/testkit";
import { seededRandom } from "@azure-cse/testkit/random";
import { patternBytes } from "../src/pattern.js";
import { startBrowserHarness, type BrowserHarness } from "./harness.js";

const MiB = 1024 * 1024;
const KiB = 1024;
// Key ids shaped like versioned Key Vault key ids; RSA-OAEP (SHA-1, .NET's default) and A256KW.
const RSA_KID = "https://azcse-browser.vault.azure.net/keys/cse-rsa/3c1f0a2d9e8b4a5c8d7e6f5a4b3c2d1e";
const AES_KID = "https://azcse-browser.vault.azure.net/keys/cse-aes/9a8b7c6d5e4f30211203f4e5d6c7b8a9";
const rsa = RsaKey.generate(RSA_KID, 2048, "RSA-OAEP");
const aes = AesKeyWrapKey.generate(AES_KID);

let harness: BrowserHarness;
let page: Page;
let dir: string;
let rsaFile: string;
let aesFile: string;

/** Seeded random text: ASCII (with `+`, quotes and backslashes), Latin-1, CJK and astral characters, `bytes` of UTF-8 at least. */
function seededText(seed: string, bytes: number): string {
  const alphabet = [..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 +/=\"\\{}<>&'\n\t", "é", "ü", "ß", "中", "文", "😀", "🔐"];
  const rand = seededRandom(seed);
  let out = "";
  while (Buffer.byteLength(out) < bytes) for (const b of rand(256)) out += alphabet[b % alphabet.length];
  return out;
}

function batch(commands: string[][]): Promise<DotnetPeerResult[]> {
  return runDotnetBatch(commands, { connectionString: harness.azurite.connectionString, timeoutMs: 600_000 });
}
const ok = (results: DotnetPeerResult[]) => results.map((r) => [r.exit, r.error]);
const file = (name: string) => path.join(dir, name);
const comparePattern = (name: string, size: number, seed: number, range?: { offset: number; count?: number }) =>
  page.evaluate(([n, s, d, r]) => window.azcse.comparePattern(n, s, d, r), [name, size, seed, range] as const);
/** Whether a stored JSON text has v12's `\u002B` escape of `+` (no other writer uses it). */
const hasEscapedPlus = (json: string) => json.includes("\\u002B");

beforeAll(async () => {
  assertDotnetPeer();
  harness = await startBrowserHarness({ containerPrefix: "dotnet" });
  page = harness.page;
  expect(harness.pageErrors).toEqual([]);
  dir = mkdtempSync(path.join(tmpdir(), "azcse-browser-dotnet-"));
  rsaFile = file("rsa.jwk");
  aesFile = file("aes.jwk");
  writeFileSync(rsaFile, JSON.stringify(rsa.toJwk()));
  writeFileSync(aesFile, JSON.stringify(aes.toJwk()));
  // The page holds the same two keys (non-extractable CryptoKeys); the AES key writes.
  const imported = await page.evaluate((jwks) => window.azcse.importKeys(jwks, jwks[0]!.kid as string), [aes.toJwk(), rsa.toJwk()]);
  expect(imported.map((k) => [k.kid, k.algorithm])).toEqual([
    [AES_KID, "A256KW"],
    [RSA_KID, "RSA-OAEP"],
  ]);
}, 600_000);

afterAll(async () => {
  await harness?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe(".NET writes → the browser reads", () => {
  // v12 2.0: empty, one block, one region + 1 (two regions), three regions; v12 1.0 and legacy 1.0 (AES-CBC) block blobs.
  const blobs = [
    { name: "net-v12-2.0-0", library: "v12", protocol: "2.0", size: 0, seed: 101, kid: AES_KID },
    { name: "net-v12-2.0-17", library: "v12", protocol: "2.0", size: 17, seed: 102, kid: RSA_KID },
    { name: "net-v12-2.0-4MiB+1", library: "v12", protocol: "2.0", size: 4 * MiB + 1, seed: 103, kid: RSA_KID },
    { name: "net-v12-2.0-8MiB+17", library: "v12", protocol: "2.0", size: 8 * MiB + 17, seed: 104, kid: AES_KID },
    { name: "net-v12-1.0", library: "v12", protocol: "1.0", size: 300_001, seed: 106, kid: AES_KID },
    { name: "net-legacy-1.0", library: "legacy", protocol: "1.0", size: MiB + 5, seed: 105, kid: RSA_KID },
  ] as const;
  const messages = [
    { library: "v12", protocol: "2.0", text: seededText("v12 message", 30 * KiB), kid: AES_KID },
    { library: "v12", protocol: "2.0", text: seededText("v12 short", 40), kid: RSA_KID },
    { library: "legacy", protocol: "1.0", text: seededText("legacy message", 30 * KiB), kid: RSA_KID },
    { library: "v12", protocol: "1.0", text: seededText("v12 1.0 message", 20 * KiB), kid: AES_KID },
  ] as const;
  const pk = "net pk é";
  const entity = { PartitionKey: pk, RowKey: "net-legacy 😀", Secret: seededText("legacy entity secret", 2000), Empty: "", Note: seededText("legacy note", 64), Plain: "visible", N: 42 };
  let queue: { queue: QueueClient; url: string };
  let table: { table: TableClient; endpoint: string; sas: string };
  let puts: DotnetPeerResult[];

  beforeAll(async () => {
    queue = await harness.newQueue("netq");
    table = await harness.newTable("nett");
    const commands: string[][] = [];
    for (const b of blobs) {
      writeFileSync(file(`${b.name}.in`), patternBytes(b.size, b.seed));
      commands.push(["blob-put", "--container", harness.container.containerName, "--blob", b.name, "--in", file(`${b.name}.in`), "--protocol", b.protocol, "--library", b.library, "--key", b.kid === AES_KID ? aesFile : rsaFile]);
    }
    messages.forEach((m, i) => {
      writeFileSync(file(`m${i}.txt`), m.text);
      // v12 refuses Base64 message encoding with encryption (docs/format.md §9): "none" for every writer.
      commands.push(["queue-put", "--queue", queue.queue.name, "--in", file(`m${i}.txt`), "--protocol", m.protocol, "--encoding", "none", "--library", m.library, "--key", m.kid === AES_KID ? aesFile : rsaFile]);
    });
    writeFileSync(file("entity.json"), JSON.stringify(entity));
    commands.push(["table-put", "--table", table.table.tableName, "--in", file("entity.json"), "--encrypt", "Secret,Empty,Note", "--key", aesFile]);
    puts = await batch(commands);
  }, 600_000);

  it("every .NET put succeeded; what .NET stored is the protocol asked for, with the key asked for", async () => {
    expect(ok(puts)).toEqual(puts.map(() => [0, null]));
    for (const [i, b] of blobs.entries()) {
      const meta = (puts[i]!.result as { metadata: Record<string, string> }).metadata;
      const data = JSON.parse(meta.encryptiondata!);
      expect([b.name, data.EncryptionAgent.Protocol, data.WrappedContentKey.KeyId]).toEqual([b.name, b.protocol, b.kid]);
    }
  });

  it("v12 2.0 blobs (0 B, 17 B, 4 MiB + 1, 8 MiB + 17; RSA-OAEP and A256KW) and 1.0 blobs from v12 and legacy decrypt in the page, byte for byte", async () => {
    for (const b of blobs) expect([b.name, await comparePattern(b.name, b.size, b.seed)]).toEqual([b.name, { size: b.size, mismatchAt: -1 }]);
  });

  it("ranged reads in the page: across the 4 MiB region edge (v12 2.0) and across CBC blocks (v12 and legacy 1.0)", async () => {
    const ranges: Array<[string, number, number | undefined]> = [
      ["net-v12-2.0-4MiB+1", 4 * MiB - 5, 10],
      ["net-v12-2.0-4MiB+1", 4 * MiB, 1],
      ["net-v12-2.0-8MiB+17", 4 * MiB - 100, 4 * MiB + 200],
      ["net-v12-2.0-8MiB+17", 8 * MiB - 3, undefined],
      ["net-v12-2.0-17", 15, 2],
      ["net-v12-1.0", 65_530, 70_000],
      ["net-legacy-1.0", 15, 2],
      ["net-legacy-1.0", 65_530, 70_000],
      ["net-legacy-1.0", MiB - 7, undefined],
    ];
    for (const [name, offset, count] of ranges) {
      const b = blobs.find((x) => x.name === name)!;
      const want = Math.min(b.size, count === undefined ? b.size : offset + count) - offset;
      const range = count === undefined ? { offset } : { offset, count };
      expect([name, offset, count, await comparePattern(name, b.size, b.seed, range)]).toEqual([name, offset, count, { size: want, mismatchAt: -1 }]);
    }
  });

  it("v12 2.0 and 1.0 (`+` escaped as \\u002B) and legacy 1.0 queue messages decrypt in the page", async () => {
    // The raw envelopes as .NET stored them: v12's System.Text.Json escapes every `+`; legacy's Json.NET does not.
    const peeked = (await new QueueClient(queue.url).peekMessages({ numberOfMessages: 32 })).peekedMessageItems.map((m) => m.messageText);
    expect(peeked.length).toBe(4);
    expect(peeked.map((t) => [JSON.parse(t).EncryptionData.EncryptionAgent.Protocol, hasEscapedPlus(t)])).toEqual([
      ["2.0", true],
      ["2.0", true],
      ["1.0", false],
      ["1.0", true],
    ]);
    const got = await page.evaluate((u) => window.azcse.queueReceive(u), queue.url);
    expect(got.code).toBe("none");
    const pairs = got.texts.map((t, i) => [got.protocols[i], t]);
    expect(pairs.sort()).toEqual(messages.map((m) => [m.protocol, m.text]).sort());
    expect((await queue.queue.peekMessages()).peekedMessageItems).toEqual([]);
  });

  it("a legacy .NET table entity (1.0, A256KW) decrypts in the page", async () => {
    const raw = await table.table.getEntity<Record<string, unknown>>(pk, entity.RowKey);
    expect(JSON.parse(raw[METADATA1] as string).EncryptionAgent).toEqual({ Protocol: "1.0", EncryptionAlgorithm: "AES_CBC_256" });
    expect(raw.Secret).toBeInstanceOf(Uint8Array);
    const got = await page.evaluate(([e, s, t, p, r]) => window.azcse.tableGet(e, s, t, p, r), [table.endpoint, table.sas, table.table.tableName, pk, entity.RowKey] as const);
    expect(got.code).toBe("none");
    expect(got.entity).toMatchObject({ partitionKey: pk, rowKey: entity.RowKey, Secret: entity.Secret, Empty: "", Note: entity.Note, Plain: "visible", N: 42 });
  });
});

describe("the browser writes → .NET reads", () => {
  const v20 = { name: "web-2.0", size: 8 * MiB + 17, seed: 201 };
  const v21 = { name: "web-2.1", size: 300_001, seed: 202 };
  const text = seededText("browser message", 30 * KiB);
  const pk = "web pk ü";
  const entity = { partitionKey: pk, rowKey: "from-browser 😀", Secret: seededText("browser entity secret", 3000), Empty: "", Plain: "visible" };
  let queue: { queue: QueueClient; url: string };
  let table: { table: TableClient; endpoint: string; sas: string };
  let gets: DotnetPeerResult[];
  const commands: Array<{ label: string; args: string[]; out: string; want: () => Buffer }> = [];

  beforeAll(async () => {
    queue = await harness.newQueue("webq");
    table = await harness.newTable("webt");
    // The page writes with the AES key (2.0 blob, 2.0 message) and with the RSA key (2.1 blob, the entity).
    const up20 = await page.evaluate(([n, s, d]) => window.azcse.uploadPattern(n, s, d), [v20.name, v20.size, v20.seed] as const);
    expect(up20.regions).toBe(3);
    await page.evaluate((jwks) => window.azcse.importKeys(jwks, jwks[1]!.kid as string), [aes.toJwk(), rsa.toJwk()]);
    const up21 = await page.evaluate(([n, s, d]) => window.azcse.uploadPattern(n, s, d, { encryptionVersion: "2.1", regionSize: 65536, asStream: true }), [v21.name, v21.size, v21.seed] as const);
    expect(up21.regions).toBe(5);
    await page.evaluate(([e, s, t, x]) => window.azcse.tableUpsert(e, s, t, [x], ["Secret", "Empty"]), [table.endpoint, table.sas, table.table.tableName, entity] as const);
    await page.evaluate((jwks) => window.azcse.importKeys(jwks, jwks[0]!.kid as string), [aes.toJwk(), rsa.toJwk()]);
    await page.evaluate(([u, m]) => window.azcse.queueSend(u, m), [queue.url, [text]] as [string, string[]]);

    const keys = ["--key", aesFile, "--key", rsaFile];
    const blob = (label: string, b: { name: string; size: number; seed: number }, range?: [number, number]) => {
      const out = file(`${label.replace(/\W+/g, "_")}.out`);
      const p = Buffer.from(patternBytes(b.size, b.seed));
      commands.push({
        label,
        out,
        args: ["blob-get", "--container", harness.container.containerName, "--blob", b.name, "--out", out, ...keys, ...(range ? ["--offset", String(range[0]), "--count", String(range[1])] : [])],
        want: () => (range ? p.subarray(range[0], range[0] + range[1]) : p),
      });
    };
    blob("v12 reads the browser's 2.0 blob", v20);
    blob("v12 reads a range of the browser's 2.0 blob across the region 1/2 edge", v20, [8 * MiB - 9, 20]);
    blob("v12 reads the browser's 2.1 blob (64 KiB regions)", v21);
    blob("v12 reads a range of the browser's 2.1 blob across a region edge", v21, [64 * KiB - 3, 64 * KiB + 6]);
    commands.push({ label: "v12 reads the browser's 2.0 message (encoding none)", out: file("msg.out"), args: ["queue-get", "--queue", queue.queue.name, "--out", file("msg.out"), "--encoding", "none", ...keys], want: () => Buffer.from(text, "utf8") });
    commands.push({ label: "legacy reads the browser's table entity", out: file("entity.out.json"), args: ["table-get", "--table", table.table.tableName, "--pk", pk, "--rk", entity.rowKey, "--out", file("entity.out.json"), ...keys], want: () => Buffer.alloc(0) });
    gets = await batch(commands.map((c) => c.args));
  }, 600_000);

  it("v12 reads the browser's 2.0 and 2.1 blobs (whole and across region edges) and its 2.0 message, byte for byte", () => {
    expect(commands.map((c, i) => [c.label, gets[i]!.exit, gets[i]!.error])).toEqual(commands.map((c) => [c.label, 0, null]));
    for (const c of commands.filter((x) => !x.label.includes("table"))) {
      const got = readFileSync(c.out);
      expect([c.label, got.length, Buffer.compare(got, c.want())]).toEqual([c.label, c.want().length, 0]);
    }
  });

  it("legacy .NET reads the browser-written table entity (1.0, RSA-OAEP)", async () => {
    const raw = await table.table.getEntity<Record<string, unknown>>(pk, entity.rowKey);
    expect(JSON.parse(raw[METADATA1] as string).WrappedContentKey.KeyId).toBe(RSA_KID);
    const i = commands.findIndex((c) => c.label.includes("table"));
    expect([gets[i]!.exit, gets[i]!.error]).toEqual([0, null]);
    const got = JSON.parse(readFileSync(commands[i]!.out, "utf8")) as Record<string, unknown>;
    expect(got).toMatchObject({ PartitionKey: pk, RowKey: entity.rowKey, Secret: entity.Secret, Empty: "", Plain: "visible" });
  });
});
