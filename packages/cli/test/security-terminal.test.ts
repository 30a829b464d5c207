// Class "stored values are escaped before they reach a terminal" (issue 14): key ids, protocols, writer names,
// property names and values, message texts and blob names from listings come from stored data. No CLI message or
// human-readable output holds a raw control character (C0, DEL, C1, ESC sequences, \r, bidi overrides); JSON
// output stays valid JSON with the same values.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlobServiceClient } from "@azure/storage-blob";
import { QueueClient } from "@azure/storage-queue";
import { TableClient } from "@azure/data-tables";
import { startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { terminalSafe } from "../src/main.js";
import { renderBar } from "../src/ops/progress.js";
import { escapeControl, escapeLines, escapeMessage, safeJson } from "../src/terminal.js";
import { azcse, hasRawControl } from "./security-helpers.js";

/** EncryptionData as parsed JSON: top-level sections are objects to edit. */
interface Meta {
  EncryptionAgent: Record<string, unknown>;
  WrappedContentKey: Record<string, unknown>;
  EncryptedRegionInfo: Record<string, unknown>;
  [section: string]: unknown;
}
let metaFiles = 0;

const HOSTILE = "evil\u001b[2J\u001b]0;pwned\u0007\r\nazcse: fake line\u0000\u007f\u009b31m\u0085\u202e\u2028end";
const ALL_CONTROLS = Array.from({ length: 0xa0 }, (_, i) => String.fromCharCode(i)).join("") + "\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069";

let dir: string;
let key: string;
const f = (n: string): string => path.join(dir, n);

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "azcse-sec-terminal-"));
  key = f("k.jwk");
  expect((await azcse("key", "generate", "--alg", "A256KW", "--kid", "term-key", "--out", key)).code).toBe(0);
  writeFileSync(f("plain.bin"), "hello");
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** JSON with every non-ASCII character as a \u escape (what an HTTP header can carry). */
function asciiJson(v: unknown): string {
  return JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** No raw control anywhere, and each stderr line is one "azcse: " message. */
function expectSafe(r: { out: string; err: string }, messagesOnly = true): void {
  expect(hasRawControl(r.out), JSON.stringify(r.out)).toBe(false);
  expect(hasRawControl(r.err), JSON.stringify(r.err)).toBe(false);
  if (messagesOnly) for (const line of r.err.split("\n").filter(Boolean)) expect(line.startsWith("azcse: "), line).toBe(true);
}

describe("the escaping function", () => {
  it("escapes every C0, DEL, C1, separator and bidi character, visibly", () => {
    const e = escapeControl(ALL_CONTROLS);
    expect(hasRawControl(e)).toBe(false);
    expect(e).not.toMatch(/[\n\u061c\u200e\u200f]/);
    expect(escapeControl("\u001b[2J\r\n")).toBe("\\u001b[2J\\r\\n");
    expect(escapeControl("plain text, ünïcödé and emoji 🙂 stay")).toBe("plain text, ünïcödé and emoji 🙂 stay");
  });

  it("output lines keep their newlines; a message keeps only its trailing newline", () => {
    expect(escapeLines("a\u001bb\nc\r\n")).toBe("a\\u001bb\nc\\r\n");
    expect(escapeMessage("azcse: x\ny\n")).toBe("azcse: x\\ny\n");
  });

  it("JSON stays valid JSON with the same value", () => {
    const value = { [HOSTILE]: [HOSTILE, ALL_CONTROLS], n: 1 };
    for (const indent of [undefined, 2]) {
      const text = safeJson(value, indent);
      expect(hasRawControl(text)).toBe(false);
      expect(JSON.parse(text)).toEqual(value);
      expect(JSON.parse(escapeLines(JSON.stringify(value, null, indent)))).toEqual(value);
    }
  });

  it("the print boundary escapes every stdout and stderr write; only the progress bar's own frames pass raw", () => {
    const seen: string[] = [];
    const io = terminalSafe({ stdout: (s) => seen.push(s), stderr: (s) => seen.push(s) });
    io.stdout(`line ${HOSTILE}\n`);
    io.stderr(`azcse: ${HOSTILE}\n`);
    io.stderr(`\r${HOSTILE}\u001b[K`);
    io.stderr("\r[####....] 50% 1/2 objects  1.00 KiB/2.00 KiB  ETA 1s\u001b[K");
    io.stderr("\r\u001b[K");
    expect(seen.slice(0, 3).every((s) => !hasRawControl(s.replace(/\n$/, "")))).toBe(true);
    expect(seen[3]).toBe("\r[####....] 50% 1/2 objects  1.00 KiB/2.00 KiB  ETA 1s\u001b[K");
    expect(seen[4]).toBe("\r\u001b[K");
    // the frames the operations progress bar really draws pass unchanged
    const frame = `\r${renderBar({ objectsDone: 7, objectsTotal: 20, bytesDone: 3 << 20, bytesTotal: 10 << 20, skipped: 1, failed: 2, elapsedMs: 5000 })}\u001b[K`;
    io.stderr(frame);
    expect(seen[5]).toBe(frame);
  });
});

describe("offline commands escape stored values in messages", () => {
  const metaWith = (change: (d: Meta) => void): string => {
    const meta = JSON.parse(readFileSync(f("v2.meta.json"), "utf8")) as { encryptiondata: string };
    const data = JSON.parse(meta.encryptiondata) as Meta;
    change(data);
    const file = f(`hostile-${++metaFiles}.json`);
    writeFileSync(file, JSON.stringify({ encryptiondata: JSON.stringify(data) }));
    return file;
  };
  beforeAll(async () => {
    expect((await azcse("blob", "encrypt-file", "--in", f("plain.bin"), "--out", f("v2.stored"), "--metadata-out", f("v2.meta.json"), "--key", key)).code).toBe(0);
  });

  it("a hostile KeyId (no such key) in decrypt-file: exit 2, message escaped, the id still recognisable", async () => {
    const r = await azcse("blob", "decrypt-file", "--in", f("v2.stored"), "--metadata", metaWith((d) => (d.WrappedContentKey.KeyId = HOSTILE)), "--out", f("o"), "--key", key);
    expect(r.code).toBe(2);
    expectSafe(r);
    expect(r.err).toContain("evil\\u001b[2J");
    expect(r.err.split("\n").filter(Boolean)).toHaveLength(1);
  });

  it("a hostile Protocol, algorithm and metadata key: exit 2, escaped", async () => {
    for (const change of [
      (d: Meta) => (d.EncryptionAgent.Protocol = HOSTILE),
      (d: Meta) => (d.EncryptionAgent.EncryptionAlgorithm = HOSTILE),
      (d: Meta) => (d.WrappedContentKey.Algorithm = HOSTILE),
      (d: Meta) => ((d as Record<string, unknown>)[HOSTILE] = HOSTILE),
    ]) {
      const r = await azcse("blob", "decrypt-file", "--in", f("v2.stored"), "--metadata", metaWith(change), "--out", f("o"), "--key", key);
      expect(r.code === 0 || r.code === 2).toBe(true);
      expectSafe(r);
    }
  });

  it("a hostile metadata file name and caller values in usage errors are escaped too", async () => {
    const r = await azcse("blob", "decrypt-file", "--in", f(`missing${HOSTILE.replace("\u0000", "")}`), "--metadata", f("v2.meta.json"), "--out", f("o"), "--key", key);
    expect(r.code).toBe(3);
    expectSafe(r);
    const u = await azcse("blob", "encrypt-file", "--in", f("plain.bin"), "--out", f("x"), "--metadata-out", f("y"), "--key", key, "--protocol", HOSTILE);
    expect(u.code).toBe(1);
    expectSafe(u);
  });

  it("table decrypt-entity: hostile property names and values print as valid JSON without raw controls", async () => {
    writeFileSync(f("entity.json"), JSON.stringify({ PartitionKey: "p", RowKey: "r", Secret: HOSTILE, [`Name${HOSTILE}`]: HOSTILE }));
    expect((await azcse("table", "encrypt-entity", "--in", f("entity.json"), "--out", f("wire.json"), "--key", key, "--encrypt", "Secret")).code).toBe(0);
    const r = await azcse("table", "decrypt-entity", "--in", f("wire.json"), "--out", f("plain.json"), "--key", key);
    expect(r.code, r.err).toBe(0);
    expectSafe(r);
    expect(JSON.parse(readFileSync(f("plain.json"), "utf8"))).toMatchObject({ Secret: HOSTILE });
  });
});

describe("service commands escape stored values (Azurite)", () => {
  let azurite: AzuriteHandle;
  let cs: string[];
  beforeAll(async () => {
    azurite = await startAzurite();
    cs = ["--connection-string", azurite.connectionString];
  }, 120_000);
  afterAll(async () => {
    await azurite?.stop();
  });

  it("blob inspect / download of a blob whose metadata names a hostile KeyId and writer: JSON valid, nothing raw", async () => {
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient("term");
    await container.create();
    const meta = JSON.parse(readFileSync(f("v2.meta.json"), "utf8")) as { encryptiondata: string };
    const data = JSON.parse(meta.encryptiondata) as Meta;
    data.WrappedContentKey.KeyId = HOSTILE;
    data.KeyWrappingMetadata = { EncryptionLibrary: HOSTILE };
    const body = readFileSync(f("v2.stored"));
    // Metadata travels in an HTTP header: ASCII only, so the JSON carries the controls as \u escapes.
    await container.getBlockBlobClient("hostile").upload(body, body.length, { metadata: { encryptiondata: asciiJson(data) } });
    const info = await azcse("blob", "inspect", "term", "hostile", ...cs);
    expect(info.code, info.err).toBe(0);
    expectSafe(info);
    expect(JSON.parse(info.out)).toMatchObject({ kid: HOSTILE, writerLibrary: HOSTILE });
    const down = await azcse("blob", "download", "term", "hostile", f("hostile.out"), "--key", key, ...cs);
    expect(down.code).toBe(2);
    expectSafe(down);
  });

  it("queue receive of a message whose plaintext holds controls: valid JSON, same text, nothing raw", async () => {
    await new QueueClient(azurite.connectionString, "term").create();
    expect((await azcse("queue", "send", "term", "--text", HOSTILE, "--key", key, ...cs)).code).toBe(0);
    const r = await azcse("queue", "receive", "term", "--key", key, "--peek", ...cs);
    expect(r.code, r.err).toBe(0);
    expectSafe(r);
    expect(JSON.parse(r.out).text).toBe(HOSTILE);
  });

  it("table get / query of entities with hostile values: valid JSON, same values, nothing raw", async () => {
    const table = TableClient.fromConnectionString(azurite.connectionString, "term", { allowInsecureConnection: true });
    await table.createTable();
    writeFileSync(f("e.json"), JSON.stringify({ PartitionKey: "p", RowKey: "r", Secret: HOSTILE, Open: HOSTILE }));
    expect((await azcse("table", "put", "term", "--in", f("e.json"), "--key", key, "--encrypt", "Secret", ...cs)).code).toBe(0);
    const g = await azcse("table", "get", "term", "p", "r", "--key", key, ...cs);
    expect(g.code, g.err).toBe(0);
    expectSafe(g);
    expect(JSON.parse(g.out)).toMatchObject({ Secret: HOSTILE, Open: HOSTILE });
    const q = await azcse("table", "query", "term", "--key", key, ...cs);
    expect(q.code, q.err).toBe(0);
    expectSafe(q);
    expect(JSON.parse(q.out.trim())).toMatchObject({ Secret: HOSTILE });
  });

  it("blob names from a listing (scan, migrate progress lines and report) print without raw controls", async () => {
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient("termscan");
    await container.create();
    // Control characters an XML listing can carry (C0 cannot appear in XML 1.0): DEL, C1 (CSI), separators, bidi.
    const name = "name\u007f\u009b31m\u0085\u2028\u202eend";
    await container.getBlockBlobClient(name).upload("x", 1);
    for (const extra of [[], ["--json"]]) {
      const r = await azcse("scan", "termscan", ...extra, ...cs);
      expect(r.code, r.err).toBe(0);
      expectSafe(r);
    }
    // migrate lists the (skipped, unencrypted) blob by name in its progress lines and its JSON report
    const m = await azcse("migrate", "termscan", "--key", key, "--progress", "lines", ...cs);
    expect(m.code, m.err).toBe(0);
    expectSafe(m, false); // progress lines are not "azcse:" messages
    expect(m.err).toContain("name\\u007f\\u009b31m");
    expect(JSON.stringify(JSON.parse(m.out))).toContain(JSON.stringify(name).slice(1, -1));
  });
});
