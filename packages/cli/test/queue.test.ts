// azcse queue commands against Azurite (and offline), through main(argv, io).
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QueueServiceClient, type QueueClient } from "@azure/storage-queue";
import { main } from "../src/main.js";
import { startAzurite, tempDir, vectorsDir, type AzuriteHandle } from "@azure-cse/testkit";

let azurite: AzuriteHandle;
let tmp: { dir: string; cleanup: () => void };
let keyA: string;
let keyB: string;
let n = 0;

async function run(...argv: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await main(argv, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) });
  return { code, stdout, stderr, lines: stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const file = (name: string) => path.join(tmp.dir, name);
const cs = () => ["--connection-string", azurite.connectionString];

async function newQueue(): Promise<QueueClient> {
  const q = QueueServiceClient.fromConnectionString(azurite.connectionString).getQueueClient(`cli-${process.pid}-${n++}`);
  await q.create();
  return q;
}

beforeAll(async () => {
  azurite = await startAzurite();
  tmp = tempDir("azcse-queue-cli-");
  keyA = file("a.jwk");
  keyB = file("b.jwk");
  expect((await run("key", "generate", "--alg", "A256KW", "--kid", "local:cli-a", "--out", keyA)).code).toBe(0);
  expect((await run("key", "generate", "--alg", "RSA-OAEP", "--kid", "local:cli-b", "--out", keyB)).code).toBe(0);
});
afterAll(async () => {
  tmp?.cleanup();
  await azurite?.stop();
});

describe("azcse queue send / receive (Azurite)", () => {
  it("send encrypts (only an envelope is stored); receive prints JSON lines {id, dequeueCount, text} and deletes", async () => {
    const q = await newQueue();
    const s = await run("queue", "send", q.name, "--text", "hello from the CLI ✓", "--key", keyA, ...cs());
    expect(s.code, s.stderr).toBe(0);
    const id = s.lines[0]!.id;
    const stored = (await q.peekMessages()).peekedMessageItems[0]!.messageText;
    expect(stored).not.toContain("hello");
    expect(JSON.parse(stored).EncryptionData.EncryptionAgent.Protocol).toBe("2.0");
    const r = await run("queue", "receive", q.name, "--key", keyA, ...cs());
    expect(r.code, r.stderr).toBe(0);
    expect(r.lines).toEqual([{ id, dequeueCount: 1, text: "hello from the CLI ✓" }]);
    expect((await q.getProperties()).approximateMessagesCount).toBe(0);
  });

  it("--peek leaves messages in the queue; --count N returns up to N messages", async () => {
    const q = await newQueue();
    for (const t of ["one", "two", "three"]) expect((await run("queue", "send", q.name, "--text", t, "--key", keyA, ...cs())).code).toBe(0);
    const p = await run("queue", "receive", q.name, "--key", keyA, "--peek", "--count", "3", ...cs());
    expect(p.code, p.stderr).toBe(0);
    expect(p.lines.map((l) => [l.text, l.dequeueCount])).toEqual([["one", 0], ["two", 0], ["three", 0]]);
    expect((await q.getProperties()).approximateMessagesCount).toBe(3);
    const r = await run("queue", "receive", q.name, "--key", keyA, "--count", "2", ...cs());
    expect(r.lines.map((l) => l.text)).toEqual(["one", "two"]);
    expect((await q.getProperties()).approximateMessagesCount).toBe(1);
  });

  it("--in FILE with --encoding base64 carries binary bytes; --out writes the first message's exact plaintext bytes", async () => {
    const q = await newQueue();
    const bytes = Buffer.from([0, 1, 2, 0xff, 0xfe, 0x80, 10]);
    writeFileSync(file("bin.in"), bytes);
    expect((await run("queue", "send", q.name, "--in", file("bin.in"), "--key", keyA, "--encoding", "base64", ...cs())).code).toBe(0);
    expect((await run("queue", "send", q.name, "--text", "second", "--key", keyA, "--encoding", "base64", ...cs())).code).toBe(0);
    const r = await run("queue", "receive", q.name, "--key", keyA, "--encoding", "base64", "--count", "2", "--out", file("bin.out"), ...cs());
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(file("bin.out")).equals(bytes)).toBe(true);
    expect(r.lines).toHaveLength(2);
    expect(r.lines[1]!.text).toBe("second");
  });

  it("--protocol 1.0 writes a 1.0 envelope and warns that 1.0 is deprecated", async () => {
    const q = await newQueue();
    const s = await run("queue", "send", q.name, "--text", "old format", "--key", keyA, "--protocol", "1.0", ...cs());
    expect(s.code).toBe(0);
    expect(s.stderr).toMatch(/deprecated/);
    expect(JSON.parse((await q.peekMessages()).peekedMessageItems[0]!.messageText).EncryptionData.EncryptionAgent.Protocol).toBe("1.0");
    expect((await run("queue", "receive", q.name, "--key", keyA, ...cs())).lines[0]!.text).toBe("old format");
  });

  it("every --key is offered for decryption by kid (the first one encrypts)", async () => {
    const q = await newQueue();
    expect((await run("queue", "send", q.name, "--text", "rsa wrapped", "--key", keyB, "--key", keyA, ...cs())).code).toBe(0);
    expect(JSON.parse((await q.peekMessages()).peekedMessageItems[0]!.messageText).EncryptionData.WrappedContentKey.KeyId).toBe("local:cli-b");
    const r = await run("queue", "receive", q.name, "--key", keyA, "--key", keyB, ...cs());
    expect(r.lines[0]!.text).toBe("rsa wrapped");
  });

  it("a message the keys cannot decrypt exits 2 with its id and code on stderr, and is not deleted", async () => {
    const q = await newQueue();
    const s = await run("queue", "send", q.name, "--text", "for B only", "--key", keyB, ...cs());
    const r = await run("queue", "receive", q.name, "--key", keyA, ...cs());
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`KEY_NOT_FOUND: message ${String(s.lines[0]!.id)}`);
    expect((await q.getProperties()).approximateMessagesCount).toBe(1);
  });

  it("a batch with a plaintext message delivers and deletes the good ones, reports ENCRYPTION_REQUIRED and exits 2", async () => {
    const q = await newQueue();
    await run("queue", "send", q.name, "--text", "good", "--key", keyA, ...cs());
    const plain = await q.sendMessage('{"looks":"like json"}');
    await run("queue", "send", q.name, "--text", "also good", "--key", keyA, ...cs());
    const r = await run("queue", "receive", q.name, "--key", keyA, "--count", "5", ...cs());
    expect(r.code).toBe(2);
    expect(r.lines.map((l) => l.text)).toEqual(["good", "also good"]);
    expect(r.stderr).toContain(`ENCRYPTION_REQUIRED: message ${plain.messageId}`);
    expect(r.stderr).not.toContain("like json");
    expect((await q.getProperties()).approximateMessagesCount).toBe(1);
  });

  it("a message over the 64 KiB limit exits 2 with PAYLOAD_TOO_LARGE naming the budget, and nothing is sent", async () => {
    const q = await newQueue();
    const r = await run("queue", "send", q.name, "--text", "x".repeat(60_000), "--key", keyA, ...cs());
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/PAYLOAD_TOO_LARGE: .*at most \d+ bytes/);
    expect((await q.getProperties()).approximateMessagesCount).toBe(0);
  });

  it("--out on an empty queue exits 3 and writes nothing; a missing queue exits 3", async () => {
    const q = await newQueue();
    const r = await run("queue", "receive", q.name, "--key", keyA, "--out", file("none.out"), ...cs());
    expect(r.code).toBe(3);
    expect(existsSync(file("none.out"))).toBe(false);
    expect((await run("queue", "receive", q.name, "--key", keyA, ...cs())).code).toBe(0);
    expect((await run("queue", "send", "no-such-queue", "--text", "x", "--key", keyA, ...cs())).code).toBe(3);
    expect((await run("queue", "receive", "no-such-queue", "--key", keyA, ...cs())).code).toBe(3);
  });

  it("usage errors exit 1", async () => {
    const q = await newQueue();
    const cases: string[][] = [
      ["queue", "send", q.name, "--key", keyA, ...cs()],
      ["queue", "send", q.name, "--text", "a", "--in", keyA, "--key", keyA, ...cs()],
      ["queue", "send", q.name, "--text", "a", ...cs()],
      ["queue", "send", q.name, "--text", "a", "--key", keyA, "--protocol", "2.1", ...cs()],
      ["queue", "send", q.name, "--text", "a", "--key", keyA, "--encoding", "hex", ...cs()],
      ["queue", "receive", q.name, "--key", keyA, "--count", "0", ...cs()],
      ["queue", "receive", q.name, "--key", keyA, "--count", "33", ...cs()],
      ["queue", "receive", "--key", keyA, ...cs()],
    ];
    for (const c of cases) expect((await run(...c)).code, c.join(" ")).toBe(1);
    expect((await q.getProperties()).approximateMessagesCount).toBe(0);
  });
});

describe("azcse queue encrypt-message / decrypt-message (offline)", () => {
  it("round trips bytes; the message file is an envelope the service accepts and `queue receive` reads", async () => {
    const plain = Buffer.from("offline ✓ 😀 message", "utf8");
    writeFileSync(file("m.plain"), plain);
    const e = await run("queue", "encrypt-message", "--in", file("m.plain"), "--out", file("m.txt"), "--key", keyA);
    expect(e.code, e.stderr).toBe(0);
    const text = readFileSync(file("m.txt"), "utf8");
    expect(Object.keys(JSON.parse(text))).toEqual(["EncryptedMessageContents", "EncryptionData"]);
    const d = await run("queue", "decrypt-message", "--in", file("m.txt"), "--out", file("m.back"), "--key", keyA);
    expect(d.code, d.stderr).toBe(0);
    expect(d.lines[0]).toMatchObject({ protocol: "2.0", keyId: "local:cli-a", plaintextBytes: plain.length });
    expect(readFileSync(file("m.back")).equals(plain)).toBe(true);
    const q = await newQueue();
    await q.sendMessage(text);
    expect((await run("queue", "receive", q.name, "--key", keyA, ...cs())).lines[0]!.text).toBe("offline ✓ 😀 message");
  });

  it("--encoding base64 and --protocol 1.0 apply to encrypt-message; decrypt-message needs the same --encoding", async () => {
    writeFileSync(file("b.plain"), "hi");
    expect((await run("queue", "encrypt-message", "--in", file("b.plain"), "--out", file("b.txt"), "--key", keyA, "--encoding", "base64", "--protocol", "1.0")).code).toBe(0);
    await run("queue", "decrypt-message", "--in", file("b.txt"), "--out", file("b.raw"), "--key", keyA);
    expect(readFileSync(file("b.raw"), "utf8")).toBe("aGk=");
    const d = await run("queue", "decrypt-message", "--in", file("b.txt"), "--out", file("b.back"), "--key", keyA, "--encoding", "base64");
    expect(d.lines[0]!.protocol).toBe("1.0");
    expect(readFileSync(file("b.back"), "utf8")).toBe("hi");
  });

  it("decrypt-message reads a Python SDK vector (2.0, random nonce)", async () => {
    const manifest = JSON.parse(readFileSync(path.join(vectorsDir, "manifest.json"), "utf8"));
    const c = manifest.cases.find((x: { id: string }) => x.id === "queue-v2-a256kw-none-unicode");
    const k = manifest.keks.find((x: { kid: string }) => x.kid === "local:shared-a256kw");
    writeFileSync(file("py.jwk"), JSON.stringify({ kty: "oct", kid: k.kid, alg: "A256KW", k: Buffer.from(k.key_b64, "base64").toString("base64url") }));
    writeFileSync(file("py.txt"), c.stored.message_text);
    const d = await run("queue", "decrypt-message", "--in", file("py.txt"), "--out", file("py.out"), "--key", file("py.jwk"));
    expect(d.code, d.stderr).toBe(0);
    expect(readFileSync(file("py.out"), "utf8")).toBe(c.plaintext.text);
  });

  it("decrypt-message refuses plaintext (exit 2, ENCRYPTION_REQUIRED) and tampering (exit 2, DECRYPTION_FAILED) and writes nothing", async () => {
    writeFileSync(file("plain.txt"), "not encrypted");
    const p = await run("queue", "decrypt-message", "--in", file("plain.txt"), "--out", file("plain.out"), "--key", keyA);
    expect(p.code).toBe(2);
    expect(p.stderr).toContain("ENCRYPTION_REQUIRED");
    writeFileSync(file("t.plain"), "tamper me");
    await run("queue", "encrypt-message", "--in", file("t.plain"), "--out", file("t.txt"), "--key", keyA);
    const env = JSON.parse(readFileSync(file("t.txt"), "utf8"));
    const c = Buffer.from(env.EncryptedMessageContents, "base64");
    c[c.length - 1]! ^= 1;
    env.EncryptedMessageContents = c.toString("base64");
    writeFileSync(file("t.txt"), JSON.stringify(env));
    const t = await run("queue", "decrypt-message", "--in", file("t.txt"), "--out", file("t.out"), "--key", keyA);
    expect(t.code).toBe(2);
    expect(t.stderr).toContain("DECRYPTION_FAILED");
    expect(existsSync(file("plain.out")) || existsSync(file("t.out"))).toBe(false);
  });
});
