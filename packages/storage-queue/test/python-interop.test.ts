// Live interop with the real Python SDK (azure-storage-queue 12.6.0b1) through Azurite, both ways:
// Python sends → EncryptedQueueClient receives; EncryptedQueueClient sends → Python receives and decrypts.
// Protocols 1.0 and 2.0, encode policies none / text_base64 / binary_base64, A256KW and RSA-OAEP keys.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AesKeyWrapKey, RsaKey, type ClientSideEncryptionPolicy, type KeyEncryptionKey } from "@azure-cse/core-envelope";
import { EncryptedQueueClient, plaintextBudget } from "@azure-cse/storage-queue";
import { assertPythonPeer, runPython, startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { PY, manifestKek, newQueue } from "./helpers.js";


type Encoding = "none" | "text_base64" | "binary_base64";
interface Combo {
  name: string;
  protocol: "1.0" | "2.0";
  encoding: Encoding;
  kek: "aes" | "rsa";
}

const aesSpec = manifestKek("local:shared-a256kw");
const rsaSpec = manifestKek("local:shared-rsa-oaep");
const keks: Record<"aes" | "rsa", KeyEncryptionKey> = {
  aes: new AesKeyWrapKey(aesSpec.kid, Buffer.from(aesSpec.key_b64, "base64")),
  rsa: RsaKey.fromPem(rsaSpec.kid, rsaSpec.private_key_pkcs8_pem!, "RSA-OAEP"),
};
const pyKek = (k: "aes" | "rsa") =>
  k === "aes" ? { type: "aes", kid: aesSpec.kid, key_b64: aesSpec.key_b64 } : { type: "rsa", kid: rsaSpec.kid, pem: rsaSpec.private_key_pkcs8_pem };

const combos: Combo[] = [];
for (const protocol of ["1.0", "2.0"] as const) {
  for (const encoding of ["none", "text_base64", "binary_base64"] as const) combos.push({ name: `${protocol} A256KW ${encoding}`, protocol, encoding, kek: "aes" });
  combos.push({ name: `${protocol} RSA-OAEP none`, protocol, encoding: "none", kek: "rsa" });
}

const ASTRAL = "emoji 😀 music 𝄞 CJK 中文 accents éü";
/** Non-empty text payloads; near-limit sizes follow quirk Q3 (47 KiB plain, 35 KiB base64). */
function texts(c: Combo): string[] {
  const near = c.encoding === "none" ? 47 * 1024 : 35 * 1024;
  return ["plain ascii message", ASTRAL, '{"json":"looking", "n": 1}', "x".repeat(near)];
}
function binaries(): Buffer[] {
  return [Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.from([0xff, 0xfe, 0x00]), Buffer.alloc(30 * 1024, 0xa5)];
}
const ourEncoding = (e: Encoding): "none" | "base64" => (e === "none" ? "none" : "base64");
const policyFor = (c: Combo): ClientSideEncryptionPolicy => ({
  keyEncryptionKey: keks[c.kek],
  encryptionVersion: c.protocol,
  allowDeprecatedV1Encryption: c.protocol === "1.0",
});

let azurite: AzuriteHandle;
beforeAll(async () => {
  assertPythonPeer();
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.stop();
});

function py<T>(input: Record<string, unknown>) {
  return runPython<T>(PY, { cs: azurite.connectionString, ...input });
}

describe("Python SDK → EncryptedQueueClient (through Azurite)", () => {
  it.each(combos.map((c) => [c.name, c] as const))("%s: every message Python sends decrypts to what it sent", async (_n, c) => {
    const queue = await newQueue(azurite.connectionString, "pyto");
    const payloads = c.encoding === "binary_base64" ? binaries().map((b) => ({ b64: b.toString("base64") })) : texts(c).map((text) => ({ text }));
    const ids = await py<string[]>({ op: "send", queue: queue.name, kek: pyKek(c.kek), protocol: c.protocol, encoding: c.encoding, messages: payloads });
    expect(ids).toHaveLength(payloads.length);
    // Python encrypted them: the stored text is an envelope of the requested protocol.
    const raw = (await queue.peekMessages({ numberOfMessages: 32 })).peekedMessageItems;
    for (const m of raw) expect(JSON.parse(m.messageText).EncryptionData.EncryptionAgent.Protocol).toBe(c.protocol);

    const ours = new EncryptedQueueClient(queue, { keyEncryptionKey: keks[c.kek] }, { messageEncoding: ourEncoding(c.encoding) });
    const r = await ours.receiveMessages({ numberOfMessages: 32 });
    expect(r.failures).toEqual([]);
    expect(r.receivedMessageItems.map((m) => m.messageId).sort()).toEqual([...ids].sort());
    for (const m of r.receivedMessageItems) {
      const expected = payloads[ids.indexOf(m.messageId)]!;
      if ("b64" in expected) expect(m.messageBytes.toString("base64")).toBe(expected.b64);
      else expect(m.messageText).toBe(expected.text);
      expect(m).toMatchObject({ encrypted: true, protocol: c.protocol, keyId: keks[c.kek].keyId });
    }
  });

  it("Python sends the empty message unencrypted (Q4): requireEncryption reports it by id; allowing plaintext reads gives ''", async () => {
    const queue = await newQueue(azurite.connectionString, "pyempty");
    const [id] = await py<string[]>({ op: "send", queue: queue.name, kek: pyKek("aes"), protocol: "2.0", encoding: "none", messages: [{ text: "" }] });
    const strict = new EncryptedQueueClient(queue, { keyEncryptionKey: keks.aes });
    const p = await strict.peekMessages();
    expect(p.peekedMessageItems).toEqual([]);
    expect(p.failures.map((f) => [f.messageId, f.error.code])).toEqual([[id, "ENCRYPTION_REQUIRED"]]);
    const lenient = new EncryptedQueueClient(queue, { keyEncryptionKey: keks.aes, requireEncryption: false });
    expect((await lenient.receiveMessages()).receivedMessageItems[0]).toMatchObject({ messageId: id, messageText: "", encrypted: false });
  });
});

describe("EncryptedQueueClient → Python SDK (through Azurite)", () => {
  it.each(combos.map((c) => [c.name, c] as const))("%s: Python with require_encryption decrypts every message we send", async (_n, c) => {
    const queue = await newQueue(azurite.connectionString, "topy");
    const ours = new EncryptedQueueClient(queue, policyFor(c), { messageEncoding: ourEncoding(c.encoding) });
    const sent = new Map<string, { text?: string; b64?: string }>();
    if (c.encoding === "binary_base64") {
      for (const b of binaries()) sent.set((await ours.sendMessage(b)).messageId, { b64: b.toString("base64") });
    } else {
      for (const t of [...texts(c), ""]) sent.set((await ours.sendMessage(t)).messageId, { text: t });
    }
    const got = await py<{ id: string; text: string | null; b64: string | null }[]>({
      op: "receive", queue: queue.name, kek: pyKek(c.kek), protocol: c.protocol, encoding: c.encoding,
    });
    expect(got.map((g) => g.id).sort()).toEqual([...sent.keys()].sort());
    for (const g of got) {
      const want = sent.get(g.id)!;
      if (want.b64 !== undefined) expect(g.b64).toBe(want.b64);
      else expect(g.text).toBe(want.text);
    }
    expect((await queue.getProperties()).approximateMessagesCount).toBe(0);
  });

  it.each([
    ["2.0", "none"],
    ["1.0", "none"],
    ["2.0", "text_base64"],
  ] as const)("%s %s: a message of exactly our plaintext budget (the 64 KiB limit) is read by Python", async (protocol, encoding) => {
    const c: Combo = { name: "", protocol, encoding, kek: "aes" };
    const queue = await newQueue(azurite.connectionString, "topybig");
    const ours = new EncryptedQueueClient(queue, policyFor(c), { messageEncoding: ourEncoding(encoding) });
    const overhead = (await ours.encryptMessageText("")).length - (protocol === "1.0" ? 24 : 40);
    const budget = plaintextBudget(protocol, ourEncoding(encoding), overhead, 65536);
    const text = "q".repeat(budget);
    await ours.sendMessage(text);
    expect((await queue.peekMessages()).peekedMessageItems[0]!.messageText.length).toBeGreaterThan(65536 - 32);
    const got = await py<{ text: string }[]>({ op: "receive", queue: queue.name, kek: pyKek("aes"), protocol, encoding });
    expect(got.map((g) => g.text)).toEqual([text]);
  });
});
