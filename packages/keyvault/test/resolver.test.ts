// KeyVaultKeyResolver: stored key id → key-encryption key, with client caching, coalescing and the
// optional content-key cache, through the core envelope functions (createContentEncryption/unwrapContentKey).
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KeyClient } from "@azure/keyvault-keys";
import {
  ClientSideEncryptionError,
  collectBytes,
  createContentEncryption,
  decryptPlanned,
  parseEncryptionData,
  planRange,
  unwrapContentKey,
  type ClientSideEncryptionPolicy,
  type EncryptionData,
} from "@azure-cse/core-envelope";
import { ContentKeyCache, createKeyVaultKeyResolver, withContentKeyCache, type KeyVaultKeyResolverOptions } from "@azure-cse/keyvault";
import { startLocalKeyVault, type LocalKeyVault } from "../../../tools/local-keyvault/index.mjs";

let kv: LocalKeyVault;
let keys: KeyClient;
beforeAll(async () => {
  kv = await startLocalKeyVault();
  keys = new KeyClient(kv.vaultUrl, kv.credential, kv.clientOptions);
});
afterAll(async () => {
  await kv?.stop();
});

const resolverFor = (options: KeyVaultKeyResolverOptions = {}) =>
  createKeyVaultKeyResolver(kv.credential, { ...options, clientOptions: { ...kv.clientOptions, ...options.clientOptions } });

/** A blob-like envelope: encryption data JSON (with EncryptionMode) + stored bytes. */
async function seal(policy: ClientSideEncryptionPolicy, plaintext: Buffer) {
  const enc = await createContentEncryption(policy);
  const stored = await collectBytes(enc.encrypt([plaintext]));
  const json = enc.toJson(true);
  enc.dispose();
  return { json, stored };
}

async function open(policy: ClientSideEncryptionPolicy, env: { json: string; stored: Buffer }, range?: { offset: number; count: number }): Promise<Buffer> {
  const data: EncryptionData = parseEncryptionData(env.json);
  const plan = planRange(data, range ?? { offset: 0 }, env.stored.length, { padded: true });
  const cek = await unwrapContentKey(data, policy);
  return collectBytes(decryptPlanned(data, cek, plan, [env.stored.subarray(plan.storedOffset, plan.storedCount === undefined ? undefined : plan.storedOffset + plan.storedCount)], policy));
}

describe("KeyVaultKeyResolver with the core key-selection rule", () => {
  it("an envelope written with a versionless key stores the versioned kid and reads back after the key gets a new version", async () => {
    const v1 = (await keys.createRsaKey("res-rotate")).id!;
    const resolver = resolverFor();
    const policy: ClientSideEncryptionPolicy = { keyEncryptionKey: resolver.getKeyEncryptionKey(kv.keyId("res-rotate")), keyResolver: resolver };
    const plaintext = randomBytes(5000);
    const env = await seal(policy, plaintext);
    expect(parseEncryptionData(env.json).wrappedContentKey.keyId).toBe(v1);
    await keys.rotateKey("res-rotate");
    // A fresh reader (new process) and the writer's own policy both read it.
    expect((await open({ keyResolver: resolverFor() }, env)).equals(plaintext)).toBe(true);
    expect((await open(policy, env)).equals(plaintext)).toBe(true);
  });

  it("after rotation and the refresh interval, new envelopes name the new version; old ones still decrypt", async () => {
    const v1 = (await keys.createRsaKey("res-refresh")).id!;
    let clock = 1_000_000;
    const resolver = resolverFor({ ttlInMs: 60_000, now: () => clock });
    const writer = () => ({ keyEncryptionKey: resolver.getKeyEncryptionKey(kv.keyId("res-refresh")), keyResolver: resolver });
    const old = await seal(writer(), Buffer.from("old"));
    const v2 = (await keys.rotateKey("res-refresh")).id!;
    expect(parseEncryptionData((await seal(writer(), Buffer.from("x"))).json).wrappedContentKey.keyId).toBe(v1); // cached client
    clock += 60_001;
    const fresh = await seal(writer(), Buffer.from("new"));
    expect(parseEncryptionData(fresh.json).wrappedContentKey.keyId).toBe(v2);
    expect((await open(writer(), old)).toString()).toBe("old");
    expect((await open(writer(), fresh)).toString()).toBe("new");
  });

  it("a versionless key without a resolver cannot select itself for its versioned stored id (KID_MISMATCH), which is why the resolver is needed", async () => {
    await keys.createRsaKey("res-noresolver");
    const kek = resolverFor().getKeyEncryptionKey(kv.keyId("res-noresolver"));
    const env = await seal({ keyEncryptionKey: kek }, Buffer.from("x"));
    await expect(open({ keyEncryptionKey: kek }, env)).rejects.toMatchObject({ code: "KID_MISMATCH" });
  });

  it("200 decrypts of envelopes under one key make exactly one key lookup while unwraps stay one per envelope", async () => {
    const kid = (await keys.createRsaKey("res-200")).id!;
    const writer = resolverFor();
    const envs = [];
    for (let i = 0; i < 200; i++) envs.push(await seal({ keyEncryptionKey: writer.getKeyEncryptionKey(kid) }, Buffer.from(`message ${i}`)));
    expect(new Set(envs.map((e) => parseEncryptionData(e.json).wrappedContentKey.keyId))).toEqual(new Set([kid]));
    const reader = resolverFor();
    kv.resetCounters();
    for (let i = 0; i < 200; i++) expect((await open({ keyResolver: reader }, envs[i]!)).toString()).toBe(`message ${i}`);
    expect(kv.count("getKey", { authenticated: true })).toBe(1);
    expect(kv.count("*", { authenticated: false })).toBe(1); // one bearer challenge
    expect(kv.count("unwrapKey", { status: 200 })).toBe(200);
    expect(kv.count("*")).toBe(202);
    expect(reader.stats.lookups).toBe(1);
    expect(reader.stats.hits).toBe(199);
  });

  it("50 concurrent first uses of a key make one lookup (and one challenge)", async () => {
    const kid = (await keys.createRsaKey("res-50")).id!;
    const writer = resolverFor();
    const envs = await Promise.all(Array.from({ length: 50 }, (_, i) => seal({ keyEncryptionKey: writer.getKeyEncryptionKey(kid) }, Buffer.from(`m${i}`))));
    const reader = resolverFor();
    kv.resetCounters();
    const out = await Promise.all(envs.map((e) => open({ keyResolver: reader }, e)));
    expect(out.map((b) => b.toString())).toEqual(envs.map((_, i) => `m${i}`));
    expect(kv.count("getKey")).toBe(2); // 401 challenge + one lookup
    expect(kv.count("getKey", { status: 200 })).toBe(1);
    expect(kv.count("*", { status: 401 })).toBe(1);
    expect(kv.count("unwrapKey", { status: 200 })).toBe(50);
    expect(reader.stats.lookups).toBe(1);
  });

  it("ids outside allowedVaults, and ids that are not Key Vault ids, resolve to nothing (KEY_NOT_FOUND) without a request", async () => {
    const kid = (await keys.createRsaKey("res-allowed")).id!;
    const env = await seal({ keyEncryptionKey: resolverFor().getKeyEncryptionKey(kid) }, Buffer.from("x"));
    const strict = resolverFor({ allowedVaults: ["https://other.vault.azure.net"] });
    kv.resetCounters();
    await expect(open({ keyResolver: strict }, env)).rejects.toMatchObject({ code: "KEY_NOT_FOUND" });
    expect(await strict("local:kek-1")).toBeUndefined();
    expect(kv.count("*")).toBe(0);
    expect(() => strict.getKeyEncryptionKey(kid)).toThrow(/allowedVaults/);
    const allowed = resolverFor({ allowedVaults: [kv.vaultUrl] });
    expect((await open({ keyResolver: allowed }, env)).toString()).toBe("x");
  });

  it("caches keys with a size cap (LRU) and a TTL", async () => {
    let clock = 0;
    const r = resolverFor({ maxEntries: 2, ttlInMs: 1000, now: () => clock });
    const id = (n: string) => `${kv.vaultUrl}/keys/${n}/0123456789abcdef0123456789abcdef`;
    const a = await r(id("a"));
    await r(id("b"));
    expect(await r(id("a"))).toBe(a);
    await r(id("c")); // evicts b (least recently used)
    expect(r.stats).toMatchObject({ lookups: 3, hits: 1, evictions: 1 });
    expect(await r(id("a"))).toBe(a);
    await r(id("b"));
    expect(r.stats.lookups).toBe(4);
    clock = 1001;
    expect(await r(id("a"))).not.toBe(a);
    expect(r.stats.lookups).toBe(5);
    const kek = (await r(id("a")))!;
    expect(kek.keyId).toBe(id("a"));
  });
});

describe("content-key cache (off by default)", () => {
  it("is off by default: reading one envelope 5 times unwraps 5 times", async () => {
    const kid = (await keys.createRsaKey("cek-off")).id!;
    const env = await seal({ keyEncryptionKey: resolverFor().getKeyEncryptionKey(kid) }, randomBytes(100));
    const reader = resolverFor();
    expect(reader.contentKeyCache).toBeUndefined();
    kv.resetCounters();
    for (let i = 0; i < 5; i++) await open({ keyResolver: reader }, env);
    expect(kv.count("unwrapKey", { status: 200 })).toBe(5);
  });

  it("when enabled, ranged reads of one blob unwrap its content key once (concurrent ranges share the call)", async () => {
    const kid = (await keys.createRsaKey("cek-on")).id!;
    const plaintext = randomBytes(64 * 1024);
    const env = await seal({ keyEncryptionKey: resolverFor().getKeyEncryptionKey(kid), encryptionVersion: "2.1", regionSize: 4096 }, plaintext);
    const other = await seal({ keyEncryptionKey: resolverFor().getKeyEncryptionKey(kid) }, Buffer.from("other"));
    const reader = resolverFor({ contentKeyCache: { maxEntries: 10 } });
    kv.resetCounters();
    const ranges = Array.from({ length: 16 }, (_, i) => ({ offset: i * 4000, count: 3000 }));
    const parts = await Promise.all(ranges.map((r) => open({ keyResolver: reader }, env, r)));
    parts.forEach((p, i) => expect(p.equals(plaintext.subarray(ranges[i]!.offset, ranges[i]!.offset + 3000))).toBe(true));
    for (const r of ranges) await open({ keyResolver: reader }, env, r);
    expect(kv.count("unwrapKey", { status: 200 })).toBe(1);
    expect((await open({ keyResolver: reader }, other)).toString()).toBe("other"); // a different wrapped key is a miss
    expect(kv.count("unwrapKey", { status: 200 })).toBe(2);
    expect(reader.contentKeyCache!.stats).toMatchObject({ misses: 2, hits: 31 });
    reader.clear();
    expect(reader.contentKeyCache!.size).toBe(0);
  });

  it("is bounded, expires entries, zeroes evicted keys and hands out copies", async () => {
    let clock = 0;
    const cache = new ContentKeyCache({ maxEntries: 2, ttlInMs: 100, now: () => clock });
    const owned: Buffer[] = [];
    const unwrap = (v: number) => async () => {
      const b = Buffer.alloc(32, v);
      owned.push(b);
      return b;
    };
    const a = await cache.getOrUnwrap("k", "RSA-OAEP", Buffer.from([1]), unwrap(0xa1));
    a.fill(0); // the caller zeroing its copy does not affect the cache
    expect(Buffer.from(await cache.getOrUnwrap("k", "RSA-OAEP", Buffer.from([1]), unwrap(0xff))).equals(Buffer.alloc(32, 0xa1))).toBe(true);
    await cache.getOrUnwrap("k", "RSA-OAEP", Buffer.from([2]), unwrap(0xa2));
    await cache.getOrUnwrap("k", "RSA-OAEP", Buffer.from([3]), unwrap(0xa3)); // evicts [1]
    expect(cache.size).toBe(2);
    expect(owned[0]!.equals(Buffer.alloc(32, 0))).toBe(true);
    expect(owned[1]!.equals(Buffer.alloc(32, 0xa2))).toBe(true);
    clock = 101; // [2] expired: zeroed and unwrapped again
    await cache.getOrUnwrap("k", "RSA-OAEP", Buffer.from([2]), unwrap(0xb2));
    expect(owned[1]!.equals(Buffer.alloc(32, 0))).toBe(true);
    expect(cache.stats).toMatchObject({ misses: 4, hits: 1, evictions: 2 });
    cache.clear();
    expect(owned.every((b) => b.equals(Buffer.alloc(32, 0)))).toBe(true);
    // Different key id or algorithm are different entries; failures are not cached.
    await expect(cache.getOrUnwrap("k2", "RSA-OAEP", Buffer.from([1]), async () => { throw new ClientSideEncryptionError("KEY_OPERATION_FAILED", "x"); })).rejects.toMatchObject({ code: "KEY_OPERATION_FAILED" });
    expect(cache.size).toBe(0);
    expect(() => new ContentKeyCache({ maxEntries: 0 })).toThrow(ClientSideEncryptionError);
  });

  it("withContentKeyCache wraps a configured key for one blob's ranged reads", async () => {
    const kid = (await keys.createRsaKey("cek-wrap")).id!;
    const kek = resolverFor().getKeyEncryptionKey(kid);
    const env = await seal({ keyEncryptionKey: kek }, randomBytes(1000));
    const cached = withContentKeyCache(kek, new ContentKeyCache());
    expect(cached.keyId).toBe(kid);
    kv.resetCounters();
    for (let i = 0; i < 4; i++) await open({ keyEncryptionKey: cached }, env, { offset: i * 100, count: 50 });
    expect(kv.count("unwrapKey")).toBe(1);
  });
});
