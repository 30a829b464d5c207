// KeyVaultKeyEncryptionKey against the local Key Vault with the real @azure/keyvault-keys client.
import { constants, createPublicKey, publicEncrypt, randomBytes } from "node:crypto";
import { inspect } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CryptographyClient, KeyClient } from "@azure/keyvault-keys";
import { AesKeyWrapKey, ClientSideEncryptionError, DECRYPTION_FAILED_MESSAGE, createContentEncryption, parseEncryptionData, unwrapContentKey } from "@azure-cse/core-envelope";
import { KeyVaultKeyEncryptionKey, isVersionedKeyId } from "@azure-cse/keyvault";
import { startLocalKeyVault, staticTokenCredential, type LocalKeyVault } from "../../../tools/local-keyvault/index.mjs";

let kv: LocalKeyVault;
let keys: KeyClient;
let rsaKid: string; // versioned
beforeAll(async () => {
  kv = await startLocalKeyVault();
  keys = new KeyClient(kv.vaultUrl, kv.credential, kv.clientOptions);
  rsaKid = (await keys.createRsaKey("kek-rsa", { keySize: 2048 })).id!;
});
afterAll(async () => {
  await kv?.stop();
});

const kekFor = (keyId: string, options: ConstructorParameters<typeof KeyVaultKeyEncryptionKey>[2] = {}) =>
  new KeyVaultKeyEncryptionKey(keyId, kv.credential, { ...options, clientOptions: { ...kv.clientOptions, ...options.clientOptions } });

async function expectError(p: Promise<unknown>): Promise<ClientSideEncryptionError> {
  try {
    await p;
  } catch (e) {
    expect(ClientSideEncryptionError.is(e)).toBe(true);
    return e as ClientSideEncryptionError;
  }
  throw new Error("expected a ClientSideEncryptionError");
}

describe("KeyVaultKeyEncryptionKey: wrap/unwrap round trips per algorithm", () => {
  for (const alg of ["RSA-OAEP", "RSA-OAEP-256"] as const) {
    it(`${alg}: unwrap(wrap(k)) = k for 32- and 40-byte inputs, and the stored KeyId is the versioned kid`, async () => {
      const kek = kekFor(kv.keyId("kek-rsa"), { defaultWrapAlgorithm: alg });
      expect(kek.defaultWrapAlgorithm).toBe(alg);
      for (const n of [32, 40]) {
        const cek = randomBytes(n);
        const w = await kek.wrapKey(alg, cek);
        expect(w.keyId).toBe(rsaKid);
        expect(w.encryptedKey.length).toBe(256);
        expect(Buffer.from(await kekFor(w.keyId).unwrapKey(alg, w.encryptedKey)).equals(cek)).toBe(true);
      }
    });
  }

  it("RSA-OAEP-256 wraps in the vault; RSA-OAEP wraps locally with the fetched public key (no wrap call)", async () => {
    kv.resetCounters();
    await kekFor(rsaKid).wrapKey("RSA-OAEP", randomBytes(32));
    expect(kv.count("wrapKey")).toBe(0);
    await kekFor(rsaKid).wrapKey("RSA-OAEP-256", randomBytes(32));
    expect(kv.count("wrapKey", { status: 200 })).toBe(1);
  });

  it("RSA1_5 unwraps legacy wrapped keys but is refused for wrapping", async () => {
    const jwk = (await keys.getKey("kek-rsa")).key!;
    const pub = createPublicKey({ key: { kty: "RSA", n: Buffer.from(jwk.n!).toString("base64url"), e: Buffer.from(jwk.e!).toString("base64url") }, format: "jwk" });
    const cek = randomBytes(32);
    const legacy = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_PADDING }, cek);
    const kek = kekFor(rsaKid);
    expect(Buffer.from(await kek.unwrapKey("RSA1_5", legacy)).equals(cek)).toBe(true);
    const e = await expectError(kek.wrapKey("RSA1_5", cek));
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect(e.message).toMatch(/RSA1_5.*unwrap legacy data/);
  });

  for (const [alg, bytes] of [["A128KW", 16], ["A192KW", 24], ["A256KW", 32]] as const) {
    it(`${alg} (Managed HSM oct-HSM key): round trip, and the vault's output is RFC 3394 AES key wrap`, async () => {
      const secret = randomBytes(bytes);
      const imported = await keys.importKey(`kek-oct-${bytes}`, { kty: "oct-HSM", k: secret });
      const kek = kekFor(kv.keyId(`kek-oct-${bytes}`), { defaultWrapAlgorithm: alg });
      const cek = randomBytes(40);
      const w = await kek.wrapKey(alg, cek);
      expect(w.keyId).toBe(imported.id);
      expect(w.encryptedKey.length).toBe(48);
      expect(Buffer.from(await kek.unwrapKey(alg, w.encryptedKey)).equals(cek)).toBe(true);
      // Same bytes as a local RFC 3394 key: data wrapped in the HSM is readable with the key material.
      const local = new AesKeyWrapKey("local", secret);
      expect(Buffer.from(await local.unwrapKey(alg, w.encryptedKey)).equals(cek)).toBe(true);
    });
  }
});

describe("KeyVaultKeyEncryptionKey: key ids", () => {
  it("keyId is the id it was constructed with; wrapKey returns (and lastWrapKeyId holds) the versioned kid", async () => {
    const versionless = kv.keyId("kek-rsa");
    const kek = kekFor(versionless);
    expect(kek.keyId).toBe(versionless);
    expect(kek.isVersioned).toBe(false);
    expect(kek.lastWrapKeyId).toBeUndefined();
    const w = await kek.wrapKey("RSA-OAEP", randomBytes(32));
    expect(w.keyId).toBe(rsaKid);
    expect(isVersionedKeyId(w.keyId)).toBe(true);
    expect(kek.keyId).toBe(versionless);
    expect(kek.lastWrapKeyId).toBe(rsaKid);
    expect(kekFor(rsaKid).isVersioned).toBe(true);
  });

  it("the EncryptionData written through the core stores the versioned kid", async () => {
    const enc = await createContentEncryption({ keyEncryptionKey: kekFor(kv.keyId("kek-rsa")) });
    const data = parseEncryptionData(enc.toJson(true));
    expect(data.wrappedContentKey.keyId).toBe(rsaKid);
    expect(data.wrappedContentKey.algorithm).toBe("RSA-OAEP");
    enc.dispose();
  });

  it("without keys/get permission a versionless key still stores the versioned kid (taken from the wrap response) and unwraps", async () => {
    kv.setPermissions("wrap-unwrap-only", ["wrapKey", "unwrapKey"]);
    const kek = new KeyVaultKeyEncryptionKey(kv.keyId("kek-rsa"), staticTokenCredential("wrap-unwrap-only"), { clientOptions: kv.clientOptions });
    kv.resetCounters();
    const cek = randomBytes(40);
    const w = await kek.wrapKey("RSA-OAEP", cek);
    expect(w.keyId).toBe(rsaKid);
    const reader = new KeyVaultKeyEncryptionKey(w.keyId, staticTokenCredential("wrap-unwrap-only"), { clientOptions: kv.clientOptions });
    expect(Buffer.from(await reader.unwrapKey("RSA-OAEP", w.encryptedKey)).equals(cek)).toBe(true);
    expect(kv.count("getKey", { status: 403 })).toBe(2); // one refused lookup per client, then remote-only
    expect(kv.count("getKey", { status: 200 })).toBe(0);
    expect(kv.count("wrapKey", { status: 200 })).toBe(1);
    expect(kv.count("unwrapKey", { status: 200 })).toBe(1);
  });

  it("refuses ids that are not Key Vault key ids", () => {
    for (const bad of ["local:kek-1", "http://v.vault.azure.net/keys/k", "https://v.vault.azure.net/secrets/k", "https://v.vault.azure.net/keys"]) {
      let err: unknown;
      try {
        kekFor(bad);
      } catch (e) {
        err = e;
      }
      expect(ClientSideEncryptionError.hasCode(err, "INVALID_ARGUMENT")).toBe(true);
    }
  });

  it("fromCryptographyClient uses the given client and its key id", async () => {
    const client = new CryptographyClient(rsaKid, kv.credential, kv.clientOptions);
    const kek = KeyVaultKeyEncryptionKey.fromCryptographyClient(client, { defaultWrapAlgorithm: "RSA-OAEP-256" });
    expect(kek.keyId).toBe(rsaKid);
    const cek = randomBytes(32);
    const w = await kek.wrapKey(kek.defaultWrapAlgorithm, cek);
    expect(Buffer.from(await kek.unwrapKey("RSA-OAEP-256", w.encryptedKey)).equals(cek)).toBe(true);
  });

  it("an unknown stored algorithm is INVALID_ENCRYPTION_DATA without calling the vault", async () => {
    kv.resetCounters();
    const e = await expectError(kekFor(rsaKid).unwrapKey("CKM_AES_KEY_WRAP_PAD", randomBytes(48)));
    expect(e.code).toBe("INVALID_ENCRYPTION_DATA");
    expect(kv.count("*")).toBe(0);
  });

  it("an aborted signal is ABORTED", async () => {
    const ac = new AbortController();
    ac.abort();
    const e = await expectError(kekFor(rsaKid).unwrapKey("RSA-OAEP", randomBytes(256), { abortSignal: ac.signal }));
    expect(e.code).toBe("ABORTED");
  });
});

describe("KeyVaultKeyEncryptionKey: typed errors name the kid", () => {
  it("wrong key version: a versionless id after rotation → the opaque DECRYPTION_FAILED (issue 14: no unwrap oracle), also through the core", async () => {
    await keys.createRsaKey("kek-rotated");
    const versionless = kv.keyId("kek-rotated");
    const cek = randomBytes(32);
    const w = await kekFor(versionless).wrapKey("RSA-OAEP", cek);
    await keys.rotateKey("kek-rotated");
    const e = await expectError(kekFor(versionless).unwrapKey("RSA-OAEP", w.encryptedKey));
    expect(e.code).toBe("DECRYPTION_FAILED");
    expect(e.message).toBe(DECRYPTION_FAILED_MESSAGE);
    expect(e.details).toEqual({});
    // The versioned kid that was stored still unwraps.
    expect(Buffer.from(await kekFor(w.keyId).unwrapKey("RSA-OAEP", w.encryptedKey)).equals(cek)).toBe(true);
    const data = { ...parseEncryptionData((await createContentEncryption({ keyEncryptionKey: kekFor(w.keyId) })).toJson(true)) };
    data.wrappedContentKey = { ...data.wrappedContentKey, keyId: versionless };
    const viaCore = await expectError(unwrapContentKey(data, { keyEncryptionKey: kekFor(versionless) }));
    expect(viaCore.code).toBe("DECRYPTION_FAILED");
    expect(viaCore.message).toBe(DECRYPTION_FAILED_MESSAGE);
  });

  it("wrong key version with a versioned id → DECRYPTION_FAILED", async () => {
    const v1 = await kekFor(kv.keyId("kek-rotated")).wrapKey("RSA-OAEP", randomBytes(32));
    const v2 = kv.rotateKeyDirect("kek-rotated");
    const e = await expectError(kekFor(v2).unwrapKey("RSA-OAEP", v1.encryptedKey));
    expect(e.code).toBe("DECRYPTION_FAILED");
  });

  it("missing key (404) → KEY_NOT_FOUND naming the kid", async () => {
    const kid = `${kv.vaultUrl}/keys/no-such-key/0123456789abcdef0123456789abcdef`;
    const e = await expectError(kekFor(kid).unwrapKey("RSA-OAEP", randomBytes(256)));
    expect(e.code).toBe("KEY_NOT_FOUND");
    expect(e.message).toContain(JSON.stringify(kid));
    expect(e.details).toMatchObject({ keyId: kid, statusCode: 404 });
    const w = await expectError(kekFor(kv.keyId("no-such-key")).wrapKey("RSA-OAEP", randomBytes(32)));
    expect(w.code).toBe("KEY_NOT_FOUND");
  });

  it("403 → KEY_OPERATION_FAILED naming the permission; the error carries no content key", async () => {
    kv.setPermissions("get-only", ["get"]);
    const cek = randomBytes(32);
    const kek = new KeyVaultKeyEncryptionKey(rsaKid, staticTokenCredential("get-only"), { clientOptions: kv.clientOptions });
    const e = await expectError(kek.wrapKey("RSA-OAEP-256", cek));
    expect(e.code).toBe("KEY_OPERATION_FAILED");
    expect(e.message).toContain("keys/wrapKey");
    expect(e.message).toContain(JSON.stringify(rsaKid));
    expect(e.cause).toBeUndefined();
    const dump = inspect(e, { depth: 10 }) + JSON.stringify(e) + e.stack;
    for (const enc of ["base64", "base64url", "hex"] as const) expect(dump).not.toContain(cek.toString(enc));
    const u = await expectError(kek.unwrapKey("RSA-OAEP", randomBytes(256)));
    expect(u.message).toContain("keys/unwrapKey");
  });

  it("401 (token not accepted) → KEY_OPERATION_FAILED naming the kid and the permission", async () => {
    const kek = new KeyVaultKeyEncryptionKey(rsaKid, staticTokenCredential("unknown-token"), { clientOptions: kv.clientOptions });
    const e = await expectError(kek.unwrapKey("RSA-OAEP", randomBytes(256)));
    expect(e.code).toBe("KEY_OPERATION_FAILED");
    expect(e.details).toMatchObject({ statusCode: 401, keyId: rsaKid });
    expect(e.message).toContain("keys/unwrapKey");
  });

  it("a wrap algorithm the key type cannot do → KEY_OPERATION_FAILED with the service's reason", async () => {
    const e = await expectError(kekFor(rsaKid).wrapKey("A256KW", randomBytes(32)));
    expect(e.code).toBe("KEY_OPERATION_FAILED");
    expect(e.details).toMatchObject({ statusCode: 400, serviceCode: "BadParameter" });
  });
});
