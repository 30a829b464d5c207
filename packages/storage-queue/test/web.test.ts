// @azure-cse/storage-queue/web in Node (Web Crypto): the browser entry and the Node entry read each other's
// messages (2.0 both ways, 1.0 Node → web), .NET's nonce, size limits and typed errors. The browser round trip
// through the official QueueClient and Azurite, and Python reading/writing, are in examples/browser.
import { describe, expect, it } from "vitest";
import { typedErrorAssertions } from "@azure-cse/testkit/assertions";
import { AesKeyWrapKey, ClientSideEncryptionError, RsaKey, createLocalKeyResolver, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { decryptQueueMessage, encryptQueueMessage, QUEUE_V2_NONCE } from "@azure-cse/storage-queue";
import { decryptWebQueueMessage, encryptWebQueueMessage, isWebEncryptedMessageText } from "@azure-cse/storage-queue/web";

const aes = AesKeyWrapKey.generate("local:q-web-aes");
const rsa = RsaKey.generate("local:q-web-rsa", 2048, "RSA-OAEP");
const policy: ClientSideEncryptionPolicy = { keyEncryptionKey: aes, keyResolver: createLocalKeyResolver([aes, rsa]) };
const texts = ["", "plain ascii", "emoji 😀 CJK 中文", '{"json":1}', "x".repeat(47 * 1024)];

const { codeOf } = typedErrorAssertions(ClientSideEncryptionError);

describe("storage-queue/web", () => {
  it("web-written 2.0 messages: the Node entry reads them; envelope shape, .NET nonce and EncryptionData match the Node writer's", async () => {
    for (const t of texts) {
      for (const encoding of ["none", "base64"] as const) {
        if (encoding === "base64" && t.length > 30_000) continue;
        const text = await encryptWebQueueMessage(t, policy, { messageEncoding: encoding });
        expect(isWebEncryptedMessageText(text)).toBe(true);
        const node = await decryptQueueMessage(text, policy, { messageEncoding: encoding });
        expect(node.messageText).toBe(t);
        expect(node.protocol).toBe("2.0");
        const env = JSON.parse(text);
        expect(Object.keys(env)).toEqual(["EncryptedMessageContents", "EncryptionData"]);
        expect(Buffer.from(env.EncryptedMessageContents, "base64").subarray(0, 12).toString("hex")).toBe(QUEUE_V2_NONCE);
        const nodeEnv = JSON.parse(await encryptQueueMessage(t, policy, { messageEncoding: encoding }));
        expect(Object.keys(env.EncryptionData)).toEqual(Object.keys(nodeEnv.EncryptionData));
        expect(env.EncryptedMessageContents.length).toBe(nodeEnv.EncryptedMessageContents.length);
      }
    }
  });

  it("Node-written 2.0 (A256KW, RSA-OAEP) and 1.0 messages decrypt in the web entry, text and bytes", async () => {
    const bytes = new Uint8Array(Array.from({ length: 256 }, (_, i) => i));
    for (const kek of [aes, rsa]) {
      for (const v of ["2.0", "1.0"] as const) {
        const p: ClientSideEncryptionPolicy = { keyEncryptionKey: kek, encryptionVersion: v, allowDeprecatedV1Encryption: true };
        for (const t of texts) expect((await decryptWebQueueMessage(await encryptQueueMessage(t, p), policy)).messageText).toBe(t);
        const r = await decryptWebQueueMessage(await encryptQueueMessage(bytes, p, { messageEncoding: "base64" }), policy, { messageEncoding: "base64" });
        expect([...r.messageBytes]).toEqual([...bytes]);
        expect(r).toMatchObject({ encrypted: true, protocol: v, keyId: kek.keyId });
      }
    }
  });

  it("tampering, plaintext, oversize and 2.1 are typed errors", async () => {
    const text = await encryptWebQueueMessage("secret", policy);
    const env = JSON.parse(text);
    const c = Buffer.from(env.EncryptedMessageContents, "base64");
    c[14]! ^= 1;
    expect(await codeOf(decryptWebQueueMessage(JSON.stringify({ ...env, EncryptedMessageContents: c.toString("base64") }), policy))).toBe("DECRYPTION_FAILED");
    expect(await codeOf(decryptWebQueueMessage("hello", policy))).toBe("ENCRYPTION_REQUIRED");
    expect((await decryptWebQueueMessage("hello", { ...policy, requireEncryption: false })).messageText).toBe("hello");
    expect(await codeOf(encryptWebQueueMessage("x".repeat(48 * 1024), policy))).toBe("PAYLOAD_TOO_LARGE");
    expect(await codeOf(encryptWebQueueMessage("x", { ...policy, encryptionVersion: "2.1" }))).toBe("UNSUPPORTED_OPERATION");
    expect(await codeOf(decryptWebQueueMessage(text, { keyResolver: createLocalKeyResolver([rsa]) }))).toBe("KEY_NOT_FOUND");
  });
});
