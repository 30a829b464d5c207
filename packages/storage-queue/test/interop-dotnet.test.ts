// Live interop with the official .NET queue libraries through Azurite, both ways, driven by tools/dotnet-peer:
// Azure.Storage.Queues 12.28.1 (v12: protocols 1.0 and 2.0) and WindowsAzure.Storage 9.3.3 (legacy: 1.0).
// Messages with `+ / =`, JSON-looking text, non-ASCII (astral) text and near-limit bodies, under RSA-OAEP and
// A256KW keys whose ids look like versioned Key Vault ids. Never skipped: assertDotnetPeer() fails with the
// install command. Each direction runs the .NET program once (`run batch`).
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AesKeyWrapKey, RsaKey, createLocalKeyResolver, type KeyEncryptionKey } from "@azure-cse/core-envelope";
import { EncryptedQueueClient } from "@azure-cse/storage-queue";
import { assertDotnetPeer, runDotnetBatch, startAzurite, type AzuriteHandle, type DotnetPeerResult } from "@azure-cse/testkit";
import { newQueue } from "./helpers.js";

const RSA_KID = "https://azcse-interop.vault.azure.net/keys/cse-queue-rsa/0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e";
const AES_KID = "https://azcse-interop.vault.azure.net/keys/cse-queue-aes/5e6d7c8b9a0f1e2d3c4b5a6978877665";
const KiB = 1024;

/** Message bodies: base64-special characters, JSON-looking text, astral characters, a near-limit body. */
function bodies(large: number): Array<{ label: string; text: string }> {
  return [
    { label: "+ / = characters", text: "a+b/c=d==+//==++ ?&=%2B" },
    { label: "JSON-looking text with quotes and backslashes", text: '{"EncryptedMessageContents":"x\\"y","n":1} <xml>&amp;</xml>' },
    { label: "non-ASCII (accents, CJK, astral)", text: "émoji 😀 music 𝄞 CJK 中文日本語 Ωμέγα" },
    // `large` UTF-8 bytes: base64-special ASCII with a non-ASCII tail.
    { label: `${large / KiB} KiB body`, text: "ab+/=".repeat(large / 5 + 1).slice(0, large - 6) + "é😀" },
  ];
}
const sha = (s: string | Buffer) => createHash("sha256").update(s).digest("hex");

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

beforeAll(async () => {
  assertDotnetPeer();
  az = await startAzurite();
  dir = mkdtempSync(path.join(tmpdir(), "azcse-queue-dotnet-"));
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

// What each .NET writer can send. v12 escapes '+' as \u002B in the envelope (EncryptedMessageContents included),
// which costs ~8% of the 64 KiB limit: 40 KiB is its near-limit body; the legacy writer fits 47 KiB.
const writers = [
  { library: "v12", protocol: "2.0", encoding: "none", large: 40 * KiB },
  { library: "v12", protocol: "1.0", encoding: "none", large: 40 * KiB },
  { library: "legacy", protocol: "1.0", encoding: "none", large: 47 * KiB },
  { library: "legacy", protocol: "1.0", encoding: "base64", large: 47 * KiB },
] as const;

describe(".NET sends → EncryptedQueueClient receives", () => {
  const sent: Array<{ label: string; queue: string; text: string; library: string; protocol: string; kek: KeyEncryptionKey }> = [];
  let results: DotnetPeerResult[] = [];

  beforeAll(async () => {
    const commands: string[][] = [];
    let i = 0;
    for (const w of writers) {
      for (const b of bodies(w.large)) {
        const queue = (await newQueue(az.connectionString, "netq")).name;
        const kek = i++ % 2 === 0 ? rsa : aes;
        const file = path.join(dir, `${queue}.txt`);
        writeFileSync(file, b.text, "utf8");
        sent.push({ label: `${w.library} ${w.protocol} --encoding ${w.encoding}: ${b.label}`, queue, text: b.text, library: w.library, protocol: w.protocol, kek });
        commands.push(["queue-put", "--queue", queue, "--in", file, "--protocol", w.protocol, "--encoding", w.encoding, "--library", w.library, "--key", keyFile(kek)]);
      }
    }
    results = await batch(commands);
  }, 300_000);

  it("every .NET send succeeded", () => {
    expect(results.map((r, k) => [sent[k]!.label, r.exit, r.error])).toEqual(sent.map((s) => [s.label, 0, null]));
  });

  it("the stored envelopes are what .NET writes (v12: EncryptionMode, \\u002B escapes, User-Agent EncryptionLibrary; legacy: '.NET 9.3.2')", async () => {
    for (const s of sent) {
      const stored = (await (await newQueueClient(s.queue)).peekMessages()).peekedMessageItems[0]!.messageText;
      const env = JSON.parse(stored) as { EncryptedMessageContents: string; EncryptionData: Record<string, unknown> & { KeyWrappingMetadata: { EncryptionLibrary: string }; WrappedContentKey: { KeyId: string } } };
      expect(Object.keys(env)).toEqual(["EncryptedMessageContents", "EncryptionData"]);
      expect(env.EncryptionData.WrappedContentKey.KeyId).toBe(s.kek.keyId);
      if (s.library === "v12") {
        expect(Object.keys(env.EncryptionData)[0]).toBe("EncryptionMode");
        expect(env.EncryptionData.EncryptionMode).toBe("FullBlob");
        expect(env.EncryptionData.KeyWrappingMetadata.EncryptionLibrary).toMatch(/^azsdk-net-Azure\.Storage\.Queues\/12\.28\.1(\+[0-9a-f]+)? \(\.NET /);
        expect(stored).not.toContain("+");
        if (env.EncryptedMessageContents.includes("+")) expect(stored).toContain("\\u002B");
      } else {
        expect(env.EncryptionData.EncryptionMode).toBeUndefined();
        expect(env.EncryptionData.KeyWrappingMetadata.EncryptionLibrary).toBe(".NET 9.3.2");
      }
      // The plaintext under the envelope is the UTF-8 text itself, whatever the .NET encoding setting.
      expect(stored.startsWith('{"EncryptedMessageContents":"')).toBe(true);
    }
  });

  it("every message decrypts with messageEncoding 'none' to exactly what .NET sent (resolver over both keys)", async () => {
    for (const s of sent) {
      const ours = new EncryptedQueueClient(await newQueueClient(s.queue), { keyResolver: createLocalKeyResolver([rsa, aes]) });
      const r = await ours.receiveMessages();
      expect([s.label, r.failures]).toEqual([s.label, []]);
      expect(r.receivedMessageItems).toHaveLength(1);
      const m = r.receivedMessageItems[0]!;
      expect([s.label, sha(m.messageText), m.protocol, m.keyId]).toEqual([s.label, sha(s.text), s.protocol, s.kek.keyId]);
    }
  });

  it("a .NET message read with our messageEncoding 'base64' fails as DECRYPTION_FAILED, never garbage (read .NET queues with 'none')", async () => {
    const queue = (await newQueue(az.connectionString, "netq64")).name;
    const file = path.join(dir, `${queue}.txt`);
    writeFileSync(file, "a+b/c=d");
    const [put] = await batch([["queue-put", "--queue", queue, "--in", file, "--protocol", "1.0", "--encoding", "base64", "--library", "legacy", "--key", aesFile]]);
    expect(put!.exit).toBe(0);
    const p = await new EncryptedQueueClient(await newQueueClient(queue), { keyEncryptionKey: aes }, { messageEncoding: "base64" }).peekMessages();
    expect(p.peekedMessageItems).toEqual([]);
    // Content that does not base64-decode is the one indistinguishable decryption failure (no format oracle).
    expect(p.failures.map((f) => f.error.code)).toEqual(["DECRYPTION_FAILED"]);
  });
});

describe("EncryptedQueueClient sends → .NET receives", () => {
  const ours: Array<{ label: string; queue: string; expected: string; command: string[] }> = [];
  let results: DotnetPeerResult[] = [];

  beforeAll(async () => {
    let i = 0;
    for (const protocol of ["2.0", "1.0"] as const) {
      for (const encoding of ["none", "base64"] as const) {
        // Our budget for 47 KiB: "none" fits 47 KiB of ASCII; "base64" (Python's TextBase64 convention) ~35 KiB.
        for (const b of bodies(encoding === "none" ? 47 * KiB : 32 * KiB)) {
          const libraries = protocol === "1.0" ? ["v12", "legacy"] : ["v12"];
          for (const library of libraries) {
            const q = await newQueue(az.connectionString, "jsq");
            const kek = i++ % 2 === 0 ? rsa : aes;
            await new EncryptedQueueClient(q, { keyEncryptionKey: kek, encryptionVersion: protocol, allowDeprecatedV1Encryption: protocol === "1.0" }, { messageEncoding: encoding }).sendMessage(b.text);
            // .NET decrypts to the bytes we encrypted: with our "base64" those are base64(utf8(text)), which .NET
            // hands to the application undecoded (its own encoding setting does not apply to encrypted messages).
            const expected = encoding === "base64" ? Buffer.from(b.text, "utf8").toString("base64") : b.text;
            const label = `${library} reads our ${protocol} ${encoding}: ${b.label}`;
            ours.push({ label, queue: q.name, expected, command: ["queue-get", "--queue", q.name, "--out", path.join(dir, `${q.name}.out`), "--library", library, "--key", aesFile, "--key", rsaFile] });
          }
        }
      }
    }
    results = await batch(ours.map((o) => o.command));
  }, 300_000);

  it("v12 and legacy decrypt every message we send (both protocols, both of our encodings)", () => {
    expect(results.map((r, k) => [ours[k]!.label, r.exit, r.error, (r.result as { sha256?: string } | null)?.sha256])).toEqual(
      ours.map((o) => [o.label, 0, null, sha(Buffer.from(o.expected, "utf8"))]),
    );
  });
});

describe("limits and refusals", () => {
  it("48 KiB bodies do not fit a 64 KiB message: v12 gets the service 413 (exit 4), legacy and we refuse before sending", async () => {
    const text = "x".repeat(48 * KiB);
    const q1 = (await newQueue(az.connectionString, "big")).name;
    const q2 = (await newQueue(az.connectionString, "big")).name;
    const file = path.join(dir, "48k.txt");
    writeFileSync(file, text);
    const [v12, legacy] = await batch([
      ["queue-put", "--queue", q1, "--in", file, "--protocol", "2.0", "--key", aesFile],
      ["queue-put", "--queue", q2, "--in", file, "--protocol", "1.0", "--library", "legacy", "--key", aesFile],
    ]);
    expect([v12!.exit, legacy!.exit]).toEqual([4, 1]);
    expect(v12!.error).toMatch(/413 RequestBodyTooLarge/);
    expect(legacy!.error).toMatch(/cannot be larger than 65536/);
    const ours = new EncryptedQueueClient(await newQueueClient(q1), { keyEncryptionKey: aes });
    const err = await ours.sendMessage(text).then(
      () => undefined,
      (e: { code?: string }) => e,
    );
    expect(err?.code).toBe("PAYLOAD_TOO_LARGE");
    expect((await (await newQueueClient(q1)).getProperties()).approximateMessagesCount).toBe(0);
  });

  it("v12 refuses Base64 message encoding with encryption (exit 1, one line); legacy cannot write 2.0 (exit 1); wrong key is exit 2; empty queue is exit 3", async () => {
    const q = await newQueue(az.connectionString, "refuse");
    await new EncryptedQueueClient(q, { keyEncryptionKey: aes }).sendMessage("for the wrong key");
    const file = path.join(dir, "small.txt");
    writeFileSync(file, "hello");
    const [b64, legacy20, wrongKey, empty] = await batch([
      ["queue-put", "--queue", q.name, "--in", file, "--protocol", "2.0", "--encoding", "base64", "--key", aesFile],
      ["queue-put", "--queue", q.name, "--in", file, "--protocol", "2.0", "--library", "legacy", "--key", aesFile],
      ["queue-get", "--queue", q.name, "--out", path.join(dir, "w.out"), "--key", rsaFile],
      ["queue-get", "--queue", (await newQueue(az.connectionString, "empty")).name, "--out", path.join(dir, "e.out"), "--key", rsaFile],
    ]);
    expect(b64!.exit).toBe(1);
    expect(b64!.error).toMatch(/QueueMessageEncoding\.None/);
    expect(legacy20!.exit).toBe(1);
    expect(wrongKey!.exit).toBe(2);
    expect(empty!.exit).toBe(3);
  });
});

async function newQueueClient(name: string) {
  const { QueueServiceClient } = await import("@azure/storage-queue");
  return QueueServiceClient.fromConnectionString(az.connectionString).getQueueClient(name);
}
