// Messages sent and then updated by @azure-cse/storage-queue/web (Web Crypto keys) received and decrypted by the
// Python SDK (azure-storage-queue) through Azurite: the updated content (a fresh content key) under A256KW and
// RSA-OAEP, with the "none" and Python's encode-then-encrypt base64 encodings. Never skipped: assertPythonPeer()
// fails with the install command.
import { createPrivateKey } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebAesKeyWrapKey, WebRsaKey, type KeyEncryptionKey } from "@azure-cse/core-envelope/web";
import { WebEncryptedQueueClient } from "@azure-cse/storage-queue/web";
import { assertPythonPeer, runPython, startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { PY, manifestKek, newQueue } from "./helpers.js";

const aesSpec = manifestKek("local:shared-a256kw");
const rsaSpec = manifestKek("local:shared-rsa-oaep");

let azurite: AzuriteHandle;
beforeAll(async () => {
  assertPythonPeer();
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.stop();
});

describe("storage-queue/web updateMessage → Python SDK receives", () => {
  it.each([
    { kek: "aes", encoding: "none" },
    { kek: "aes", encoding: "text_base64" },
    { kek: "rsa", encoding: "none" },
  ] as const)("$kek, $encoding: Python decrypts the updated content", async ({ kek, encoding }) => {
    const key: KeyEncryptionKey =
      kek === "aes"
        ? await WebAesKeyWrapKey.fromRaw(aesSpec.kid, Buffer.from(aesSpec.key_b64, "base64"))
        : await WebRsaKey.fromJwk(rsaSpec.kid, createPrivateKey(rsaSpec.private_key_pkcs8_pem!).export({ format: "jwk" }) as Record<string, unknown>, "RSA-OAEP");
    const raw = await newQueue(azurite.connectionString, "qwpy");
    const web = new WebEncryptedQueueClient(raw, { keyEncryptionKey: key }, { messageEncoding: encoding === "none" ? "none" : "base64" });
    await web.sendMessage("original");
    const [m] = await web.receiveMessages();
    await web.updateMessage(m!.messageId, m!.popReceipt!, "updated in the browser ü 😀", 0);
    const pyKek = kek === "aes" ? { type: "aes", kid: aesSpec.kid, key_b64: aesSpec.key_b64 } : { type: "rsa", kid: rsaSpec.kid, pem: rsaSpec.private_key_pkcs8_pem };
    const got = await runPython<{ id: string; text: string | null }[]>(PY, { cs: azurite.connectionString, queue: raw.name, kek: pyKek, protocol: "2.0", encoding, op: "receive" });
    expect(got.map((g) => [g.id, g.text])).toEqual([[m!.messageId, "updated in the browser ü 😀"]]);
  });
});
