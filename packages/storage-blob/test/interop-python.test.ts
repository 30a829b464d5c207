// Live interop with the official Python SDK (azure-storage-blob 12.15) through Azurite, both ways, driven by
// tools/interop/blob_peer.py. Never skipped: assertPythonPeer() fails with the install command.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AesKeyWrapKey,
  collectBytes,
  createContentEncryption,
  encryptGcmRegions,
  parseEncryptionData,
  serializeEncryptionData,
  type NonceScheme,
} from "@azure-cse/core-envelope";
import { assertPythonPeer, PYTHON_KEK_PRELUDE, repoRoot, runPython } from "@azure-cse/testkit";
import { EncryptedBlobClient } from "@azure-cse/storage-blob";
import { MiB, plaintext, startEnv, streamToBuffer, uniqueName, type Env } from "./helpers.js";

const peer = PYTHON_KEK_PRELUDE + readFileSync(path.join(repoRoot, "tools", "interop", "blob_peer.py"), "utf8");
let env: Env;
let dir: string;
let jwk: Record<string, string>;

interface PeerResult {
  ok: boolean;
  size?: number;
  sha256?: string;
  error?: string;
  metadata?: Record<string, string>;
}

function py(req: Record<string, unknown>): Promise<PeerResult> {
  return runPython<PeerResult>(peer, { connection_string: env.azurite.connectionString, container: env.container.containerName, kek: jwk, ...req }, { timeoutMs: 120_000 });
}

beforeAll(async () => {
  assertPythonPeer();
  env = await startEnv();
  dir = mkdtempSync(path.join(tmpdir(), "azcse-blob-py-"));
  jwk = env.kek.toJwk();
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await env?.stop();
});

describe("Python SDK writes → EncryptedBlobClient reads (whole and ranged)", () => {
  const cases = [
    { label: "2.0 single Put Blob with user metadata", protocol: "2.0", size: 5 * MiB + 17, config: {} },
    { label: "2.0 Put Block + Put Block List (blocks cut across regions)", protocol: "2.0", size: 4 * MiB + 1, config: { max_single_put_size: MiB, max_block_size: MiB } },
    { label: "1.0 single Put Blob with user metadata", protocol: "1.0", size: 1000, config: {} },
    { label: "1.0 Put Block + Put Block List", protocol: "1.0", size: 300_001, config: { max_single_put_size: 64 * 1024, max_block_size: 64 * 1024 } },
  ];
  it.each(cases)("$label", async ({ protocol, size, config }) => {
    const name = uniqueName("py");
    const p = plaintext(size);
    const inFile = path.join(dir, `${name}.in`);
    writeFileSync(inFile, p);
    const r = await py({ op: "upload", blob: name, protocol, in_file: inFile, metadata: { Origin: "python", n: String(size) }, ...config });
    expect(r.ok).toBe(true);
    expect(r.metadata?.encryptiondata).toBeDefined();
    const c = env.encrypted.getBlobClient(name);
    const d = await c.download();
    expect(d.encryption?.protocol).toBe(protocol);
    expect(d.encryption?.encryptionLibrary).toMatch(/^Python /);
    expect(d.contentLength).toBe(size);
    expect((await streamToBuffer(d.readableStreamBody)).equals(p)).toBe(true);
    expect((await c.downloadToBuffer(0, undefined, { blockSize: MiB, concurrency: 3 })).equals(p)).toBe(true);
    for (const [o, n] of [[0, 1], [size - 1, 1], [Math.floor(size / 2), 1000], [size - 33, undefined], [15, 34]] as Array<[number, number | undefined]>) {
      const end = n === undefined ? size : Math.min(size, o + n);
      const got = await streamToBuffer((await c.download(o, n)).readableStreamBody);
      expect(got.equals(p.subarray(o, end))).toBe(true);
    }
    const props = await c.getProperties({ computeV1PlaintextLength: true });
    expect(props.plaintextLength).toBe(size);
    expect(props.metadata?.origin).toBe("python");
  });
});

describe("EncryptedBlobClient writes → Python SDK reads (require_encryption=True)", () => {
  const cases = [
    { label: "2.0 single Put Blob", version: "2.0" as const, size: 4 * MiB + 5, opts: {} },
    { label: "2.0 staged blocks with metadata committed in the Put Block List", version: "2.0" as const, size: 9 * MiB + 3, opts: { maxSingleShotSize: 0, blockSize: MiB } },
    { label: "2.0 empty blob", version: "2.0" as const, size: 0, opts: {} },
    { label: "1.0 (deprecated opt-in) single Put Blob", version: "1.0" as const, size: 1000, opts: {} },
    { label: "1.0 (deprecated opt-in) staged blocks", version: "1.0" as const, size: 100_003, opts: { maxSingleShotSize: 0, blockSize: 16 * 1024 } },
  ];
  it.each(cases)("$label decrypts exactly in Python", async ({ version, size, opts }) => {
    const name = uniqueName("js");
    const c = new EncryptedBlobClient(env.container.getBlobClient(name), { ...env.policy, encryptionVersion: version, allowDeprecatedV1Encryption: version === "1.0" });
    const p = plaintext(size);
    await c.uploadData(p, { ...opts, metadata: { Writer: "azure-cse" } });
    const out = path.join(dir, `${name}.out`);
    const r = await py({ op: "download", blob: name, out_file: out });
    expect(r).toMatchObject({ ok: true, size });
    expect(readFileSync(out).equals(p)).toBe(true);
  });

  it("a 2.0 range read by Python returns the exact slice", async () => {
    const name = uniqueName("js");
    const p = plaintext(4 * MiB + 100);
    await env.encrypted.getBlobClient(name).uploadData(p);
    const out = path.join(dir, `${name}.range`);
    const r = await py({ op: "download", blob: name, out_file: out, offset: 4 * MiB - 10, length: 50 });
    expect(r).toMatchObject({ ok: true, size: 50 });
    expect(readFileSync(out).equals(p.subarray(4 * MiB - 10, 4 * MiB + 40))).toBe(true);
  });

  it("after updateKeyEncryptionKey Python reads with the new key and refuses the old one", async () => {
    const name = uniqueName("js");
    const p = plaintext(2000);
    const c = env.encrypted.getBlobClient(name);
    await c.uploadData(p);
    const newKek = AesKeyWrapKey.generate("local:py-rotated");
    await c.updateKeyEncryptionKey(newKek);
    const out = path.join(dir, `${name}.rot`);
    expect(await py({ op: "download", blob: name, out_file: out, kek: newKek.toJwk() })).toMatchObject({ ok: true, size: 2000 });
    expect(readFileSync(out).equals(p)).toBe(true);
    const old = await py({ op: "download", blob: name, out_file: out + ".old" });
    expect(old.ok).toBe(false);
  });
});

describe("formats other SDKs write: all three 2.x nonce schemes and 2.1", () => {
  it.each(["python", "java", "dotnet"] as NonceScheme[])("2.0 with the %s nonce scheme reads whole and ranged", async (scheme) => {
    const enc = await createContentEncryption({ keyEncryptionKey: env.kek });
    const p = plaintext(2 * 4 * MiB + 77);
    const stored = await collectBytes(encryptGcmRegions([p], enc.contentKey, enc.regionSize, { nonceScheme: scheme }));
    const name = uniqueName(scheme);
    await env.container.getBlockBlobClient(name).upload(stored, stored.length, { metadata: { encryptiondata: enc.toJson(true) } });
    enc.dispose();
    const c = env.encrypted.getBlobClient(name);
    expect((await c.downloadToBuffer(0, undefined, { concurrency: 3 })).equals(p)).toBe(true);
    expect((await streamToBuffer((await c.download(4 * MiB + 3, 10)).readableStreamBody)).equals(p.subarray(4 * MiB + 3, 4 * MiB + 13))).toBe(true);
  });

  it("the spec's 2.1 Java example (16-byte regions, Java field order) reads and ranges", async () => {
    const kek = new AesKeyWrapKey("local:kek-1", Buffer.from(Array.from({ length: 32 }, (_, i) => i)));
    const json =
      '{"EncryptionMode":"FullBlob","WrappedContentKey":{"KeyId":"local:kek-1","EncryptedKey":"cMwLfFHzWElK/jk3UCn383dDsHC/UDpYP9majZusVI+Mko1jjsI7eY5UOkzGi1Ol","Algorithm":"A256KW"},"EncryptionAgent":{"Protocol":"2.1","EncryptionAlgorithm":"AES_GCM_256"},"EncryptedRegionInfo":{"DataLength":16,"NonceLength":12},"KeyWrappingMetadata":{"EncryptionLibrary":"JavaTrack212.27.0"}}';
    const body = Buffer.from(
      "000000000000000000000000e32fe35a905a625ec050ee496ab2016fb195e30b69e9e0a1f99269ba2ad2f720" +
        "00000000000000010000000084f3d6707d28f1bc9e5d7852d722e6a6d239b1ed7200c6d9be2bc6778e9c6b58" +
        "0000000000000002000000009e38b9c0991d834356601389cbe96b3e78a614bfb5100534",
      "hex",
    );
    const name = uniqueName("java21");
    await env.container.getBlockBlobClient(name).upload(body, body.length, { metadata: { EncryptionData: json } });
    const c = new EncryptedBlobClient(env.container.getBlobClient(name), { keyEncryptionKey: kek });
    const expected = Buffer.from(Array.from({ length: 40 }, (_, i) => i));
    expect((await c.downloadToBuffer()).equals(expected)).toBe(true);
    expect((await streamToBuffer((await c.download(15, 18)).readableStreamBody)).equals(expected.subarray(15, 33))).toBe(true);
    expect((await c.getProperties()).plaintextLength).toBe(40);
    expect(serializeEncryptionData(parseEncryptionData(json), { includeEncryptionMode: true })).toContain('"Protocol":"2.1"');
  });
});
