// The Web Crypto backend (@azure-cse/core-envelope/web), checked in Node where globalThis.crypto.subtle is
// the same Web Crypto API browsers have: byte-identical output to the Node backend for the same content key
// and nonces, each backend decrypts the other's output, the real Python SDK vectors (2.0 and 1.0, whole and
// ranged) decrypt, and tampering is refused with the one DECRYPTION_FAILED (or REGION_OUT_OF_ORDER).
import { describe, expect, it } from "vitest";
import {
  AesKeyWrapKey,
  RsaKey,
  collectBytes,
  createContentEncryption,
  decryptRange,
  findEncryptionDataInMetadata,
  selectKeyEncryptionKey,
  parseEncryptionData,
  DECRYPTION_FAILED_MESSAGE,
  type ClientSideEncryptionPolicy,
  type KeyEncryptionKey,
} from "@azure-cse/core-envelope";
import {
  WebAesKeyWrapKey,
  WebRsaKey,
  base64DecodeStrict,
  base64Encode,
  base64UrlDecode,
  base64UrlEncode,
  collectWebBytes,
  createWebContentEncryption,
  decryptWebGcmRegions,
  decryptWebRange,
  encryptWebGcmRegions,
  selectWebKeyEncryptionKey,
  toReadableStream,
  unwrapWebContentKey,
  webKeyFromJwk,
  type WebByteInput,
} from "../src/web/index.js";
import { blobCase, casesOfKind, chunked, expectCode, expectNoSecrets, manifest, patternBytes, plaintextOf, readVectorFile, sha256hex, fixedRandom, type BlobCase, type RangeCase } from "./helpers.js";

const KW_BYTES = patternBytes(32, 7);
const CEK = patternBytes(32, 99);

async function nodeEncrypt(policy: ClientSideEncryptionPolicy, plaintext: Buffer, chunks: number[]): Promise<{ json: string; body: Buffer }> {
  const ce = await createContentEncryption(policy);
  const body = await collectBytes(ce.encrypt(chunked(plaintext, chunks)));
  return { json: ce.toJson(true), body };
}

async function webEncrypt(policy: ClientSideEncryptionPolicy, plaintext: WebByteInput): Promise<{ json: string; body: Uint8Array; regions: number }> {
  const ce = await createWebContentEncryption(policy);
  const parts: Uint8Array[] = [];
  for await (const r of ce.encrypt(plaintext)) parts.push(r);
  const body = Buffer.concat(parts);
  expect(body.length).toBe(ce.storedLength(body.length - parts.length * 28));
  return { json: ce.toJson(true), body, regions: parts.length };
}

/** A web ReadableStream over `data` in chunks of `size`, counting what has been pulled. */
function stream(data: Uint8Array, size: number): { s: ReadableStream<Uint8Array>; pulled: () => number } {
  let pos = 0;
  const s = new ReadableStream<Uint8Array>({
    pull(c) {
      if (pos >= data.length) return c.close();
      c.enqueue(data.slice(pos, pos + size));
      pos += size;
    },
  }, { highWaterMark: 0 });
  return { s, pulled: () => Math.min(pos, data.length) };
}

async function nodeDecrypt(json: string, stored: Uint8Array, policy: ClientSideEncryptionPolicy, range?: { offset: number; count?: number }): Promise<Buffer> {
  const data = parseEncryptionData(json, { maxRegionSize: 1 << 30 });
  const out = await decryptRange(data, policy, stored.length, (o, n) => [Buffer.from(stored.subarray(o, n === undefined ? undefined : o + n))], range ? { range } : {});
  return collectBytes(out);
}

async function webDecrypt(json: string, stored: Uint8Array, policy: ClientSideEncryptionPolicy, range?: { offset: number; count?: number }, chunk = 4099): Promise<Uint8Array> {
  const data = parseEncryptionData(json, { maxRegionSize: 1 << 30 });
  const out = await decryptWebRange(data, policy, stored.length, (o, n) => chunked(Buffer.from(stored.subarray(o, n === undefined ? undefined : o + n)), [chunk]), range ? { range } : {});
  return collectWebBytes(out);
}

describe("web backend output is byte-identical to the Node backend (same CEK, same nonces, A256KW is deterministic)", () => {
  const sizes = [0, 1, 63, 64, 65, 64 * 3 + 5, 1000];
  for (const size of sizes) {
    it(`2.1 with 64-byte regions, ${size} bytes: same EncryptionData JSON and same stored body`, async () => {
      const plaintext = patternBytes(size, size + 3);
      const node = await nodeEncrypt({ keyEncryptionKey: new AesKeyWrapKey("kw", KW_BYTES), encryptionVersion: "2.1", regionSize: 64, random: fixedRandom([CEK]) }, plaintext, [7, 100]);
      const webKey = await WebAesKeyWrapKey.fromRaw("kw", KW_BYTES);
      const web = await webEncrypt({ keyEncryptionKey: webKey, encryptionVersion: "2.1", regionSize: 64, random: fixedRandom([CEK]) }, stream(plaintext, 13).s);
      expect(web.json).toBe(node.json);
      expect(Buffer.from(web.body).equals(node.body)).toBe(true);
      expect(web.regions).toBe(Math.ceil(size / 64));
    });
  }

  it("2.0 (4 MiB regions), 4 MiB + 1 bytes from a Blob: identical to the Node backend", async () => {
    const plaintext = patternBytes(4 * 1024 * 1024 + 1, 5);
    const node = await nodeEncrypt({ keyEncryptionKey: new AesKeyWrapKey("kw", KW_BYTES), random: fixedRandom([CEK]) }, plaintext, [65536]);
    const web = await webEncrypt({ keyEncryptionKey: await WebAesKeyWrapKey.fromRaw("kw", KW_BYTES), random: fixedRandom([CEK]) }, new Blob([plaintext]));
    expect(web.json).toBe(node.json);
    expect(sha256hex(web.body)).toBe(sha256hex(node.body));
    expect(web.regions).toBe(2);
  });

  it("A128KW / A192KW / A256KW wraps equal the Node AES key wrap (RFC 3394 is deterministic)", async () => {
    for (const size of [16, 24, 32] as const) {
      const raw = patternBytes(size, size);
      const input = patternBytes(40, 1);
      const nodeKey = new AesKeyWrapKey("k", raw);
      const webKey = await WebAesKeyWrapKey.fromRaw("k", raw);
      expect(webKey.defaultWrapAlgorithm).toBe(nodeKey.defaultWrapAlgorithm);
      const a = await nodeKey.wrapKey(nodeKey.defaultWrapAlgorithm, input);
      const b = await webKey.wrapKey(webKey.defaultWrapAlgorithm, input);
      expect(Buffer.from(b.encryptedKey).equals(Buffer.from(a.encryptedKey))).toBe(true);
      expect(Buffer.from(await webKey.unwrapKey(webKey.defaultWrapAlgorithm, a.encryptedKey)).equals(input)).toBe(true);
    }
  });
});

describe("each backend decrypts the other's output (AES-KW, RSA-OAEP, RSA-OAEP-256), whole and ranged", () => {
  const rsa = RsaKey.generate("rsa-1", 2048);
  const cases: [string, () => Promise<{ node: KeyEncryptionKey; web: KeyEncryptionKey; alg?: string }>][] = [
    ["A256KW", async () => ({ node: new AesKeyWrapKey("kw", KW_BYTES), web: await WebAesKeyWrapKey.fromRaw("kw", KW_BYTES) })],
    ["RSA-OAEP", async () => ({ node: rsa, web: await webKeyFromJwk(rsa.toJwk()) })],
    ["RSA-OAEP-256", async () => ({ node: rsa, web: await WebRsaKey.fromJwk("rsa-1", rsa.toJwk(), "RSA-OAEP-256"), alg: "RSA-OAEP-256" })],
  ];
  const plaintext = patternBytes(64 * 7 + 33, 11);
  for (const [name, keys] of cases) {
    it(`${name}: web writes, Node reads; Node writes, web reads; ranges agree`, async () => {
      const { node, web, alg } = await keys();
      const base = { encryptionVersion: "2.1" as const, regionSize: 64, ...(alg ? { keyWrapAlgorithm: alg } : {}) };
      const w = await webEncrypt({ ...base, keyEncryptionKey: web }, plaintext);
      expect(JSON.parse(w.json).WrappedContentKey.Algorithm).toBe(alg ?? web.defaultWrapAlgorithm);
      expect((await nodeDecrypt(w.json, w.body, { keyEncryptionKey: node })).equals(plaintext)).toBe(true);
      const n = await nodeEncrypt({ ...base, keyEncryptionKey: node }, plaintext, [50]);
      expect(Buffer.from(await webDecrypt(n.json, n.body, { keyEncryptionKey: web })).equals(plaintext)).toBe(true);
      for (const range of [{ offset: 0, count: 1 }, { offset: 63, count: 2 }, { offset: 100, count: 200 }, { offset: 480 }, { offset: 500, count: 0 }, { offset: 9999 }]) {
        const fromWeb = await webDecrypt(n.json, n.body, { keyEncryptionKey: web }, range, 17);
        const fromNode = await nodeDecrypt(n.json, n.body, { keyEncryptionKey: node }, range);
        expect(Buffer.from(fromWeb).equals(fromNode), JSON.stringify(range)).toBe(true);
        expect(Buffer.from(fromWeb).equals(plaintext.subarray(range.offset, range.count === undefined ? undefined : range.offset + range.count))).toBe(true);
      }
    });
  }

  it("imported keys are non-extractable CryptoKeys unless asked otherwise; toJSON never shows key material", async () => {
    const k = await webKeyFromJwk({ kty: "oct", kid: "kw", alg: "A256KW", k: base64UrlEncode(KW_BYTES) });
    expect(k).toBeInstanceOf(WebAesKeyWrapKey);
    expect((k as WebAesKeyWrapKey).cryptoKey.extractable).toBe(false);
    expect(JSON.stringify(k)).not.toContain(base64UrlEncode(KW_BYTES));
    const e = await WebAesKeyWrapKey.fromRaw("kw", KW_BYTES, { extractable: true });
    expect(e.cryptoKey.extractable).toBe(true);
  });
});

describe("the real Python SDK vectors decrypt with the web backend (2.0 GCM and 1.0 CBC, whole and ranged)", () => {
  const m = manifest();
  const webKeys = async (): Promise<ClientSideEncryptionPolicy> => {
    const keys = await Promise.all(
      m.keks.map((k) => (k.algorithm === "A256KW" ? WebAesKeyWrapKey.fromRaw(k.kid, Buffer.from(k.key_b64, "base64")) : webKeyFromJwk({ ...RsaKey.fromPem(k.kid, k.private_key_pkcs8_pem!).toJwk(), kid: k.kid }))),
    );
    return { keyResolver: (id) => keys.find((k) => k.keyId === id) };
  };
  const load = (c: BlobCase) => {
    const stored = readVectorFile(c.stored.file);
    return { json: findEncryptionDataInMetadata(c.stored.metadata)!, stored };
  };
  for (const c of casesOfKind<BlobCase>("blob").filter((x) => x.blob_type === "BlockBlob")) {
    it(`${c.id}: protocol ${c.protocol} ${c.kek_algorithm}, ${c.plaintext.size} bytes`, async () => {
      const { json, stored } = load(c);
      const out = await webDecrypt(json, stored, await webKeys(), undefined, 65_521);
      expect(out.length).toBe(c.plaintext.size);
      expect(sha256hex(out)).toBe(c.plaintext.sha256);
    });
  }
  it("the 1.0 page blob (unpadded) decrypts with padded: false", async () => {
    const c = blobCase("blob-v1-a256kw-0001024-pageblob");
    const { json, stored } = load(c);
    const data = parseEncryptionData(json);
    const out = await collectWebBytes(await decryptWebRange(data, await webKeys(), stored.length, (o, n) => [stored.subarray(o, n === undefined ? undefined : o + n)], { padded: false }));
    expect(sha256hex(out)).toBe(c.plaintext.sha256);
  });
  for (const rc of casesOfKind<RangeCase>("blob_range").filter((x) => x.blob_type === "BlockBlob")) {
    it(`${rc.id}: every listed range`, async () => {
      const c = blobCase(rc.blob_case);
      const { json, stored } = load(c);
      const plaintext = plaintextOf(c.plaintext);
      const policy = await webKeys();
      for (const r of rc.ranges) {
        const range = r.count === null ? { offset: r.offset } : { offset: r.offset, count: r.count };
        const out = await webDecrypt(json, stored, policy, range, 4099);
        expect(sha256hex(out), JSON.stringify(range)).toBe(r.expected.sha256);
        expect(Buffer.from(out).equals(plaintext.subarray(r.offset, r.count === null ? undefined : r.offset + r.count))).toBe(true);
      }
    });
  }
});

describe("tampering is refused by the web backend; verified regions before it are the only output", () => {
  const plaintext = patternBytes(64 * 4 + 10, 21);
  const setup = async () => {
    const key = await WebAesKeyWrapKey.fromRaw("kw", KW_BYTES);
    const w = await webEncrypt({ keyEncryptionKey: key, encryptionVersion: "2.1", regionSize: 64 }, plaintext);
    return { key, ...w };
  };
  it("a flipped byte in region 2 (nonce, body or tag): regions 0-1 are released, then DECRYPTION_FAILED, nothing of region 2 or later", async () => {
    const { key, json, body } = await setup();
    for (const at of [2 * 92, 2 * 92 + 40, 2 * 92 + 91]) {
      const t = Buffer.from(body);
      t[at]! ^= 1;
      const data = parseEncryptionData(json);
      const got: Uint8Array[] = [];
      const e = await expectCode(async () => {
        for await (const p of await decryptWebRange(data, { keyEncryptionKey: key }, t.length, () => t)) got.push(p);
      }, at === 2 * 92 ? "REGION_OUT_OF_ORDER" : "DECRYPTION_FAILED");
      if (e.code === "DECRYPTION_FAILED") expect(e.message).toBe(DECRYPTION_FAILED_MESSAGE);
      expect(Buffer.concat(got).equals(plaintext.subarray(0, 128))).toBe(true);
      expectNoSecrets(e, [KW_BYTES]);
    }
  });
  it("a flipped byte in the last region's tag, a truncated body, a 1-byte extension: DECRYPTION_FAILED", async () => {
    const { key, json, body } = await setup();
    const data = parseEncryptionData(json);
    const last = Buffer.from(body);
    last[last.length - 1]! ^= 0x80;
    for (const t of [last, Buffer.from(body.subarray(0, body.length - 1)), Buffer.concat([body, Buffer.from([0])])]) {
      await expectCode(async () => collectWebBytes(decryptWebGcmRegions(t, await unwrapWebContentKey(data, { keyEncryptionKey: key }), 64)), "DECRYPTION_FAILED");
    }
  });
  it("swapped regions: REGION_OUT_OF_ORDER; with allowMisorderedRegions the swap only passes authentication (reordered output)", async () => {
    const { key, json, body } = await setup();
    const R = 92;
    const t = Buffer.concat([body.subarray(R, 2 * R), body.subarray(0, R), body.subarray(2 * R)]);
    const data = parseEncryptionData(json);
    await expectCode(async () => collectWebBytes(await decryptWebRange(data, { keyEncryptionKey: key }, t.length, () => t)), "REGION_OUT_OF_ORDER");
    const out = await collectWebBytes(await decryptWebRange(data, { keyEncryptionKey: key, allowMisorderedRegions: true }, t.length, () => t));
    expect(Buffer.from(out.subarray(0, 64)).equals(plaintext.subarray(64, 128))).toBe(true);
  });
  it("a wrong key-encryption key, a 2.1→2.0 protocol downgrade and a forged EncryptedKey are DECRYPTION_FAILED; an unknown key id is KID_MISMATCH", async () => {
    const { key, json, body } = await setup();
    const other = await WebAesKeyWrapKey.fromRaw("kw", patternBytes(32, 1234));
    const run = (j: string, k: KeyEncryptionKey) => async () => collectWebBytes(await decryptWebRange(parseEncryptionData(j, { maxRegionSize: 1 << 30 }), { keyEncryptionKey: k }, body.length, () => body));
    await expectCode(run(json, other), "DECRYPTION_FAILED");
    const o = JSON.parse(json);
    o.EncryptionAgent.Protocol = "2.0";
    o.EncryptedRegionInfo.DataLength = 4194304;
    await expectCode(run(JSON.stringify(o), key), "DECRYPTION_FAILED");
    const f = JSON.parse(json);
    f.WrappedContentKey.EncryptedKey = base64Encode(patternBytes(40, 3));
    await expectCode(run(JSON.stringify(f), key), "DECRYPTION_FAILED");
    await expectCode(run(json, await WebAesKeyWrapKey.fromRaw("other-id", KW_BYTES)), "KID_MISMATCH");
  });
});

describe("web backend rules", () => {
  it("encryption reads the source one region at a time (bounded memory): after the first region only ~1 region was pulled", async () => {
    const data = patternBytes(64 * 100, 4);
    const { s, pulled } = stream(data, 16);
    const ce = await createWebContentEncryption({ keyEncryptionKey: await WebAesKeyWrapKey.fromRaw("kw", KW_BYTES), encryptionVersion: "2.1", regionSize: 64 });
    const it = ce.encrypt(s);
    const first = await it.next();
    expect(first.value?.length).toBe(92);
    expect(pulled()).toBeLessThanOrEqual(64 + 16);
    await it.return(undefined);
  });
  it("decryption reads at most one stored region ahead of what it released", async () => {
    const key = await WebAesKeyWrapKey.fromRaw("kw", KW_BYTES);
    const w = await webEncrypt({ keyEncryptionKey: key, encryptionVersion: "2.1", regionSize: 64 }, patternBytes(64 * 50, 2));
    const { s, pulled } = stream(w.body, 23);
    const cek = await unwrapWebContentKey(parseEncryptionData(w.json), { keyEncryptionKey: key });
    const it = decryptWebGcmRegions(s, cek, 64);
    await it.next();
    expect(pulled()).toBeLessThanOrEqual(92 + 23);
    await it.return(undefined);
  });
  it("writing 1.0 is refused (UNSUPPORTED_OPERATION); a 2.0 regionSize and bad sources are INVALID_ARGUMENT; a failing stream is SOURCE_ERROR", async () => {
    const kek = await WebAesKeyWrapKey.fromRaw("kw", KW_BYTES);
    await expectCode(() => createWebContentEncryption({ keyEncryptionKey: kek, encryptionVersion: "1.0", allowDeprecatedV1Encryption: true }), "UNSUPPORTED_OPERATION");
    await expectCode(() => createWebContentEncryption({ keyEncryptionKey: kek, regionSize: 64 }), "INVALID_ARGUMENT");
    await expectCode(() => createWebContentEncryption({}), "KEY_NOT_FOUND");
    const ce = await createWebContentEncryption({ keyEncryptionKey: kek });
    await expectCode(() => collectWebBytes(ce.encrypt("text" as unknown as WebByteInput)), "INVALID_ARGUMENT");
    const broken = new ReadableStream({ pull: (c) => c.error(new Error("disk gone")) });
    await expectCode(() => collectWebBytes(encryptWebGcmRegions(broken, CEK, 64)), "SOURCE_ERROR");
  });
  it("RSA1_5 unwrap is KEY_OPERATION_FAILED (Web Crypto has no RSAES-PKCS1-v1_5); a public-only JWK wraps but cannot unwrap", async () => {
    const rsa = RsaKey.generate("rsa-2", 2048);
    const pub = await webKeyFromJwk({ kty: "RSA", kid: "rsa-2", n: rsa.toJwk().n, e: rsa.toJwk().e });
    const w = await webEncrypt({ keyEncryptionKey: pub, encryptionVersion: "2.1", regionSize: 64 }, patternBytes(10));
    expect((await nodeDecrypt(w.json, w.body, { keyEncryptionKey: rsa })).equals(patternBytes(10))).toBe(true);
    await expectCode(() => webDecrypt(w.json, w.body, { keyEncryptionKey: pub }), "KEY_OPERATION_FAILED");
    const o = JSON.parse(w.json);
    o.WrappedContentKey.Algorithm = "RSA1_5";
    const full = await webKeyFromJwk(rsa.toJwk());
    await expectCode(() => webDecrypt(JSON.stringify(o), w.body, { keyEncryptionKey: full }), "KEY_OPERATION_FAILED");
  });
  it("base64 helpers agree with Node's Buffer for every length 0..70 and refuse what decodeBase64Strict refuses", () => {
    for (let n = 0; n <= 70; n++) {
      const b = patternBytes(n, n + 1);
      expect(base64Encode(b)).toBe(b.toString("base64"));
      expect(base64UrlEncode(b)).toBe(b.toString("base64url"));
      expect(Buffer.from(base64DecodeStrict(b.toString("base64"))!).equals(b)).toBe(true);
      expect(Buffer.from(base64UrlDecode(b.toString("base64url"))!).equals(b)).toBe(true);
    }
    for (const bad of ["A", "AB=C", "A===", "ab!d", "YQ", "Y\u00e9==", "=AAA"]) expect(base64DecodeStrict(bad), bad).toBeUndefined();
  });
});

describe("web backend helpers", () => {
  it("toReadableStream: a pull-based ReadableStream of the decrypted regions; cancel stops the generator", async () => {
    const key = await WebAesKeyWrapKey.fromRaw("kw", KW_BYTES);
    const plain = patternBytes(64 * 5 + 1, 8);
    const w = await webEncrypt({ keyEncryptionKey: key, encryptionVersion: "2.1", regionSize: 64 }, plain);
    const data = parseEncryptionData(w.json);
    const rs = toReadableStream(await decryptWebRange(data, { keyEncryptionKey: key }, w.body.length, () => w.body)) as ReadableStream<Uint8Array>;
    const parts: Uint8Array[] = [];
    for await (const c of rs) parts.push(c);
    expect(parts.map((p) => p.length)).toEqual([64, 64, 64, 64, 64, 1]);
    expect(Buffer.concat(parts).equals(plain)).toBe(true);
    let finished = false;
    async function* endless() {
      try {
        for (;;) yield new Uint8Array(8);
      } finally {
        finished = true;
      }
    }
    const reader = toReadableStream(endless()).getReader();
    await reader.read();
    await reader.cancel();
    expect(finished).toBe(true);
  });
  it("sources: ArrayBuffer, typed arrays and DataView give the same ciphertext as a Uint8Array", async () => {
    const plain = patternBytes(200, 9);
    const ref = await collectWebBytes(encryptWebGcmRegions(plain, CEK, 64));
    const u16 = new Uint16Array(plain.buffer.slice(plain.byteOffset, plain.byteOffset + 200));
    for (const src of [plain.buffer.slice(plain.byteOffset, plain.byteOffset + 200), u16, new DataView(u16.buffer), [plain.subarray(0, 7), plain.subarray(7)]]) {
      expect(Buffer.from(await collectWebBytes(encryptWebGcmRegions(src as WebByteInput, CEK, 64))).equals(Buffer.from(ref))).toBe(true);
    }
  });
  it("key selection gives the Node backend's answer in every case (configured, resolver, wrong id, failing resolver, none)", async () => {
    const a = new AesKeyWrapKey("a", KW_BYTES);
    const b = new AesKeyWrapKey("b", KW_BYTES);
    const policies: [string, ClientSideEncryptionPolicy][] = [
      ["configured", { keyEncryptionKey: a }],
      ["resolver", { keyEncryptionKey: b, keyResolver: (id) => (id === "a" ? a : undefined) }],
      ["resolver has none", { keyResolver: () => undefined }],
      ["resolver returns another id", { keyResolver: () => b }],
      ["resolver throws", { keyResolver: () => { throw new Error("backend down"); } }],
      ["other key configured", { keyEncryptionKey: b }],
      ["nothing", {}],
      ["resolver not a function", { keyResolver: 5 as unknown as ClientSideEncryptionPolicy["keyResolver"] }],
    ];
    const outcome = async (f: () => Promise<{ keyId: string }>) => {
      try {
        return `ok ${(await f()).keyId}`;
      } catch (e) {
        return (e as { code?: string }).code ?? "untyped";
      }
    };
    const got = [];
    for (const [label, p] of policies) {
      const node = await outcome(() => selectKeyEncryptionKey("a", p));
      const web = await outcome(() => selectWebKeyEncryptionKey("a", p));
      expect(web, label).toBe(node);
      got.push(node);
    }
    expect(got).toEqual(["ok a", "ok a", "KEY_NOT_FOUND", "KID_MISMATCH", "KEY_OPERATION_FAILED", "KID_MISMATCH", "KEY_NOT_FOUND", "INVALID_ARGUMENT"]);
  });
});

describe("README", () => {
  it("the README's browser example (```ts web) runs as written on the web entry and prints the decrypted range", async () => {
    const { mkdtempSync, readFileSync, rmSync, writeFileSync } = await import("node:fs");
    const path = await import("node:path");
    const here = path.dirname(new URL(import.meta.url).pathname);
    const block = /```ts web\n([\s\S]*?)```/.exec(readFileSync(path.join(here, "..", "README.md"), "utf8"))?.[1];
    expect(block, "README has a ```ts web example").toBeTruthy();
    const dir = mkdtempSync(path.join(here, ".readme-web-"));
    const printed: unknown[] = [];
    const log = console.log;
    console.log = (...args: unknown[]) => void printed.push(args.join(" "));
    try {
      // The package subpath, resolved to the sources like every workspace import in tests.
      const code = block!.replace('"@azure-cse/core-envelope/web"', JSON.stringify(path.join(here, "..", "src", "web", "index.js")));
      writeFileSync(path.join(dir, "example.ts"), `${code}\nexport {};\n`);
      await import(path.join(dir, "example.ts"));
    } finally {
      console.log = log;
      rmSync(dir, { recursive: true, force: true });
    }
    expect(printed).toEqual(["browser"]);
  });
});
