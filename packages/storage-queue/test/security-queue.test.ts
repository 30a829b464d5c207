// Issue 14 (security hardening), queue part. Each describe is one class of hostile or careless input.
/* eslint-disable @typescript-eslint/no-explicit-any -- hostile callers pass values of the wrong type on purpose */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { QueueClient } from "@azure/storage-queue";
import { QueueServiceClient } from "@azure/storage-queue";
import {
  AesKeyWrapKey,
  DECRYPTION_FAILED_MESSAGE,
  createLocalKeyResolver,
  type ClientSideEncryptionPolicy,
  type KeyEncryptionKey,
} from "@azure-cse/core-envelope";
import {
  EncryptedQueueClient,
  EncryptedQueueServiceClient,
  decryptQueueMessage,
  encryptQueueMessage,
  type ClaimCheckStore,
} from "@azure-cse/storage-queue";
import { runDotnetBatch, startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { caught, expectCode, newQueue } from "./helpers.js";

const kek = new AesKeyWrapKey("local:sec-1", Buffer.alloc(32, 7));
const otherKek = new AesKeyWrapKey("local:sec-2", Buffer.alloc(32, 8));
const policy: ClientSideEncryptionPolicy = { keyEncryptionKey: kek };
const v1Policy: ClientSideEncryptionPolicy = { keyEncryptionKey: kek, encryptionVersion: "1.0", allowDeprecatedV1Encryption: true };
// eslint-disable-next-line no-control-regex -- the point: no raw control characters in messages
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const HOSTILE = "k\u0000\u0007\u001b[31m\u001b]0;owned\u0007\u007f\u0085\u009b\u2028\u202e";

let azurite: AzuriteHandle;
beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.stop();
});

async function envelope(p: ClientSideEncryptionPolicy = policy, text = "hello"): Promise<{ EncryptedMessageContents: string; EncryptionData: any }> {
  return JSON.parse(await encryptQueueMessage(text, p));
}

function flipBase64(b64: string, index: number): string {
  const b = Buffer.from(b64, "base64");
  b[index]! ^= 1;
  return b.toString("base64");
}

function expectOpaque(e: { code: string; message: string; details: object; cause?: unknown }): void {
  expect(e.code).toBe("DECRYPTION_FAILED");
  expect(e.message).toBe(DECRYPTION_FAILED_MESSAGE);
  expect(e.cause).toBeUndefined();
}

describe("class 1: every queue read authenticates (key unwrapped, every stored region verified)", () => {
  it("2.0 with empty EncryptedMessageContents still unwraps the key: a forged EncryptedKey is DECRYPTION_FAILED, a forged KeyId fails key selection", async () => {
    const env = await envelope();
    env.EncryptedMessageContents = "";
    // The genuine key: an empty 2.0 body is empty plaintext (what .NET may write, spec §1.3).
    expect((await decryptQueueMessage(JSON.stringify(env), policy)).messageText).toBe("");
    const forgedKey = structuredClone(env);
    forgedKey.EncryptionData.WrappedContentKey.EncryptedKey = flipBase64(env.EncryptionData.WrappedContentKey.EncryptedKey, 5);
    expectOpaque(await caught(() => decryptQueueMessage(JSON.stringify(forgedKey), policy)));
    const randomKey = structuredClone(env);
    randomKey.EncryptionData.WrappedContentKey.EncryptedKey = Buffer.alloc(40, 9).toString("base64");
    expectOpaque(await caught(() => decryptQueueMessage(JSON.stringify(randomKey), policy)));
    const forgedId = structuredClone(env);
    forgedId.EncryptionData.WrappedContentKey.KeyId = "local:nobody";
    expect((await caught(() => decryptQueueMessage(JSON.stringify(forgedId), policy))).code).toBe("KID_MISMATCH");
    expect((await caught(() => decryptQueueMessage(JSON.stringify(forgedId), { keyResolver: createLocalKeyResolver([kek]) }))).code).toBe("KEY_NOT_FOUND");
  });

  it(".NET v12 writes an empty 2.0 message as empty EncryptedMessageContents: we read it as \"\", and with a forged EncryptedKey it is DECRYPTION_FAILED", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "azcse-sec-dotnet-"));
    try {
      const netKek = AesKeyWrapKey.generate("https://azcse-sec.vault.azure.net/keys/empty/0123456789abcdef0123456789abcdef");
      writeFileSync(path.join(dir, "k.jwk"), JSON.stringify(netKek.toJwk()));
      writeFileSync(path.join(dir, "empty.txt"), "");
      const raw = await newQueue(azurite.connectionString, "secnet");
      const [put] = await runDotnetBatch([["queue-put", "--queue", raw.name, "--in", path.join(dir, "empty.txt"), "--protocol", "2.0", "--library", "v12", "--key", path.join(dir, "k.jwk")]], {
        connectionString: azurite.connectionString,
      });
      expect(put!.exit, put!.error ?? "").toBe(0);
      const stored = (await raw.peekMessages()).peekedMessageItems[0]!.messageText;
      const env = JSON.parse(stored);
      expect(env.EncryptedMessageContents).toBe("");
      const reader: ClientSideEncryptionPolicy = { keyEncryptionKey: netKek };
      expect((await decryptQueueMessage(stored, reader)).messageText).toBe("");
      env.EncryptionData.WrappedContentKey.EncryptedKey = flipBase64(env.EncryptionData.WrappedContentKey.EncryptedKey, 2);
      expectOpaque(await caught(() => decryptQueueMessage(JSON.stringify(env), reader)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);

  it("a 28-byte 2.0 region holding empty plaintext has its tag verified; short, truncated and extended bodies fail", async () => {
    const env = await envelope(policy, "");
    const stored = Buffer.from(env.EncryptedMessageContents, "base64");
    expect(stored.length).toBe(28);
    expect((await decryptQueueMessage(JSON.stringify(env), policy)).messageText).toBe("");
    for (const bad of [flipBase64(env.EncryptedMessageContents, 27), flipBase64(env.EncryptedMessageContents, 0), stored.subarray(0, 27).toString("base64"), stored.subarray(0, 1).toString("base64"), Buffer.concat([stored, Buffer.from([0])]).toString("base64")]) {
      expectOpaque(await caught(() => decryptQueueMessage(JSON.stringify({ ...env, EncryptedMessageContents: bad }), policy)));
    }
  });

  it("1.0 messages: empty, partial-block and tampered-padding bodies are DECRYPTION_FAILED, also with a forged key", async () => {
    const env = await envelope(v1Policy, "");
    expect(Buffer.from(env.EncryptedMessageContents, "base64").length).toBe(16);
    expect((await decryptQueueMessage(JSON.stringify(env), policy)).messageText).toBe("");
    for (const bad of ["", Buffer.alloc(15).toString("base64"), Buffer.alloc(17).toString("base64"), flipBase64(env.EncryptedMessageContents, 15)]) {
      expectOpaque(await caught(() => decryptQueueMessage(JSON.stringify({ ...env, EncryptedMessageContents: bad }), policy)));
    }
    const forged = structuredClone(env);
    forged.EncryptionData.WrappedContentKey.EncryptedKey = flipBase64(env.EncryptionData.WrappedContentKey.EncryptedKey, 0);
    expectOpaque(await caught(() => decryptQueueMessage(JSON.stringify(forged), policy)));
  });

  it("authenticated content that does not base64-decode under messageEncoding \"base64\" is DECRYPTION_FAILED, not a caller error", async () => {
    const text = await encryptQueueMessage("not base64 !", policy);
    expectOpaque(await caught(() => decryptQueueMessage(text, policy, { messageEncoding: "base64" })));
  });

  it("on Azurite: stored envelopes with empty content and a forged key, or a cut region, are listed as DECRYPTION_FAILED failures and never delivered", async () => {
    const raw: QueueClient = await newQueue(azurite.connectionString, "sec1");
    const enc = new EncryptedQueueClient(raw, policy);
    const env = await envelope();
    const forged = structuredClone(env);
    forged.EncryptedMessageContents = "";
    forged.EncryptionData.WrappedContentKey.EncryptedKey = flipBase64(env.EncryptionData.WrappedContentKey.EncryptedKey, 1);
    await raw.sendMessage(JSON.stringify(forged));
    const cut = { ...env, EncryptedMessageContents: Buffer.from(env.EncryptedMessageContents, "base64").subarray(0, 20).toString("base64") };
    await raw.sendMessage(JSON.stringify(cut));
    await enc.sendMessage("good");
    const peeked = await enc.peekMessages({ numberOfMessages: 32 });
    expect(peeked.peekedMessageItems.map((m) => m.messageText)).toEqual(["good"]);
    const received = await enc.receiveMessages({ numberOfMessages: 32 });
    expect(received.receivedMessageItems.map((m) => m.messageText)).toEqual(["good"]);
    expect(received.failures.map((f) => f.error.code)).toEqual(["DECRYPTION_FAILED", "DECRYPTION_FAILED"]);
    for (const f of received.failures) expect(f.error.message).toBe(DECRYPTION_FAILED_MESSAGE);
  });
});

describe("class 2: every bad caller value is INVALID_ARGUMENT naming the option", () => {
  let raw: QueueClient;
  let enc: EncryptedQueueClient;
  beforeAll(async () => {
    raw = await newQueue(azurite.connectionString, "sec2");
    enc = new EncryptedQueueClient(raw, policy);
  });

  const constructorCases: [string, () => unknown, RegExp][] = [
    ["policy null", () => new EncryptedQueueClient(raw, null as any), /^policy must be/],
    ["policy a string", () => new EncryptedQueueClient(raw, "key" as any), /^policy must be/],
    ["keyEncryptionKey a string", () => new EncryptedQueueClient(raw, { keyEncryptionKey: "k" as any }), /^policy\.keyEncryptionKey must be/],
    ["keyEncryptionKey without unwrapKey", () => new EncryptedQueueClient(raw, { keyEncryptionKey: { keyId: "a", wrapKey: () => undefined } as any }), /^policy\.keyEncryptionKey must be/],
    ["keyResolver an object", () => new EncryptedQueueClient(raw, { keyResolver: {} as any }), /^policy\.keyResolver must be/],
    ["allowedReadProtocols a string", () => new EncryptedQueueClient(raw, { keyEncryptionKey: kek, allowedReadProtocols: "2.0" as any }), /^policy\.allowedReadProtocols must be an array/],
    ["allowedReadProtocols [2]", () => new EncryptedQueueClient(raw, { keyEncryptionKey: kek, allowedReadProtocols: [2] as any }), /^policy\.allowedReadProtocols/],
    ["requireEncryption \"false\"", () => new EncryptedQueueClient(raw, { keyEncryptionKey: kek, requireEncryption: "false" as any }), /^policy\.requireEncryption must be a boolean/],
    ["maxRegionSize NaN", () => new EncryptedQueueClient(raw, { keyEncryptionKey: kek, maxRegionSize: NaN }), /^policy\.maxRegionSize/],
    ["encryptionVersion 2", () => new EncryptedQueueClient(raw, { keyEncryptionKey: kek, encryptionVersion: 2 as any }), /^policy\.encryptionVersion/],
    ["options null", () => new EncryptedQueueClient(raw, policy, null as any), /^options must be/],
    ["maxMessageLength \"64\"", () => new EncryptedQueueClient(raw, policy, { maxMessageLength: "64" as any }), /^maxMessageLength must be/],
    ["maxMessageLength -1", () => new EncryptedQueueClient(raw, policy, { maxMessageLength: -1 }), /^maxMessageLength must be/],
    ["messageEncoding 5", () => new EncryptedQueueClient(raw, policy, { messageEncoding: 5 as any }), /^messageEncoding must be/],
    ["claimCheck a string", () => new EncryptedQueueClient(raw, policy, { claimCheck: "store" as any }), /^claimCheck must be/],
    ["service client policy [] ", () => new EncryptedQueueServiceClient(QueueServiceClient.fromConnectionString(azurite.connectionString), [] as any), /^policy must be/],
    ["getQueueClient(5)", () => new EncryptedQueueServiceClient(QueueServiceClient.fromConnectionString(azurite.connectionString), policy).getQueueClient(5 as any), /^queueName must be/],
  ];
  for (const [name, make, message] of constructorCases) {
    it(`constructor: ${name}`, async () => {
      const e = await expectCode(make, "INVALID_ARGUMENT");
      expect(e.message).toMatch(message);
    });
  }

  it("send/encrypt/decrypt/update/delete with null, undefined, numbers and objects for text, ids and options", async () => {
    const calls: [() => Promise<unknown>, RegExp][] = [
      [() => enc.sendMessage(null as any), /^message must be a string or a Uint8Array; it is null/],
      [() => enc.sendMessage(undefined as any), /^message must be/],
      [() => enc.sendMessage(42 as any), /^message must be/],
      [() => enc.sendMessage({ text: "x" } as any), /^message must be/],
      [() => enc.sendMessage(["a"] as any), /^message must be/],
      [() => enc.sendMessage("x", null as any), /^options must be/],
      [() => enc.encryptMessageText(null as any), /^message must be/],
      [() => enc.decryptMessageText(null as any), /^messageText must be a string/],
      [() => enc.decryptMessageText(123 as any), /^messageText must be a string/],
      [() => enc.decryptMessageText(undefined as any), /^messageText must be a string/],
      [() => enc.decryptMessageText("x", null as any), /^options must be/],
      [() => enc.updateMessage(42 as any, "r", "x"), /^messageId must be/],
      [() => enc.updateMessage("id", null as any, "x"), /^popReceipt must be/],
      [() => enc.updateMessage("id", "r", null as any), /^message must be/],
      [() => enc.updateMessage("id", "r", "x", -1), /^visibilityTimeout must be/],
      [() => enc.updateMessage("id", "r", "x", "10" as any), /^visibilityTimeout must be/],
      [() => enc.deleteMessage(undefined as any, "r"), /^messageId must be/],
      [() => enc.deleteMessage("id", "r", "x" as any), /^options must be/],
      [() => enc.receiveMessages(null as any), /^options must be/],
      [() => enc.peekMessages("all" as any), /^options must be/],
      [() => enc.receiveMessages({ numberOfMessages: "5" as any }), /^numberOfMessages must be/],
      [() => enc.receiveMessages({ numberOfMessages: 33 }), /^numberOfMessages must be/],
      [() => enc.receiveMessages({ visibilityTimeout: -1 }), /^visibilityTimeout must be/],
      [() => enc.peekMessages({ numberOfMessages: 0 }), /^numberOfMessages must be/],
      [() => encryptQueueMessage("x", null as any), /^policy must be/],
      [() => encryptQueueMessage(null as any, policy), /^message must be/],
      [() => decryptQueueMessage("x", undefined as any), /^policy must be/],
      [() => decryptQueueMessage({} as any, policy), /^messageText must be/],
      [() => decryptQueueMessage("x", policy, { messageEncoding: "hex" as any }), /^messageEncoding must be/],
    ];
    for (const [call, message] of calls) {
      const e = await expectCode(call, "INVALID_ARGUMENT");
      expect(e.message).toMatch(message);
    }
    // Nothing reached the queue.
    expect((await raw.peekMessages({ numberOfMessages: 32 })).peekedMessageItems).toEqual([]);
  });

  it("KEKs whose wrapKey/unwrapKey return the wrong type, and resolvers returning non-keys, are INVALID_ARGUMENT (send, decrypt, receive)", async () => {
    const liar = (wrap: unknown, unwrap: unknown): KeyEncryptionKey => ({
      keyId: kek.keyId,
      defaultWrapAlgorithm: "A256KW",
      wrapKey: async () => wrap as any,
      unwrapKey: async () => unwrap as any,
    });
    for (const wrapped of ["c3RyaW5n", 42, null, { encryptedKey: "abc", keyId: "k" }, { encryptedKey: new Uint8Array(0) }]) {
      const e = await expectCode(() => new EncryptedQueueClient(raw, { keyEncryptionKey: liar(wrapped, undefined) }).sendMessage("x"), "INVALID_ARGUMENT");
      expect(e.message).toMatch(/wrapKey/);
    }
    const text = await enc.encryptMessageText("secret");
    for (const unwrapped of ["0123456789abcdef0123456789abcdef", 7, { key: 1 }, null]) {
      const e = await expectCode(() => decryptQueueMessage(text, { keyEncryptionKey: liar(undefined, unwrapped) }), "INVALID_ARGUMENT");
      expect(e.message).toMatch(/unwrapKey/);
    }
    for (const resolved of [{ keyId: kek.keyId }, 42, "key", Promise.resolve("key"), Promise.resolve({})]) {
      const e = await expectCode(() => decryptQueueMessage(text, { keyResolver: (() => resolved) as any }), "INVALID_ARGUMENT");
      expect(e.message).toMatch(/keyResolver/);
    }
    // Through receive: the failure is per message, with the same code.
    await enc.sendMessage("queued");
    const bad = new EncryptedQueueClient(raw, { keyResolver: (() => Promise.resolve(12)) as any });
    const r = await bad.peekMessages();
    expect(r.peekedMessageItems).toEqual([]);
    expect(r.failures.map((f) => f.error.code)).toEqual(["INVALID_ARGUMENT"]);
    // A resolver with no key for the id is not a caller error.
    expect((await caught(() => decryptQueueMessage(text, { keyResolver: async () => undefined }))).code).toBe("KEY_NOT_FOUND");
  });

  it("a claim-check store whose get returns a string is INVALID_ARGUMENT naming claimCheck.store.get", async () => {
    const stored = new Map<string, Uint8Array>();
    const store: ClaimCheckStore = {
      put: async (n, p) => void stored.set(n, p),
      get: async () => "payload" as any,
      delete: async () => undefined,
    };
    const cc = new EncryptedQueueClient(raw, policy, { claimCheck: { store, thresholdBytes: 0 } });
    const pointer = await cc.encryptMessageText(JSON.stringify({ "azcse.claimCheck": { v: 1, name: "n", size: 7, sha256: "A".repeat(43) + "=" } }));
    const e = await expectCode(() => cc.decryptMessageText(pointer), "INVALID_ARGUMENT");
    expect(e.message).toMatch(/^claimCheck\.store\.get must resolve to a Uint8Array/);
  });
});

describe("class 3: base64 and JSON decoding of queue messages are linear and bounded", () => {
  const MB = 1024 * 1024;

  it("8 and 64 MB EncryptedMessageContents (valid base64, and base64 broken at the end) give typed errors quickly, never a stack overflow", async () => {
    const env = await envelope();
    for (const size of [8 * MB, 64 * MB]) {
      const started = Date.now();
      const big = "A".repeat(size);
      expectOpaque(await caught(() => decryptQueueMessage(JSON.stringify({ ...env, EncryptedMessageContents: big }), policy)));
      const broken = `${big.slice(0, -1)}!`;
      expect((await caught(() => decryptQueueMessage(JSON.stringify({ ...env, EncryptedMessageContents: broken }), policy))).code).toBe("INVALID_ENCRYPTION_DATA");
      expect(Date.now() - started).toBeLessThan(30_000);
    }
  }, 120_000);

  it("multi-megabyte EncryptionData (a huge KeyId, 200k metadata fields) is INVALID_ENCRYPTION_DATA before any key is looked up", async () => {
    const env = await envelope();
    let resolverCalls = 0;
    const reader: ClientSideEncryptionPolicy = { keyResolver: () => (resolverCalls++, kek) };
    const hugeId = structuredClone(env);
    hugeId.EncryptionData.WrappedContentKey.KeyId = "k".repeat(8 * MB);
    const e1 = await caught(() => decryptQueueMessage(JSON.stringify(hugeId), reader));
    expect(e1.code).toBe("INVALID_ENCRYPTION_DATA");
    expect(e1.message.length).toBeLessThan(500);
    const wide = structuredClone(env);
    wide.EncryptionData.KeyWrappingMetadata = Object.fromEntries(Array.from({ length: 200_000 }, (_, i) => [`k${i}`, "v"]));
    expect((await caught(() => decryptQueueMessage(JSON.stringify(wide), reader))).code).toBe("INVALID_ENCRYPTION_DATA");
    expect(resolverCalls).toBe(0);
  }, 60_000);

  it("32 MB of JSON nesting, 64 MB of whitespace, deep nesting inside an envelope: not an envelope: ENCRYPTION_REQUIRED, or returned as plaintext when allowed", async () => {
    const deep = `{"EncryptedMessageContents":${"[".repeat(32 * MB)}`;
    expect((await caught(() => decryptQueueMessage(deep, policy))).code).toBe("ENCRYPTION_REQUIRED");
    const spaces = `${" ".repeat(64 * MB)}{`;
    expect((await caught(() => decryptQueueMessage(spaces, policy))).code).toBe("ENCRYPTION_REQUIRED");
    const plain = await decryptQueueMessage(deep, { ...policy, requireEncryption: false });
    expect(plain.encrypted).toBe(false);
    expect(plain.messageBytes.length).toBe(deep.length);
    // A deep value inside a real envelope: not an envelope either (writers nest 3 levels).
    const env = await envelope();
    const nested = JSON.stringify(env).replace('"EncryptionAgent":', `"Deep":${"[".repeat(8 * MB)}${"]".repeat(8 * MB)},"EncryptionAgent":`);
    expect((await caught(() => decryptQueueMessage(nested, policy))).code).toBe("ENCRYPTION_REQUIRED");
  }, 60_000);

  it("a 3 MB authenticated payload under messageEncoding \"base64\" decodes correctly (linear decode of the inner base64)", async () => {
    const payload = Buffer.alloc(3 * MB, 0x5a);
    const text = await encryptQueueMessage(payload, policy, { messageEncoding: "base64", maxMessageLength: 64 * MB });
    const d = await decryptQueueMessage(text, policy, { messageEncoding: "base64" });
    expect(d.messageBytes.equals(payload)).toBe(true);
  }, 60_000);
});

describe("class 5: values from stored messages are escaped in every error message", () => {
  it("a KeyId with control and bidi characters: KEY_NOT_FOUND / KID_MISMATCH messages carry it escaped", async () => {
    const env = await envelope();
    env.EncryptionData.WrappedContentKey.KeyId = HOSTILE;
    const text = JSON.stringify(env);
    for (const reader of [{ keyResolver: async () => undefined }, { keyEncryptionKey: otherKek }, {}] as ClientSideEncryptionPolicy[]) {
      const e = await caught(() => decryptQueueMessage(text, reader));
      expect(["KEY_NOT_FOUND", "KID_MISMATCH"]).toContain(e.code);
      expect(e.message).not.toMatch(UNSAFE);
    }
  });

  it("a Protocol with terminal escapes: UNSUPPORTED_PROTOCOL with an escaped message", async () => {
    const env = await envelope();
    env.EncryptionData.EncryptionAgent.Protocol = "\u001b]0;title\u0007\u009b2J";
    const e = await caught(() => decryptQueueMessage(JSON.stringify(env), policy));
    expect(e.code).toBe("UNSUPPORTED_PROTOCOL");
    expect(e.message).not.toMatch(UNSAFE);
  });

  it("on Azurite: receive failures for hostile stored key ids have clean messages; a hostile claim-check name too", async () => {
    const raw = await newQueue(azurite.connectionString, "sec5");
    const env = await envelope();
    env.EncryptionData.WrappedContentKey.KeyId = HOSTILE;
    await raw.sendMessage(JSON.stringify(env));
    const r = await new EncryptedQueueClient(raw, { keyEncryptionKey: otherKek }).receiveMessages();
    expect(r.failures).toHaveLength(1);
    expect(r.failures[0]!.error.message).not.toMatch(UNSAFE);

    const store: ClaimCheckStore = { put: async () => undefined, get: async () => undefined, delete: async () => undefined };
    const cc = new EncryptedQueueClient(raw, policy, { claimCheck: { store } });
    const pointer = await cc.encryptMessageText(JSON.stringify({ "azcse.claimCheck": { v: 1, name: HOSTILE, size: 1, sha256: "A".repeat(43) + "=" } }));
    const e = await caught(() => cc.decryptMessageText(pointer));
    expect(e.code).toBe("NOT_FOUND");
    expect(e.message).not.toMatch(UNSAFE);
    const noStore = await caught(() => new EncryptedQueueClient(raw, policy).decryptMessageText(pointer));
    expect(noStore.code).toBe("UNSUPPORTED_OPERATION");
    expect(noStore.message).not.toMatch(UNSAFE);
  });
});
