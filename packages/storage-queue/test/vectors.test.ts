// The Python SDK (azure-storage-queue 12.6.0b1) vectors: every positive case decrypts to its plaintext with the
// matching message encoding; every queue negative fails with a typed error, never plaintext.
import { describe, expect, it } from "vitest";
import { createLocalKeyResolver, parseEncryptionData, unwrapContentKey } from "@azure-cse/core-envelope";
import { decryptQueueMessage, isEncryptedMessageText } from "@azure-cse/storage-queue";
import { expectCode, expectedPayload, manifestKeks, manifestResolver, queueCases, queueNegativeCases, type QueueCase } from "./helpers.js";

const encodingOf = (c: { encode_policy: string }): "none" | "base64" => (c.encode_policy === "none" ? "none" : "base64");
const encrypted = queueCases().filter((c) => c.stored.encrypted);
const unencrypted = queueCases().filter((c) => !c.stored.encrypted);

describe("Python queue vectors (kind queue)", () => {
  it("the vector set has queue cases for 1.0 and 2.0, every encode policy, A256KW and RSA-OAEP", () => {
    const cases = queueCases();
    expect(cases.length).toBe(20);
    expect(new Set(cases.map((c) => c.protocol))).toEqual(new Set(["1.0", "2.0"]));
    expect(new Set(cases.map((c) => c.encode_policy))).toEqual(new Set(["none", "text_base64", "binary_base64"]));
    expect(new Set(cases.map((c) => c.kek_kid))).toEqual(new Set(["local:shared-a256kw", "local:shared-rsa-oaep"]));
    expect(queueNegativeCases().length).toBeGreaterThanOrEqual(2);
  });

  it.each(encrypted.map((c) => [c.id, c] as [string, QueueCase]))("%s decrypts to the exact plaintext", async (_id, c) => {
    expect(isEncryptedMessageText(c.stored.message_text)).toBe(true);
    const out = await decryptQueueMessage(c.stored.message_text, { keyResolver: manifestResolver() }, { messageEncoding: encodingOf(c) });
    expect(out.encrypted).toBe(true);
    expect(out.protocol).toBe(c.protocol);
    expect(out.keyId).toBe(c.kek_kid);
    expect(out.messageBytes.equals(expectedPayload(c))).toBe(true);
    if (c.plaintext.text !== undefined) expect(out.messageText).toBe(c.plaintext.text);
  });

  it.each(encrypted.filter((c) => c.encode_policy !== "none").map((c) => [c.id, c] as [string, QueueCase]))(
    "%s: Python encodes before encrypting, so with messageEncoding none the plaintext is the base64 text (quirk Q2)",
    async (_id, c) => {
      const out = await decryptQueueMessage(c.stored.message_text, { keyResolver: manifestResolver() }, { messageEncoding: "none" });
      expect(out.messageText).toBe(c.debug!.encrypted_plaintext_utf8);
      expect(out.messageText).toBe(expectedPayload(c).toString("base64"));
    },
  );

  it.each(encrypted.map((c) => [c.id, c] as [string, QueueCase]))("%s: the unwrapped content key equals the vector's debug CEK", async (_id, c) => {
    const env = JSON.parse(c.stored.message_text);
    const data = parseEncryptionData(env.EncryptionData);
    const cek = await unwrapContentKey(data, { keyResolver: manifestResolver() });
    expect(cek.toString("base64")).toBe(c.debug!.cek_b64);
  });

  it.each(unencrypted.map((c) => [c.id, c] as [string, QueueCase]))(
    "%s: Python stores the empty message unencrypted (Q4); requireEncryption refuses it, allowing plaintext reads gives the empty text",
    async (_id, c) => {
      expect(c.stored.message_text).toBe("");
      await expectCode(() => decryptQueueMessage(c.stored.message_text, { keyResolver: manifestResolver() }), "ENCRYPTION_REQUIRED");
      const out = await decryptQueueMessage(c.stored.message_text, { keyResolver: manifestResolver(), requireEncryption: false }, { messageEncoding: encodingOf(c) });
      expect(out).toMatchObject({ encrypted: false, messageText: "" });
      expect(out.messageBytes.length).toBe(0);
    },
  );

  it("a message whose key id is not known to the resolver fails with KEY_NOT_FOUND", async () => {
    const c = encrypted[0]!;
    const onlyOther = createLocalKeyResolver(manifestKeks().filter((k) => k.keyId !== c.kek_kid));
    await expectCode(() => decryptQueueMessage(c.stored.message_text, { keyResolver: onlyOther }, { messageEncoding: encodingOf(c) }), "KEY_NOT_FOUND");
  });
});

describe("Python queue vectors (kind negative, target queue)", () => {
  const expected: Record<string, string> = { integrity: "DECRYPTION_FAILED", unknown_kek: "KEY_NOT_FOUND" };
  it.each(queueNegativeCases().map((c) => [c.id, c] as const))("%s is refused with a typed error", async (_id, c) => {
    const code = expected[c.error_category];
    expect(code, `no expectation for category ${c.error_category}`).toBeDefined();
    const e = await expectCode(
      () => decryptQueueMessage(c.stored.message_text, { keyResolver: manifestResolver() }, { messageEncoding: encodingOf(c) }),
      code as never,
    );
    expect(e.message).not.toContain(c.stored.message_text.slice(30, 60));
  });
});
