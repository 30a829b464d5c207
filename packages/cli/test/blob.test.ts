// azcse blob upload / download / inspect / rotate-key against Azurite (exit codes are the contract).
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { parseEncryptionData } from "@azure-cse/core-envelope";
import { startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { main } from "../src/main.js";

let azurite: AzuriteHandle;
let container: ContainerClient;
let dir: string;
const f = (n: string): string => path.join(dir, n);

async function azcse(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(argv, { stdout: (s) => (out += s), stderr: (s) => (err += s) });
  return { code, out, err };
}

beforeAll(async () => {
  azurite = await startAzurite();
  process.env.AZURE_STORAGE_CONNECTION_STRING = azurite.connectionString;
  container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient("cli");
  await container.create();
  dir = mkdtempSync(path.join(tmpdir(), "azcse-cli-blob-"));
  for (const [kid, file] of [["cli-key-1", "k1.jwk"], ["cli-key-2", "k2.jwk"]] as const) {
    expect((await azcse("key", "generate", "--alg", "A256KW", "--kid", kid, "--out", f(file))).code).toBe(0);
  }
});
afterAll(async () => {
  delete process.env.AZURE_STORAGE_CONNECTION_STRING;
  rmSync(dir, { recursive: true, force: true });
  await azurite?.stop();
});

describe("azcse blob", () => {
  it("upload → inspect → download (whole and --offset/--count) round trips a multi-region 2.0 file, exit 0", async () => {
    const p = randomBytes(4 * 1024 * 1024 + 999);
    writeFileSync(f("plain.bin"), p);
    const up = await azcse("blob", "upload", "cli", "big", f("plain.bin"), "--key", f("k1.jwk"), "--metadata", "Project=demo", "--metadata", "n=1");
    expect(up.code).toBe(0);
    expect(JSON.parse(up.out)).toMatchObject({ protocol: "2.0", keyId: "cli-key-1", plaintextBytes: p.length, storedBytes: p.length + 56 });
    const props = await container.getBlobClient("big").getProperties();
    expect(props.metadata?.project).toBe("demo");
    expect(parseEncryptionData(props.metadata!.encryptiondata!).wrappedContentKey.keyId).toBe("cli-key-1");

    const info = await azcse("blob", "inspect", "cli", "big");
    expect(info.code).toBe(0);
    expect(JSON.parse(info.out)).toMatchObject({
      encrypted: true, protocol: "2.0", kid: "cli-key-1", algorithm: "A256KW", regionSize: 4194304,
      storedLength: p.length + 56, plaintextLength: p.length,
    });
    expect(JSON.parse(info.out).writerLibrary).toMatch(/^azsdk-js-azure-cse\//);

    expect((await azcse("blob", "download", "cli", "big", f("out.bin"), "--key", f("k1.jwk"))).code).toBe(0);
    expect(readFileSync(f("out.bin")).equals(p)).toBe(true);
    const r = await azcse("blob", "download", "cli", "big", f("range.bin"), "--key", f("k1.jwk"), "--offset", "4194000", "--count", "1000");
    expect(r.code).toBe(0);
    expect(readFileSync(f("range.bin")).equals(p.subarray(4194000, 4195000))).toBe(true);
  });

  it("--protocol 2.1 --region-size and --protocol 1.0 (with a deprecation warning) upload and read back", async () => {
    const p = randomBytes(5000);
    writeFileSync(f("small.bin"), p);
    expect((await azcse("blob", "upload", "cli", "v21", f("small.bin"), "--key", f("k1.jwk"), "--protocol", "2.1", "--region-size", "1024")).code).toBe(0);
    expect(JSON.parse((await azcse("blob", "inspect", "cli", "v21")).out)).toMatchObject({ protocol: "2.1", regionSize: 1024, plaintextLength: 5000 });
    const v1 = await azcse("blob", "upload", "cli", "v1", f("small.bin"), "--key", f("k1.jwk"), "--protocol", "1.0");
    expect(v1.code).toBe(0);
    expect(v1.err).toContain("deprecated");
    expect(JSON.parse((await azcse("blob", "inspect", "cli", "v1")).out)).toMatchObject({ protocol: "1.0", plaintextLength: null });
    expect(JSON.parse((await azcse("blob", "inspect", "cli", "v1", "--key", f("k1.jwk"))).out)).toMatchObject({ plaintextLength: 5000 });
    for (const name of ["v21", "v1"]) {
      expect((await azcse("blob", "download", "cli", name, f(`${name}.out`), "--key", f("k1.jwk"))).code).toBe(0);
      expect(readFileSync(f(`${name}.out`)).equals(p)).toBe(true);
    }
  });

  it("rotate-key re-wraps with the new key: the new key reads, the old key alone fails with exit 2", async () => {
    const p = randomBytes(3000);
    writeFileSync(f("rot.bin"), p);
    expect((await azcse("blob", "upload", "cli", "rot", f("rot.bin"), "--key", f("k1.jwk"))).code).toBe(0);
    const r = await azcse("blob", "rotate-key", "cli", "rot", "--key", f("k1.jwk"), "--new-key", f("k2.jwk"));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ previousKeyId: "cli-key-1", keyId: "cli-key-2" });
    expect((await azcse("blob", "download", "cli", "rot", f("rot.out"), "--key", f("k2.jwk"))).code).toBe(0);
    expect(readFileSync(f("rot.out")).equals(p)).toBe(true);
    const old = await azcse("blob", "download", "cli", "rot", f("rot.old"), "--key", f("k1.jwk"));
    expect(old.code).toBe(2);
    expect(old.err).toContain("KEY_NOT_FOUND");
    expect(existsSync(f("rot.old"))).toBe(false);
  });

  it("a tampered blob → exit 2 DECRYPTION_FAILED and no output file", async () => {
    writeFileSync(f("t.bin"), randomBytes(2000));
    expect((await azcse("blob", "upload", "cli", "tamper", f("t.bin"), "--key", f("k1.jwk"))).code).toBe(0);
    const raw = container.getBlobClient("tamper");
    const stored = await raw.downloadToBuffer();
    const meta = (await raw.getProperties()).metadata!;
    stored[100] = stored[100]! ^ 0x80;
    await container.getBlockBlobClient("tamper").upload(stored, stored.length, { metadata: meta });
    const r = await azcse("blob", "download", "cli", "tamper", f("t.out"), "--key", f("k1.jwk"));
    expect(r.code).toBe(2);
    expect(r.err).toContain("DECRYPTION_FAILED");
    expect(existsSync(f("t.out"))).toBe(false);
  });

  it("a plaintext blob is refused (requireEncryption) with exit 2 ENCRYPTION_REQUIRED; inspect says encrypted: false", async () => {
    await container.getBlockBlobClient("plain").upload("hello", 5);
    const r = await azcse("blob", "download", "cli", "plain", f("plain.out"), "--key", f("k1.jwk"));
    expect(r.code).toBe(2);
    expect(r.err).toContain("ENCRYPTION_REQUIRED");
    expect(JSON.parse((await azcse("blob", "inspect", "cli", "plain")).out)).toMatchObject({ encrypted: false, plaintextLength: 5, storedLength: 5 });
  });

  it("exit codes: missing blob 3, usage errors 1, reserved metadata key 1, unreadable metadata on inspect 2", async () => {
    expect((await azcse("blob", "download", "cli", "nope", f("x"), "--key", f("k1.jwk"))).code).toBe(3);
    expect((await azcse("blob", "inspect", "cli", "nope")).code).toBe(3);
    expect((await azcse("blob", "download", "cli", "big", "--key", f("k1.jwk"))).code).toBe(1);
    expect((await azcse("blob", "upload", "cli", "x", f("plain.bin"), "--key", f("k1.jwk"), "--region-size", "64")).code).toBe(1);
    expect((await azcse("blob", "upload", "cli", "x", f("plain.bin"), "--key", f("k1.jwk"), "--metadata", "EncryptionData=x")).code).toBe(1);
    expect((await azcse("blob", "upload", "cli", "x", f("plain.bin"))).code).toBe(1);
    await container.getBlockBlobClient("badmeta").upload("x", 1, { metadata: { encryptiondata: "{broken" } });
    const bad = await azcse("blob", "inspect", "cli", "badmeta");
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.out).error.code).toBe("INVALID_ENCRYPTION_DATA");
    expect((await azcse("blob", "upload", "no-such-container", "x", f("small.bin"), "--key", f("k1.jwk"))).code).toBe(3);
    expect((await azcse("blob", "upload", "newc", "x", f("small.bin"), "--key", f("k1.jwk"), "--create-container")).code).toBe(0);
  });
});
