// @azure-cse/data-tables/web in Node (Web Crypto): the browser entry and the Node entry read each other's
// entities (IVs, name list and EncryptionData of the legacy format), legacy Java order, typed errors. The browser
// round trip through the official TableClient and Azurite, and the Python SDK, are in examples/browser.
import { describe, expect, it } from "vitest";
import { typedErrorAssertions } from "@azure-cse/testkit/assertions";
import { AesKeyWrapKey, ClientSideEncryptionError, RsaKey, createLocalKeyResolver, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { decryptEntity, encryptEntity, METADATA1, METADATA2 } from "@azure-cse/data-tables";
import { decryptWebEntity, encryptWebEntity } from "@azure-cse/data-tables/web";

const aes = AesKeyWrapKey.generate("local:t-web-aes");
const rsa = RsaKey.generate("local:t-web-rsa", 2048, "RSA-OAEP");
const policy: ClientSideEncryptionPolicy = { keyEncryptionKey: aes, keyResolver: createLocalKeyResolver([aes, rsa]) };
const entity = { partitionKey: "pk ü", rowKey: "rk1", ssn: "123-45-6789", note: "emoji 😀", empty: "", plain: "visible", n: 42 };

const { codeOf } = typedErrorAssertions(ClientSideEncryptionError);

describe("data-tables/web", () => {
  it("web-written entities: the Node entry decrypts them; same stored shape as the Node writer", async () => {
    const w = await encryptWebEntity(entity, policy, { encryptedProperties: ["ssn", "empty"], encryptionResolver: (_p, _r, n) => n === "note" });
    expect(w.encryptedProperties).toEqual(["ssn", "note", "empty"]);
    expect(w.entity.ssn).toBeInstanceOf(Uint8Array);
    expect((w.entity.empty as Uint8Array).length).toBe(16);
    expect(w.entity.plain).toBe("visible");
    expect({ ...(await decryptEntity(w.entity, policy)) }).toEqual(entity);
    const n = await encryptEntity(entity, policy, { encryptedProperties: ["ssn", "empty", "note"] });
    expect(Object.keys(JSON.parse(w.entity[METADATA1] as string))).toEqual(Object.keys(JSON.parse(n.entity[METADATA1] as string)));
    expect((w.entity[METADATA2] as Uint8Array).length).toBe((n.entity[METADATA2] as Uint8Array).length);
  });

  it("Node-written entities (A256KW, RSA-OAEP; typed-value shapes) decrypt in the web entry", async () => {
    for (const kek of [aes, rsa]) {
      const n = await encryptEntity(entity, { keyEncryptionKey: kek }, { encryptedProperties: ["ssn", "note", "empty"] });
      expect({ ...(await decryptWebEntity(n.entity, policy)) }).toEqual(entity);
      // The SDK's disableTypeConversion shape: binary as { value: base64, type: "Binary" }.
      const typed = Object.fromEntries(Object.entries(n.entity).map(([k, v]) => [k, v instanceof Uint8Array ? { value: Buffer.from(v).toString("base64"), type: "Binary" } : v]));
      expect((await decryptWebEntity(typed, policy, { typedValues: true })).ssn).toEqual({ value: "123-45-6789", type: "String" });
    }
  });

  it("tampered ciphertext, a swapped row key, one metadata property alone, plaintext and non-string selections are typed errors", async () => {
    const w = (await encryptWebEntity(entity, policy, { encryptedProperties: ["ssn"] })).entity;
    const flipped = Uint8Array.from(w.ssn as Uint8Array);
    flipped[flipped.length - 1]! ^= 1;
    expect(await codeOf(decryptWebEntity({ ...w, ssn: flipped }, policy))).toBe("DECRYPTION_FAILED");
    expect(await codeOf(decryptWebEntity({ ...w, rowKey: "other" }, policy))).toBe("DECRYPTION_FAILED");
    const { [METADATA2]: _m2, ...only1 } = w;
    expect(await codeOf(decryptWebEntity(only1, policy))).toBe("DECRYPTION_FAILED");
    expect(await codeOf(decryptWebEntity({ partitionKey: "a", rowKey: "b", x: "y" }, policy))).toBe("ENCRYPTION_REQUIRED");
    expect(await codeOf(encryptWebEntity(entity, policy, { encryptedProperties: ["n"] }))).toBe("INVALID_ARGUMENT");
    expect(await codeOf(encryptWebEntity(entity, policy, { encryptedProperties: ["rowKey"] }))).toBe("INVALID_ARGUMENT");
  });
});
