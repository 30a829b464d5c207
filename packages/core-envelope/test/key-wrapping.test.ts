// Key wrapping (spec blob-format §4): the protocol prefix, RSA/AES local keys, loading, the key
// selection rule implemented by selectKeyEncryptionKey, and the caching resolver.
import { constants, createPrivateKey, generateKeyPairSync, privateDecrypt, publicEncrypt } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  AesKeyWrapKey,
  ClientSideEncryptionError,
  DECRYPTION_FAILED_MESSAGE,
  RsaKey,
  contentKeyFromUnwrapped,
  createCachingKeyResolver,
  createContentEncryption,
  createLocalKeyResolver,
  keyFromJwk,
  keyFromRawBytes,
  keyWrapInput,
  parseEncryptionData,
  protocolPrefix,
  selectKeyEncryptionKey,
  unwrapContentKey,
  type KeyEncryptionKey,
  type KeyResolver,
} from "@azure-cse/core-envelope";
import { expectCode, expectNoSecrets, fixedRandom, patternBytes } from "./helpers.js";

const cek = patternBytes(32, 3);
const aesBytes = patternBytes(32, 4);
const aes = new AesKeyWrapKey("local:aes", aesBytes);
const rsa = RsaKey.generate("local:rsa", 2048, "RSA-OAEP");

async function wrapped(protocol: "1.0" | "2.0" | "2.1", kek: KeyEncryptionKey = aes) {
  const policy =
    protocol === "1.0"
      ? { keyEncryptionKey: kek, encryptionVersion: "1.0" as const, allowDeprecatedV1Encryption: true, random: fixedRandom([cek, patternBytes(16, 5)]) }
      : { keyEncryptionKey: kek, encryptionVersion: protocol, random: fixedRandom([cek]) };
  const enc = await createContentEncryption(policy);
  return JSON.parse(enc.toJson(true));
}

describe("wrapped bytes: 2.x wraps protocol ‖ 00×5 ‖ CEK, 1.0 wraps the bare CEK (spec §4.1)", () => {
  it('protocolPrefix is ASCII "2.0"/"2.1" padded with five NUL bytes; keyWrapInput prepends it for 2.x only', () => {
    expect(protocolPrefix("2.0").toString("hex")).toBe("322e300000000000");
    expect(protocolPrefix("2.1").toString("hex")).toBe("322e310000000000");
    expect(keyWrapInput("2.0", cek)).toEqual(Buffer.concat([Buffer.from("322e300000000000", "hex"), cek]));
    expect(keyWrapInput("2.1", cek)).toEqual(Buffer.concat([Buffer.from("322e310000000000", "hex"), cek]));
    expect(keyWrapInput("1.0", cek)).toEqual(cek);
  });

  for (const protocol of ["2.0", "2.1", "1.0"] as const) {
    it(`${protocol}: the stored EncryptedKey unwraps (raw KEK) to ${protocol === "1.0" ? "the 32-byte CEK" : `"${protocol}"+5 NUL ‖ CEK (40 bytes, A256KW output 48)`}`, async () => {
      const o = await wrapped(protocol);
      const encryptedKey = Buffer.from(o.WrappedContentKey.EncryptedKey, "base64");
      expect(encryptedKey.length).toBe(protocol === "1.0" ? 40 : 48);
      const raw = Buffer.from(await aes.unwrapKey("A256KW", encryptedKey));
      expect(raw).toEqual(protocol === "1.0" ? cek : Buffer.concat([protocolPrefix(protocol), cek]));
      expect(await unwrapContentKey(parseEncryptionData(o), { keyEncryptionKey: aes })).toEqual(cek);
    });
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- free-form JSON surgery in tests
  const relabels: [string, "1.0" | "2.0" | "2.1", (o: any) => void][] = [
    ["2.0 relabelled as 2.1", "2.0", (o) => (o.EncryptionAgent.Protocol = "2.1")],
    ["2.1 relabelled as 2.0", "2.1", (o) => (o.EncryptionAgent.Protocol = "2.0")],
    [
      "2.0 relabelled as 1.0 (downgrade to CBC)",
      "2.0",
      (o) => {
        o.EncryptionAgent = { Protocol: "1.0", EncryptionAlgorithm: "AES_CBC_256" };
        o.ContentEncryptionIV = Buffer.alloc(16).toString("base64");
        delete o.EncryptedRegionInfo;
      },
    ],
    [
      "2.1 relabelled as 1.0",
      "2.1",
      (o) => {
        o.EncryptionAgent = { Protocol: "1.0", EncryptionAlgorithm: "AES_CBC_256" };
        o.ContentEncryptionIV = Buffer.alloc(16).toString("base64");
        delete o.EncryptedRegionInfo;
      },
    ],
    [
      "1.0 relabelled as 2.0",
      "1.0",
      (o) => {
        o.EncryptionAgent = { Protocol: "2.0", EncryptionAlgorithm: "AES_GCM_256" };
        o.EncryptedRegionInfo = { DataLength: 4194304, NonceLength: 12 };
        delete o.ContentEncryptionIV;
      },
    ],
  ];
  for (const [name, protocol, fn] of relabels) {
    it(`downgrade protection: ${name} → DECRYPTION_FAILED on unwrap`, async () => {
      const o = await wrapped(protocol);
      fn(o);
      const e = await expectCode(() => unwrapContentKey(parseEncryptionData(o), { keyEncryptionKey: aes }), "DECRYPTION_FAILED");
      expect(e.message).toBe(DECRYPTION_FAILED_MESSAGE);
    });
  }

  it("the prefix check is strict: non-NUL padding, wrong version, wrong total length are all DECRYPTION_FAILED", async () => {
    const good = Buffer.concat([protocolPrefix("2.0"), cek]);
    expect(contentKeyFromUnwrapped("2.0", good)).toEqual(cek);
    const nonNul = Buffer.from(good);
    nonNul[7] = 1;
    await expectCode(() => contentKeyFromUnwrapped("2.0", nonNul), "DECRYPTION_FAILED");
    await expectCode(() => contentKeyFromUnwrapped("2.1", good), "DECRYPTION_FAILED");
    await expectCode(() => contentKeyFromUnwrapped("2.0", good.subarray(0, 39)), "DECRYPTION_FAILED");
    await expectCode(() => contentKeyFromUnwrapped("2.0", Buffer.concat([good, Buffer.alloc(8)])), "DECRYPTION_FAILED");
    await expectCode(() => contentKeyFromUnwrapped("1.0", good), "DECRYPTION_FAILED");
    await expectCode(() => contentKeyFromUnwrapped("1.0", cek.subarray(0, 16)), "DECRYPTION_FAILED");
  });
});

describe("RSA key wrapping", () => {
  it("RSA-OAEP is OAEP with SHA-1/MGF1-SHA-1 (Key Vault's meaning): round trip, and node decrypts it with oaepHash sha1", async () => {
    const o = await wrapped("2.0", rsa);
    expect(o.WrappedContentKey.Algorithm).toBe("RSA-OAEP");
    const ek = Buffer.from(o.WrappedContentKey.EncryptedKey, "base64");
    expect(ek.length).toBe(256);
    const pk = createPrivateKey(rsa.privateKeyPem()!);
    expect(privateDecrypt({ key: pk, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha1" }, ek)).toEqual(keyWrapInput("2.0", cek));
    expect(await unwrapContentKey(parseEncryptionData(o), { keyEncryptionKey: rsa })).toEqual(cek);
  });

  it("RSA-OAEP-256 round trip uses SHA-256 (node decrypts with oaepHash sha256; unwrapping as RSA-OAEP fails)", async () => {
    const { encryptedKey } = await rsa.wrapKey("RSA-OAEP-256", cek);
    const pk = createPrivateKey(rsa.privateKeyPem()!);
    expect(privateDecrypt({ key: pk, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, encryptedKey)).toEqual(cek);
    expect(Buffer.from(await rsa.unwrapKey("RSA-OAEP-256", encryptedKey))).toEqual(cek);
    await expectCode(() => rsa.unwrapKey("RSA-OAEP", encryptedKey), "DECRYPTION_FAILED");
    const k256 = RsaKey.fromPem("local:rsa256", rsa.privateKeyPem()!, "RSA-OAEP-256");
    const o = await wrapped("2.0", k256);
    expect(o.WrappedContentKey.Algorithm).toBe("RSA-OAEP-256");
    expect(await unwrapContentKey(parseEncryptionData(o), { keyEncryptionKey: k256 })).toEqual(cek);
  });

  it("RSA1_5 unwraps data wrapped with node's publicEncrypt PKCS#1 v1.5 padding (legacy read only; wrap refused)", async () => {
    const pub = rsa.publicKeyPem();
    for (const payload of [cek, keyWrapInput("2.0", cek), Buffer.from([7])]) {
      const ct = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_PADDING }, payload);
      expect(Buffer.from(await rsa.unwrapKey("RSA1_5", ct))).toEqual(payload);
    }
    const ct = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_PADDING }, cek);
    ct[100]! ^= 0x40;
    await expectCode(() => rsa.unwrapKey("RSA1_5", ct), "DECRYPTION_FAILED");
    await expectCode(() => rsa.wrapKey("RSA1_5", cek), "UNSUPPORTED_OPERATION");
  });

  it("unknown algorithms are refused, a public-only key wraps but cannot unwrap, keys under 2048 bits are refused", async () => {
    await expectCode(() => rsa.wrapKey("RSA-OAEP-384", cek), "INVALID_ARGUMENT");
    const pubOnly = RsaKey.fromPem("local:rsa", rsa.publicKeyPem());
    expect(pubOnly.hasPrivateKey).toBe(false);
    const { encryptedKey } = await pubOnly.wrapKey("RSA-OAEP", cek);
    expect(Buffer.from(await rsa.unwrapKey("RSA-OAEP", encryptedKey))).toEqual(cek);
    await expectCode(() => pubOnly.unwrapKey("RSA-OAEP", encryptedKey), "INVALID_ARGUMENT");
    const small = generateKeyPairSync("rsa", { modulusLength: 1024 });
    await expectCode(() => new RsaKey("small", { privateKey: small.privateKey }), "INVALID_ARGUMENT");
    await expectCode(() => RsaKey.fromPem("bad", "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----"), "INVALID_ARGUMENT");
  });
});

describe("loading keys: JWK, PEM, raw bytes", () => {
  it("private oct JWK (kid, alg, k) round trips through toJwk/keyFromJwk for A128KW/A192KW/A256KW", async () => {
    for (const size of [16, 24, 32] as const) {
      const k = AesKeyWrapKey.generate(`local:oct-${size}`, size);
      const jwk = k.toJwk();
      expect(jwk).toMatchObject({ kty: "oct", kid: `local:oct-${size}`, alg: `A${size * 8}KW` });
      const loaded = keyFromJwk(jwk);
      const { encryptedKey } = await k.wrapKey(k.defaultWrapAlgorithm, cek);
      expect(Buffer.from(await loaded.unwrapKey(loaded.defaultWrapAlgorithm, encryptedKey))).toEqual(cek);
    }
  });

  it("private RSA JWK round trips; a public RSA JWK loads as wrap-only", async () => {
    const jwk = rsa.toJwk();
    expect(jwk).toMatchObject({ kty: "RSA", kid: "local:rsa", alg: "RSA-OAEP" });
    const loaded = keyFromJwk(jwk);
    const { encryptedKey } = await loaded.wrapKey("RSA-OAEP", cek);
    expect(Buffer.from(await rsa.unwrapKey("RSA-OAEP", encryptedKey))).toEqual(cek);
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub } = jwk;
    const pubKey = keyFromJwk(pub);
    if (!(pubKey instanceof RsaKey)) throw new Error("expected an RsaKey");
    expect(pubKey.hasPrivateKey).toBe(false);
    expect(Buffer.from(await rsa.unwrapKey("RSA-OAEP", (await pubKey.wrapKey("RSA-OAEP", cek)).encryptedKey))).toEqual(cek);
  });

  it("JWK errors: missing kid, alg that contradicts the key, unknown kty, empty k", async () => {
    const jwk = aes.toJwk();
    await expectCode(() => keyFromJwk({ ...jwk, kid: undefined }), "INVALID_ARGUMENT");
    await expectCode(() => keyFromJwk({ ...jwk, alg: "A128KW" }), "INVALID_ARGUMENT");
    await expectCode(() => keyFromJwk({ ...jwk, kty: "EC" }), "INVALID_ARGUMENT");
    await expectCode(() => keyFromJwk({ ...jwk, k: "" }), "INVALID_ARGUMENT");
    await expectCode(() => keyFromJwk({ ...rsa.toJwk(), alg: "RSA1_5" }), "INVALID_ARGUMENT");
  });

  it("PEM (PKCS#8 private, SPKI public) and raw bytes (Uint8Array or standard base64) load", async () => {
    const fromPem = RsaKey.fromPem("local:rsa", rsa.privateKeyPem()!);
    const { encryptedKey } = await rsa.wrapKey("RSA-OAEP", cek);
    expect(Buffer.from(await fromPem.unwrapKey("RSA-OAEP", encryptedKey))).toEqual(cek);
    const raw1 = keyFromRawBytes("local:aes", aesBytes);
    const raw2 = keyFromRawBytes("local:aes", Buffer.from(aesBytes).toString("base64"));
    const w = (await aes.wrapKey("A256KW", cek)).encryptedKey;
    expect(Buffer.from(await raw1.unwrapKey("A256KW", w))).toEqual(cek);
    expect(Buffer.from(await raw2.unwrapKey("A256KW", w))).toEqual(cek);
    await expectCode(() => keyFromRawBytes("k", "not base64!"), "INVALID_ARGUMENT");
    await expectCode(() => keyFromRawBytes("k", Buffer.alloc(20)), "INVALID_ARGUMENT");
  });

  it("keys never print their secret (toJSON / JSON.stringify / String)", () => {
    for (const k of [aes, rsa]) {
      const text = `${JSON.stringify(k)} ${Object.prototype.toString.call(k)} ${JSON.stringify(Object.entries(k))}`;
      expectNoSecrets(new Error(text), [aesBytes]);
      expect(text).not.toContain(String((rsa.toJwk() as { d: string }).d));
    }
  });

  it("an aborted signal stops wrap/unwrap with ABORTED", async () => {
    const ac = new AbortController();
    ac.abort();
    await expectCode(() => aes.wrapKey("A256KW", cek, { abortSignal: ac.signal }), "ABORTED");
    await expectCode(() => rsa.unwrapKey("RSA-OAEP", Buffer.alloc(256), { abortSignal: ac.signal }), "ABORTED");
  });
});

describe("key selection rule on read (selectKeyEncryptionKey, documented in docs/format.md)", () => {
  const other = new AesKeyWrapKey("local:other", patternBytes(32, 8));
  const counting = (impl: KeyResolver) => {
    const calls: string[] = [];
    const r: KeyResolver = (kid, opts) => {
      calls.push(kid);
      return impl(kid, opts);
    };
    return { r, calls };
  };

  it("1. the configured key is used when its keyId equals the stored KeyId exactly (resolver not consulted)", async () => {
    const { r, calls } = counting(() => other);
    expect(await selectKeyEncryptionKey("local:aes", { keyEncryptionKey: aes, keyResolver: r })).toBe(aes);
    expect(calls).toEqual([]);
  });

  it("2. otherwise the resolver is asked and must return a key reporting exactly that KeyId", async () => {
    const { r, calls } = counting(createLocalKeyResolver([aes, other]));
    expect(await selectKeyEncryptionKey("local:other", { keyEncryptionKey: aes, keyResolver: r })).toBe(other);
    expect(calls).toEqual(["local:other"]);
    await expectCode(() => selectKeyEncryptionKey("local:AES", { keyResolver: r }), "KEY_NOT_FOUND"); // exact, case-sensitive
    const e = await expectCode(() => selectKeyEncryptionKey("local:aes", { keyResolver: () => other }), "KID_MISMATCH");
    expect(e.details).toMatchObject({ keyId: "local:aes", resolvedKeyId: "local:other" });
  });

  it("3. no matching key: KID_MISMATCH when a key is configured for another id, KEY_NOT_FOUND with no key or resolver", async () => {
    const e = await expectCode(() => selectKeyEncryptionKey("local:x", { keyEncryptionKey: aes }), "KID_MISMATCH");
    expect(e.message).toContain("local:x");
    expect(e.message).toContain("local:aes");
    await expectCode(() => selectKeyEncryptionKey("local:x", {}), "KEY_NOT_FOUND");
    await expectCode(() => selectKeyEncryptionKey("local:x", { keyEncryptionKey: aes, keyResolver: () => undefined }), "KEY_NOT_FOUND");
  });

  it("resolver failures: a plain error becomes KEY_OPERATION_FAILED (cause kept), a typed error passes through", async () => {
    const boom = new Error("vault down");
    const e = await expectCode(() => selectKeyEncryptionKey("local:x", { keyResolver: () => Promise.reject(boom) }), "KEY_OPERATION_FAILED");
    expect(e.cause).toBe(boom);
    await expectCode(
      () => selectKeyEncryptionKey("local:x", { keyResolver: () => Promise.reject(new ClientSideEncryptionError("SERVICE_ERROR", "throttled")) }),
      "SERVICE_ERROR",
    );
  });

  it("wrong key material under the right kid → DECRYPTION_FAILED (not a kid error)", async () => {
    const o = await wrapped("2.0");
    const impostor = new AesKeyWrapKey("local:aes", patternBytes(32, 99));
    await expectCode(() => unwrapContentKey(parseEncryptionData(o), { keyEncryptionKey: impostor }), "DECRYPTION_FAILED");
  });

  it("createLocalKeyResolver refuses two keys with one id", async () => {
    await expectCode(() => createLocalKeyResolver([aes, new AesKeyWrapKey("local:aes", patternBytes(32, 1))]), "INVALID_ARGUMENT");
  });
});

describe("createCachingKeyResolver: TTL, LRU size cap, coalesced misses, failures not cached", () => {
  function slowInner(keys: KeyEncryptionKey[]) {
    const byId = new Map(keys.map((k) => [k.keyId, k]));
    const calls: string[] = [];
    const inner: KeyResolver = async (kid) => {
      calls.push(kid);
      await new Promise((r) => setTimeout(r, 5));
      return byId.get(kid);
    };
    return { inner, calls };
  }

  it("entries expire after ttlInMs (injected clock)", async () => {
    let now = 1000;
    const { inner, calls } = slowInner([aes]);
    const cache = createCachingKeyResolver(inner, { ttlInMs: 100, now: () => now });
    expect(await cache("local:aes")).toBe(aes);
    now += 99;
    expect(await cache("local:aes")).toBe(aes);
    expect(calls.length).toBe(1);
    now += 2;
    expect(await cache("local:aes")).toBe(aes);
    expect(calls.length).toBe(2);
    expect(cache.stats.lookups).toBe(2);
  });

  it("maxEntries evicts the least recently used key", async () => {
    const keys = ["a", "b", "c"].map((id, i) => new AesKeyWrapKey(id, patternBytes(32, i + 20)));
    const { inner, calls } = slowInner(keys);
    const cache = createCachingKeyResolver(inner, { maxEntries: 2 });
    await cache("a");
    await cache("b");
    await cache("a"); // a is now most recent
    await cache("c"); // evicts b
    expect(calls).toEqual(["a", "b", "c"]);
    await cache("a");
    expect(calls).toEqual(["a", "b", "c"]);
    await cache("b");
    expect(calls).toEqual(["a", "b", "c", "b"]);
  });

  it("50 concurrent misses for one kid make exactly one inner lookup and all get the same key", async () => {
    const { inner, calls } = slowInner([aes]);
    const cache = createCachingKeyResolver(inner);
    const results = await Promise.all(Array.from({ length: 50 }, () => Promise.resolve(cache("local:aes"))));
    expect(calls).toEqual(["local:aes"]);
    expect(results.every((k) => k === aes)).toBe(true);
    expect(cache.stats.lookups).toBe(1);
  });

  it("failures and unknown ids are not cached (the next call asks again); clear() empties the cache", async () => {
    let fail = true;
    const calls: string[] = [];
    const cache = createCachingKeyResolver(async (kid) => {
      calls.push(kid);
      if (fail) throw new Error("transient");
      return kid === "local:aes" ? aes : undefined;
    });
    await expect(Promise.resolve(cache("local:aes"))).rejects.toThrow("transient");
    fail = false;
    expect(await cache("local:aes")).toBe(aes);
    expect(await cache("local:none")).toBeUndefined();
    expect(await cache("local:none")).toBeUndefined();
    expect(calls).toEqual(["local:aes", "local:aes", "local:none", "local:none"]);
    cache.clear();
    await cache("local:aes");
    expect(calls.length).toBe(5);
    await expectCode(() => createCachingKeyResolver(() => undefined, { ttlInMs: 0 }), "INVALID_ARGUMENT");
  });

  it("works as a policy keyResolver end to end", async () => {
    const o = await wrapped("2.1");
    const cache = createCachingKeyResolver(createLocalKeyResolver([aes, rsa]));
    expect(await unwrapContentKey(parseEncryptionData(o), { keyResolver: cache })).toEqual(cek);
    expect(await unwrapContentKey(parseEncryptionData(o), { keyResolver: cache })).toEqual(cek);
    expect(cache.stats).toEqual({ lookups: 1, hits: 1 });
  });
});

describe("allowedReadProtocols: a reader can refuse 1.0 once its data is migrated", () => {
  const kek = new AesKeyWrapKey("local:allowed-protocols", patternBytes(32, 91));
  it("with allowedReadProtocols [2.0, 2.1], 1.0 data fails UNSUPPORTED_PROTOCOL before the key is used; 2.0 still opens", async () => {
    let unwraps = 0;
    const counting: KeyEncryptionKey = {
      keyId: kek.keyId,
      defaultWrapAlgorithm: kek.defaultWrapAlgorithm,
      wrapKey: (a, k, o) => kek.wrapKey(a, k, o),
      unwrapKey: (a, k, o) => {
        unwraps++;
        return kek.unwrapKey(a, k, o);
      },
    };
    const v1 = await createContentEncryption({ keyEncryptionKey: kek, encryptionVersion: "1.0", allowDeprecatedV1Encryption: true });
    const v2 = await createContentEncryption({ keyEncryptionKey: kek });
    const policy = { keyEncryptionKey: counting, allowedReadProtocols: ["2.0", "2.1"] as const };
    const e = await expectCode(() => unwrapContentKey(parseEncryptionData(v1.toJson(true)), policy), "UNSUPPORTED_PROTOCOL");
    expect(e.message).toContain("1.0");
    expect(unwraps).toBe(0);
    const cek = await unwrapContentKey(parseEncryptionData(v2.toJson(true)), policy);
    expect(cek.equals(Buffer.from(v2.contentKey))).toBe(true);
    expect(unwraps).toBe(1);
    // Default: every protocol is read.
    expect((await unwrapContentKey(parseEncryptionData(v1.toJson(true)), { keyEncryptionKey: kek })).length).toBe(32);
  });
});
