// Issue 14 (security hardening), Key Vault part: unwrap failures are the one opaque DECRYPTION_FAILED,
// bad caller values are INVALID_ARGUMENT naming the option, and stored values are escaped in messages.
// Runs against the local Key Vault (tools/local-keyvault) with the real @azure/keyvault-keys client.
/* eslint-disable @typescript-eslint/no-explicit-any -- the queue/table packages are loaded untyped (see services.test.ts) */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KeyClient } from "@azure/keyvault-keys";
import {
  AesKeyWrapKey,
  ClientSideEncryptionError,
  DECRYPTION_FAILED_MESSAGE,
  createContentEncryption,
  parseEncryptionData,
  unwrapContentKey,
  type ClientSideEncryptionPolicy,
  type EncryptionData,
} from "@azure-cse/core-envelope";
import { ContentKeyCache, KeyVaultKeyEncryptionKey, createKeyVaultKeyResolver, withContentKeyCache } from "@azure-cse/keyvault";
import { typedErrorAssertions } from "@azure-cse/testkit/assertions";
import { startLocalKeyVault, staticTokenCredential, type LocalKeyVault } from "../../../tools/local-keyvault/index.mjs";

let kv: LocalKeyVault;
let keys: KeyClient;
let rsaKid: string;
let octKid: string;
beforeAll(async () => {
  kv = await startLocalKeyVault();
  keys = new KeyClient(kv.vaultUrl, kv.credential, kv.clientOptions);
  rsaKid = (await keys.createRsaKey("sec-rsa", { keySize: 2048 })).id!;
  octKid = kv.createKeyDirect("sec-oct", { kty: "oct-HSM", size: 256 });
});
afterAll(async () => {
  await kv?.stop();
});

const kekFor = (keyId: string) => new KeyVaultKeyEncryptionKey(keyId, kv.credential, { clientOptions: { ...kv.clientOptions, retryOptions: { maxRetries: 0 } } });
const resolverFor = () => createKeyVaultKeyResolver(kv.credential, { clientOptions: { ...kv.clientOptions, retryOptions: { maxRetries: 0 } } });
const load = (specifier: string): Promise<any> => import(specifier);
// eslint-disable-next-line no-control-regex -- the point: no raw C0/DEL/C1 characters in messages
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

const { caught } = typedErrorAssertions(ClientSideEncryptionError);

/** The one decryption failure: code, message, no details, no cause (what a local key gives). */
function expectOpaque(e: ClientSideEncryptionError): void {
  expect(e.code).toBe("DECRYPTION_FAILED");
  expect(e.message).toBe(DECRYPTION_FAILED_MESSAGE);
  expect(e.details).toEqual({});
  expect(e.cause).toBeUndefined();
}

async function sealedData(policy: ClientSideEncryptionPolicy, protocol: "2.0" | "1.0" = "2.0"): Promise<EncryptionData> {
  const enc = await createContentEncryption(protocol === "1.0" ? { ...policy, encryptionVersion: "1.0", allowDeprecatedV1Encryption: true } : policy);
  const data = parseEncryptionData(enc.toJson(true));
  enc.dispose();
  return data;
}

function withEncryptedKey(data: EncryptionData, encryptedKey: Uint8Array, keyId = data.wrappedContentKey.keyId): EncryptionData {
  return { ...data, wrappedContentKey: { ...data.wrappedContentKey, encryptedKey, keyId } };
}

describe("class 6: a Key Vault unwrap of bad wrapped bytes is the same opaque DECRYPTION_FAILED as a local key", () => {
  it("tampered, truncated, extended and random EncryptedKey (RSA-OAEP, RSA-OAEP-256) → DECRYPTION_FAILED through the core, identical to AesKeyWrapKey's", async () => {
    const local = AesKeyWrapKey.generate("local");
    const localData = await sealedData({ keyEncryptionKey: local });
    const flipped = Buffer.from(localData.wrappedContentKey.encryptedKey);
    flipped[3]! ^= 1;
    const localError = await caught(unwrapContentKey(withEncryptedKey(localData, flipped), { keyEncryptionKey: local }));
    expectOpaque(localError);

    for (const alg of ["RSA-OAEP", "RSA-OAEP-256"] as const) {
      const kek = kekFor(rsaKid);
      const policy: ClientSideEncryptionPolicy = { keyEncryptionKey: kek, keyWrapAlgorithm: alg };
      const data = await sealedData(policy);
      const good = Buffer.from(data.wrappedContentKey.encryptedKey);
      expect((await unwrapContentKey(data, policy)).length).toBe(32);
      const variants: Buffer[] = [];
      for (const i of [0, 100, good.length - 1]) {
        const b = Buffer.from(good);
        b[i]! ^= 0x80;
        variants.push(b);
      }
      variants.push(good.subarray(0, good.length - 1), Buffer.concat([good, Buffer.from([0])]), randomBytes(good.length), Buffer.from([1]));
      kv.resetCounters();
      for (const v of variants) {
        const e = await caught(unwrapContentKey(withEncryptedKey(data, v), policy));
        expectOpaque(e);
        expect({ code: e.code, message: e.message, details: e.details }).toEqual({ code: localError.code, message: localError.message, details: localError.details });
      }
      // Each variant really went to the vault and came back 400.
      expect(kv.count("unwrapKey", { status: 400 })).toBe(variants.length);
    }
  });

  it("a tampered EncryptedKey under an oct-HSM key (A256KW) → DECRYPTION_FAILED", async () => {
    const kek = new KeyVaultKeyEncryptionKey(octKid, kv.credential, { clientOptions: kv.clientOptions, defaultWrapAlgorithm: "A256KW" });
    const data = await sealedData({ keyEncryptionKey: kek });
    const b = Buffer.from(data.wrappedContentKey.encryptedKey);
    b[10]! ^= 4;
    expectOpaque(await caught(unwrapContentKey(withEncryptedKey(data, b), { keyEncryptionKey: kek })));
    expectOpaque(await caught(kek.unwrapKey("A256KW", b)));
  });

  it("a versionless stored id after rotation (Key Vault unwraps with the new version) → DECRYPTION_FAILED, the documented decision", async () => {
    await keys.createRsaKey("sec-rotated");
    const versionless = kv.keyId("sec-rotated");
    const w = await kekFor(versionless).wrapKey("RSA-OAEP", randomBytes(32));
    await keys.rotateKey("sec-rotated");
    expectOpaque(await caught(kekFor(versionless).unwrapKey("RSA-OAEP", w.encryptedKey)));
    // The versioned kid that was actually stored still reads.
    expect((await kekFor(w.keyId).unwrapKey("RSA-OAEP", w.encryptedKey)).length).toBe(32);
  });

  it("a tampered EncryptedKey through the resolver, the content-key cache, a queue message and a table entity → DECRYPTION_FAILED; failures are not cached", async () => {
    const resolver = createKeyVaultKeyResolver(kv.credential, { clientOptions: kv.clientOptions, contentKeyCache: true });
    const policy: ClientSideEncryptionPolicy = { keyEncryptionKey: resolver.getKeyEncryptionKey(kv.keyId("sec-rsa")), keyResolver: resolver };
    const data = await sealedData(policy);
    const b = Buffer.from(data.wrappedContentKey.encryptedKey);
    b[7]! ^= 2;
    const reader: ClientSideEncryptionPolicy = { keyResolver: resolver };
    kv.resetCounters();
    expectOpaque(await caught(unwrapContentKey(withEncryptedKey(data, b), reader)));
    expectOpaque(await caught(unwrapContentKey(withEncryptedKey(data, b), reader)));
    expect(kv.count("unwrapKey", { status: 400 })).toBe(2);

    const queue = await load("@azure-cse/storage-queue");
    const text: string = await queue.encryptQueueMessage("hello", policy);
    const envelope = JSON.parse(text);
    const ek = Buffer.from(envelope.EncryptionData.WrappedContentKey.EncryptedKey, "base64");
    ek[20]! ^= 1;
    envelope.EncryptionData.WrappedContentKey.EncryptedKey = ek.toString("base64");
    expectOpaque(await caught(queue.decryptQueueMessage(JSON.stringify(envelope), reader)));
    // Empty content: the key is still unwrapped, so a forged key fails.
    envelope.EncryptedMessageContents = "";
    expectOpaque(await caught(queue.decryptQueueMessage(JSON.stringify(envelope), reader)));

    const tables = await load("@azure-cse/data-tables");
    const { entity } = await tables.encryptEntity({ partitionKey: "p", rowKey: "r", secret: "s" }, policy, { encryptedProperties: ["secret"] });
    const m1 = JSON.parse(entity._ClientEncryptionMetadata1);
    const tek = Buffer.from(m1.WrappedContentKey.EncryptedKey, "base64");
    tek[30]! ^= 1;
    m1.WrappedContentKey.EncryptedKey = tek.toString("base64");
    expectOpaque(await caught(tables.decryptEntity({ ...entity, _ClientEncryptionMetadata1: JSON.stringify(m1) }, reader)));
  });

  it("genuine service errors keep their own codes through the core: 404 KEY_NOT_FOUND, 403/401/500 KEY_OPERATION_FAILED", async () => {
    const data = await sealedData({ keyEncryptionKey: kekFor(rsaKid) });
    const missing = `${kv.vaultUrl}/keys/sec-missing/0123456789abcdef0123456789abcdef`;
    const notFound = await caught(unwrapContentKey(withEncryptedKey(data, data.wrappedContentKey.encryptedKey, missing), { keyEncryptionKey: kekFor(missing) }));
    expect(notFound.code).toBe("KEY_NOT_FOUND");
    expect(notFound.details).toMatchObject({ statusCode: 404 });

    kv.setPermissions("sec-get-only", ["get"]);
    const forbidden = new KeyVaultKeyEncryptionKey(rsaKid, staticTokenCredential("sec-get-only"), { clientOptions: kv.clientOptions });
    const e403 = await caught(unwrapContentKey(data, { keyEncryptionKey: forbidden }));
    expect(e403.code).toBe("KEY_OPERATION_FAILED");
    expect(e403.details).toMatchObject({ statusCode: 403 });

    const unknownToken = new KeyVaultKeyEncryptionKey(rsaKid, staticTokenCredential("sec-unknown"), { clientOptions: kv.clientOptions });
    expect((await caught(unwrapContentKey(data, { keyEncryptionKey: unknownToken }))).details).toMatchObject({ statusCode: 401 });

    const kek = kekFor(rsaKid);
    expect((await unwrapContentKey(data, { keyEncryptionKey: kek })).length).toBe(32); // warm: the key lookup is done
    kv.injectFault({ route: "unwrapKey", status: 500, times: 1 });
    const e500 = await caught(unwrapContentKey(data, { keyEncryptionKey: kek }));
    expect(e500.code).toBe("KEY_OPERATION_FAILED");
    expect(e500.details).toMatchObject({ statusCode: 500 });
  });
});

describe("class 2: bad caller values to the Key Vault KEK and resolver are INVALID_ARGUMENT naming the option", () => {
  const cases: [string, () => unknown, RegExp][] = [
    ["keyId number", () => new KeyVaultKeyEncryptionKey(42 as any, kv.credential), /^keyId must be/],
    ["keyId null", () => new KeyVaultKeyEncryptionKey(null as any, kv.credential), /^keyId must be/],
    ["keyId not a key id", () => new KeyVaultKeyEncryptionKey("https://x.vault.azure.net/secrets/a", kv.credential), /^keyId "https/],
    ["credential missing", () => new KeyVaultKeyEncryptionKey(rsaKid, undefined as any), /^credential must be/],
    ["credential a string", () => new KeyVaultKeyEncryptionKey(rsaKid, "token" as any), /^credential must be/],
    ["options null", () => new KeyVaultKeyEncryptionKey(rsaKid, kv.credential, null as any), /^options must be/],
    ["keyRefreshIntervalInMs NaN", () => new KeyVaultKeyEncryptionKey(rsaKid, kv.credential, { keyRefreshIntervalInMs: NaN }), /^keyRefreshIntervalInMs/],
    ["contentKeyCache a string", () => new KeyVaultKeyEncryptionKey(rsaKid, kv.credential, { contentKeyCache: "yes" as any }), /^contentKeyCache/],
    ["defaultWrapAlgorithm a number", () => new KeyVaultKeyEncryptionKey(rsaKid, kv.credential, { defaultWrapAlgorithm: 5 as any }), /^defaultWrapAlgorithm must be/],
    ["defaultWrapAlgorithm RSA1_5", () => new KeyVaultKeyEncryptionKey(rsaKid, kv.credential, { defaultWrapAlgorithm: "RSA1_5" as any }), /RSA1_5/],
    ["fromCryptographyClient({})", () => KeyVaultKeyEncryptionKey.fromCryptographyClient({} as any), /^client must be/],
    ["resolver credential missing", () => createKeyVaultKeyResolver(undefined as any), /^credential must be/],
    ["resolver allowedVaults a string", () => createKeyVaultKeyResolver(kv.credential, { allowedVaults: "https://a.vault.azure.net" as any }), /^allowedVaults must be an array/],
    ["resolver allowedVaults [5]", () => createKeyVaultKeyResolver(kv.credential, { allowedVaults: [5 as any] }), /^allowedVaults must be an array/],
    ["resolver ttlInMs NaN", () => createKeyVaultKeyResolver(kv.credential, { ttlInMs: NaN }), /ttlInMs/],
    ["resolver maxEntries 1.5", () => createKeyVaultKeyResolver(kv.credential, { maxEntries: 1.5 }), /maxEntries/],
    ["resolver defaultWrapAlgorithm unknown", () => createKeyVaultKeyResolver(kv.credential, { defaultWrapAlgorithm: "AES" as any }), /^defaultWrapAlgorithm "AES"/],
    ["resolver options null", () => createKeyVaultKeyResolver(kv.credential, null as any), /^options must be/],
    ["getKeyEncryptionKey(null)", () => resolverFor().getKeyEncryptionKey(null as any), /^keyId must be/],
    ["withContentKeyCache(null, cache)", () => withContentKeyCache(null as any, new ContentKeyCache()), /^kek must be/],
    ["withContentKeyCache(kek, {})", () => withContentKeyCache(kekFor(rsaKid), {} as any), /^cache must be/],
    ["ContentKeyCache(null)", () => new ContentKeyCache(null as any), /options must be/],
  ];
  for (const [name, make, message] of cases) {
    it(`${name} → INVALID_ARGUMENT`, async () => {
      const e = await caught(make);
      expect(e.code).toBe("INVALID_ARGUMENT");
      expect(e.message).toMatch(message);
    });
  }

  it("wrapKey/unwrapKey with a non-string algorithm, a string key, a string encryptedKey or null options → INVALID_ARGUMENT before any request", async () => {
    const kek = kekFor(rsaKid);
    kv.resetCounters();
    const calls: [() => Promise<unknown>, RegExp][] = [
      [() => kek.wrapKey(7 as any, randomBytes(32)), /^algorithm must be/],
      [() => kek.wrapKey("RSA-OAEP", "secret-key-text" as any), /^key must be/],
      [() => kek.wrapKey("RSA-OAEP", new Uint8Array(0)), /^key must be/],
      [() => kek.wrapKey("RSA-OAEP", randomBytes(32), null as any), /^options must be/],
      [() => kek.wrapKey("RSA-OAEP", randomBytes(32), { abortSignal: "now" as any }), /abortSignal/],
      [() => kek.unwrapKey(null as any, randomBytes(256)), /^algorithm must be/],
      [() => kek.unwrapKey("RSA-OAEP", Buffer.from("AAAA").toString("base64") as any), /^encryptedKey must be/],
      [() => kek.unwrapKey("RSA-OAEP", randomBytes(256), null as any), /^options must be/],
    ];
    for (const [call, message] of calls) {
      const e = await caught(call);
      expect(e.code).toBe("INVALID_ARGUMENT");
      expect(e.message).toMatch(message);
    }
    expect(kv.count("*")).toBe(0);
  });

  it("the resolver called with a non-string key id → INVALID_ARGUMENT (the core always passes the stored string)", async () => {
    const e = await caught(resolverFor()(123 as any));
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect(e.message).toMatch(/^keyId must be/);
  });
});

describe("class 5: stored values that reach Key Vault error messages are escaped", () => {
  it("a stored algorithm with control characters → INVALID_ENCRYPTION_DATA whose message quotes it escaped", async () => {
    const e = await caught(kekFor(rsaKid).unwrapKey("RSA\u0000\u001b[31m\u009b\u2028", randomBytes(256)));
    expect(e.code).toBe("INVALID_ENCRYPTION_DATA");
    expect(e.message).not.toMatch(CONTROL);
    expect(e.message).not.toContain("\u2028");
    expect(e.message).toContain("\\u001b[31m");
    expect(e.message).toContain("\\u009b");
  });

  it("stored key ids with whitespace or control characters are not Key Vault ids: the resolver returns nothing and sends no request", async () => {
    const resolver = resolverFor();
    kv.resetCounters();
    for (const bad of [`${kv.vaultUrl}/keys/sec\trsa`, `${kv.vaultUrl}/keys/sec-rsa\n`, `${kv.vaultUrl}/keys/sec\u0000rsa`, ` ${rsaKid}`, `${rsaKid}\u0085`]) {
      expect(await resolver(bad)).toBeUndefined();
      const e = await caught(() => new KeyVaultKeyEncryptionKey(bad, kv.credential));
      expect(e.code).toBe("INVALID_ARGUMENT");
      expect(e.message).not.toMatch(CONTROL);
    }
    // Through the core: KEY_NOT_FOUND, and its message (core-owned) is what the service packages escape.
    const data = await sealedData({ keyEncryptionKey: kekFor(rsaKid) });
    kv.resetCounters();
    const e = await caught(unwrapContentKey(withEncryptedKey(data, data.wrappedContentKey.encryptedKey, `${kv.vaultUrl}/keys/sec\u001b[2Jrsa`), { keyResolver: resolver }));
    expect(e.code).toBe("KEY_NOT_FOUND");
    expect(kv.count("*")).toBe(0);
  });

  it("messages naming a key id from data (404) escape it", async () => {
    const kid = `${kv.vaultUrl}/keys/sec-none/0123456789abcdef0123456789abcdef`;
    const e = await caught(kekFor(kid).unwrapKey("RSA-OAEP", randomBytes(256)));
    expect(e.code).toBe("KEY_NOT_FOUND");
    expect(e.message).toContain(JSON.stringify(kid));
    expect(e.message).not.toMatch(CONTROL);
  });
});
