// Live interop with the official .NET libraries through Azurite, both ways, driven by tools/dotnet-peer:
// Azure.Storage.Blobs 12.30.1 (v12: protocols 1.0 and 2.0) and WindowsAzure.Storage 9.3.3 (legacy: 1.0 block and
// page blobs). Never skipped: assertDotnetPeer() fails with the command that installs the .NET 10 SDK.
// Each direction runs the .NET program once (`run batch`) for all of its cases.
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AesKeyWrapKey, RsaKey, createLocalKeyResolver, parseEncryptionData, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { assertDotnetPeer, runDotnetBatch, type DotnetPeerResult } from "@azure-cse/testkit";
import { EncryptedBlobClient, EncryptedContainerClient } from "@azure-cse/storage-blob";
import { MiB, plaintext, rawBytes, startEnv, uniqueName, type Env } from "./helpers.js";

// Key ids shaped like versioned Key Vault key ids: the peer's resolver and ours match them exactly.
const RSA_KID = "https://azcse-interop.vault.azure.net/keys/cse-rsa/6a1f0c2d9e3b4a5c8d7e6f5a4b3c2d1e";
const AES_KID = "https://azcse-interop.vault.azure.net/keys/cse-aes/0f1e2d3c4b5a69788796a5b4c3d2e1f0";
const SIZES = [0, 1, 15, 16, 17, 4 * MiB - 1, 4 * MiB, 4 * MiB + 1, 9 * MiB + 7];

let env: Env;
let dir: string;
let rsaFile: string;
let aesFile: string;
let rsa: RsaKey;
let aes: AesKeyWrapKey;
let container: EncryptedContainerClient;
let policy: ClientSideEncryptionPolicy;

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Ranges (offset, count; undefined = to the end) across CBC blocks and 4 MiB region edges, inside the blob. */
function rangesFor(size: number): Array<[number, number | undefined]> {
  const all: Array<[number, number | undefined]> = [
    [0, 1], [size - 1, 1], [15, 2], [16, 16], [size - 17, undefined], [4 * MiB - 1, 2], [4 * MiB - 20, 40], [4 * MiB, 1], [8 * MiB - 3, 10], [3, size + 100],
  ];
  return all.filter(([o]) => o >= 0 && o < size);
}
const slice = (p: Buffer, [o, n]: [number, number | undefined]) => p.subarray(o, n === undefined ? p.length : Math.min(p.length, o + n));

function batch(commands: string[][]): Promise<DotnetPeerResult[]> {
  return runDotnetBatch(commands, { connectionString: env.azurite.connectionString, timeoutMs: 600_000 });
}

beforeAll(async () => {
  assertDotnetPeer();
  env = await startEnv();
  dir = mkdtempSync(path.join(tmpdir(), "azcse-blob-dotnet-"));
  rsa = RsaKey.generate(RSA_KID);
  aes = AesKeyWrapKey.generate(AES_KID);
  rsaFile = path.join(dir, "rsa.jwk");
  aesFile = path.join(dir, "aes.jwk");
  writeFileSync(rsaFile, JSON.stringify(rsa.toJwk()));
  writeFileSync(aesFile, JSON.stringify(aes.toJwk()));
  policy = { keyEncryptionKey: rsa, keyResolver: createLocalKeyResolver([rsa, aes]) };
  container = new EncryptedContainerClient(env.container, policy);
});
afterAll(async () => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  await env?.stop();
});

describe(".NET writes → EncryptedBlobClient reads (whole and ranged)", () => {
  interface Written { label: string; name: string; p: Buffer; library: string; protocol: string; blobType: "block" | "page"; kid: string }
  const written: Written[] = [];
  const results: DotnetPeerResult[] = [];

  beforeAll(async () => {
    const commands: string[][] = [];
    const writers = [
      { library: "v12", protocol: "2.0" },
      { library: "v12", protocol: "1.0" },
      { library: "legacy", protocol: "1.0" },
    ];
    let i = 0;
    for (const w of writers) {
      for (const size of SIZES) {
        const name = uniqueName(`net-${w.library}-${w.protocol.replace(".", "")}`);
        const p = plaintext(size);
        const file = path.join(dir, `${name}.in`);
        writeFileSync(file, p);
        const useRsa = i++ % 2 === 0;
        written.push({ label: `${w.library} ${w.protocol} ${size} B`, name, p, library: w.library, protocol: w.protocol, blobType: "block", kid: useRsa ? RSA_KID : AES_KID });
        commands.push(["blob-put", "--container", env.container.containerName, "--blob", name, "--in", file, "--protocol", w.protocol, "--library", w.library, "--key", useRsa ? rsaFile : aesFile]);
      }
    }
    // v12 staged upload (Put Block + Put Block List) in 1 MiB blocks, cut through the 4 MiB + 28 regions.
    {
      const name = uniqueName("net-v12-staged");
      const p = plaintext(9 * MiB + 7);
      const file = path.join(dir, `${name}.in`);
      writeFileSync(file, p);
      written.push({ label: "v12 2.0 staged 1 MiB blocks 9 MiB + 7 B", name, p, library: "v12", protocol: "2.0", blobType: "block", kid: AES_KID });
      commands.push(["blob-put", "--container", env.container.containerName, "--blob", name, "--in", file, "--protocol", "2.0", "--block-size", String(MiB), "--key", aesFile]);
    }
    // Legacy 1.0 page blobs (no padding; sizes are multiples of 512).
    for (const size of [512, 1536, 4 * MiB + 512]) {
      const name = uniqueName("net-legacy-page");
      const p = plaintext(size);
      const file = path.join(dir, `${name}.in`);
      writeFileSync(file, p);
      written.push({ label: `legacy 1.0 page blob ${size} B`, name, p, library: "legacy", protocol: "1.0", blobType: "page", kid: RSA_KID });
      commands.push(["blob-put", "--container", env.container.containerName, "--blob", name, "--in", file, "--protocol", "1.0", "--library", "legacy", "--blob-type", "page", "--key", rsaFile]);
    }
    results.push(...(await batch(commands)));
  }, 600_000);

  it("every .NET put succeeded and stored the expected sizes", () => {
    expect(results.map((r) => [r.exit, r.error])).toEqual(written.map(() => [0, null]));
    written.forEach((w, k) => {
      const r = results[k]!.result as { storedSize: number; size: number };
      const n = w.p.length;
      const stored = w.blobType === "page" ? n : w.protocol === "1.0" ? n + 16 - (n % 16) : n + 28 * Math.ceil(n / (4 * MiB));
      expect([w.label, r.size, r.storedSize]).toEqual([w.label, n, stored]);
    });
  });

  it("the stored EncryptionData is what .NET really writes (EncryptionLibrary, KeyWrappingMetadata, field order, nonces)", async () => {
    for (const [k, w] of written.entries()) {
      const meta = (results[k]!.result as { metadata: Record<string, string> }).metadata;
      const text = meta.encryptiondata!;
      const data = parseEncryptionData(text);
      expect(data.protocol).toBe(w.protocol);
      expect(data.wrappedContentKey.keyId).toBe(w.kid);
      expect(data.wrappedContentKey.algorithm).toBe(w.kid === RSA_KID ? "RSA-OAEP" : "A256KW");
      const lib = data.keyWrappingMetadata?.EncryptionLibrary ?? "";
      if (w.library === "v12") {
        // The v12 writer stores its User-Agent string, not "Net 12.x".
        expect(lib).toMatch(/^azsdk-net-Azure\.Storage\.Blobs\/12\.30\.1(\+[0-9a-f]+)? \(\.NET [0-9.]+; .+\)$/);
        // System.Text.Json: compact, EncryptionMode first, '+' escaped as \u002B.
        expect(text.startsWith('{"EncryptionMode":"FullBlob","WrappedContentKey":{')).toBe(true);
        expect(text).not.toContain("+");
      } else {
        expect(lib).toBe(".NET 9.3.2");
        expect(text.startsWith('{"EncryptionMode":"FullBlob","WrappedContentKey":{')).toBe(true);
      }
      if (w.protocol === "2.0" && w.p.length > 8 * MiB) {
        // .NET region nonces: 4 zero bytes then LE64(i + 1).
        const raw = await rawBytes(env.container, w.name);
        const R = 4 * MiB + 28;
        expect([0, 1, 2].map((r) => raw.subarray(r * R, r * R + 12).toString("hex"))).toEqual([
          "000000000100000000000000",
          "000000000200000000000000",
          "000000000300000000000000",
        ]);
      }
    }
  });

  it("every .NET-written blob decrypts whole and in ranges across block and region edges", async () => {
    for (const w of written) {
      const c = container.getBlobClient(w.name);
      const whole = await c.downloadToBuffer();
      expect([w.label, whole.length, sha(whole)]).toEqual([w.label, w.p.length, sha(w.p)]);
      for (const r of rangesFor(w.p.length)) {
        const got = await c.downloadToBuffer(r[0], r[1]);
        expect([w.label, r, sha(got)]).toEqual([w.label, r, sha(slice(w.p, r))]);
      }
      const d = await c.download();
      expect(d.encryption?.protocol).toBe(w.protocol);
    }
  }, 300_000);
});

describe(".NET v12 and legacy page blobs", () => {
  it("v12 12.30.1 fails on the last block of a legacy 1.0 page blob (it unpads by range, not blob type); ranges before it and our reader work", async () => {
    const name = uniqueName("net-legacy-page-v12");
    const p = plaintext(2048);
    const file = path.join(dir, `${name}.in`);
    writeFileSync(file, p);
    const out = path.join(dir, `${name}.out`);
    const base = ["--container", env.container.containerName, "--blob", name, "--key", rsaFile];
    const [put, whole, head, legacy] = await batch([
      ["blob-put", ...base, "--in", file, "--protocol", "1.0", "--library", "legacy", "--blob-type", "page"],
      ["blob-get", ...base, "--out", out],
      ["blob-get", ...base, "--out", out + ".head", "--offset", "100", "--count", "1000"],
      ["blob-get", ...base, "--out", out + ".legacy", "--library", "legacy"],
    ]);
    expect(put!.exit).toBe(0);
    expect(whole!.exit).toBe(2);
    expect(whole!.error).toMatch(/Padding is invalid/);
    expect([head!.exit, (head!.result as { sha256: string }).sha256]).toEqual([0, sha(p.subarray(100, 1100))]);
    expect([legacy!.exit, (legacy!.result as { sha256: string }).sha256]).toEqual([0, sha(p)]);
    expect((await container.getBlobClient(name).downloadToBuffer()).equals(p)).toBe(true);
  });

  it("v12 returns an unencrypted blob as it is (no require-encryption in v12); legacy RequireEncryption refuses it (exit 2)", async () => {
    const name = uniqueName("plain");
    await env.container.getBlockBlobClient(name).upload("not encrypted", 13);
    const out = path.join(dir, `${name}.out`);
    const [v12, legacy] = await batch([
      ["blob-get", "--container", env.container.containerName, "--blob", name, "--out", out, "--key", aesFile],
      ["blob-get", "--container", env.container.containerName, "--blob", name, "--out", out + ".l", "--key", aesFile, "--library", "legacy"],
    ]);
    expect([v12!.exit, (v12!.result as { sha256: string }).sha256]).toEqual([0, sha(Buffer.from("not encrypted"))]);
    expect(legacy!.exit).toBe(2);
    expect(legacy!.error).toMatch(/Encryption data does not exist/);
  });
});

describe("EncryptedBlobClient writes → .NET reads (v12 both protocols, legacy 1.0)", () => {
  interface Ours { label: string; name: string; p: Buffer; protocol: "1.0" | "2.0" }
  const ours: Ours[] = [];
  const checks: Array<{ label: string; expectSha: string; expectSize: number; command: string[] }> = [];
  let results: DotnetPeerResult[] = [];

  beforeAll(async () => {
    let i = 0;
    for (const protocol of ["2.0", "1.0"] as const) {
      for (const size of SIZES) {
        const name = uniqueName(`js-${protocol.replace(".", "")}`);
        const p = plaintext(size);
        const kek = i++ % 2 === 0 ? rsa : aes;
        const c = new EncryptedBlobClient(env.container.getBlobClient(name), { ...policy, keyEncryptionKey: kek, encryptionVersion: protocol, allowDeprecatedV1Encryption: protocol === "1.0" });
        await c.uploadData(p, size > 4 * MiB ? { maxSingleShotSize: 0, blockSize: MiB } : {});
        ours.push({ label: `${protocol} ${size} B (${kek.keyId === RSA_KID ? "RSA-OAEP" : "A256KW"})`, name, p, protocol });
      }
    }
    for (const o of ours) {
      const libraries = o.protocol === "1.0" ? ["v12", "legacy"] : ["v12"];
      for (const library of libraries) {
        const base = ["blob-get", "--container", env.container.containerName, "--blob", o.name, "--key", aesFile, "--key", rsaFile, "--library", library];
        checks.push({ label: `${library} reads ${o.label} whole`, expectSha: sha(o.p), expectSize: o.p.length, command: [...base, "--out", path.join(dir, `${o.name}.${library}.out`)] });
        for (const r of rangesFor(o.p.length)) {
          const want = slice(o.p, r);
          const range = ["--offset", String(r[0]), ...(r[1] === undefined ? [] : ["--count", String(r[1])])];
          checks.push({ label: `${library} reads ${o.label} range ${r[0]}+${r[1] ?? "end"}`, expectSha: sha(want), expectSize: want.length, command: [...base, ...range, "--out", path.join(dir, `${o.name}.${library}.${r[0]}.out`)] });
        }
      }
    }
    results = await batch(checks.map((c) => c.command));
  }, 600_000);

  it("v12 and legacy return exactly our plaintext, whole and for every range", () => {
    const got = results.map((r, k) => [checks[k]!.label, r.exit, r.error, (r.result as { size?: number } | null)?.size, (r.result as { sha256?: string } | null)?.sha256]);
    expect(got).toEqual(checks.map((c) => [c.label, 0, null, c.expectSize, c.expectSha]));
  });
});

describe("what .NET does with 2.1, region-order swaps, wrong keys and missing blobs", () => {
  it("v12 12.30.1 cannot write 2.1 (exit 1, one line) but reads a 2.1 blob we write with 64 KiB regions", async () => {
    const name = uniqueName("js-21");
    const p = plaintext(200_003);
    const c = new EncryptedBlobClient(env.container.getBlobClient(name), { ...policy, keyEncryptionKey: aes, encryptionVersion: "2.1", regionSize: 64 * 1024 });
    await c.uploadData(p);
    const file = path.join(dir, `${name}.in`);
    writeFileSync(file, p);
    const out = path.join(dir, `${name}.out`);
    const [put, get, range] = await batch([
      ["blob-put", "--container", env.container.containerName, "--blob", uniqueName("net-21"), "--in", file, "--protocol", "2.1", "--key", aesFile],
      ["blob-get", "--container", env.container.containerName, "--blob", name, "--out", out, "--key", aesFile],
      ["blob-get", "--container", env.container.containerName, "--blob", name, "--out", out + ".r", "--key", aesFile, "--offset", String(64 * 1024 - 5), "--count", "70000"],
    ]);
    expect(put!.exit).toBe(1);
    expect(put!.error).toMatch(/cannot write protocol 2\.1/);
    expect(put!.error).not.toContain("\n");
    expect([get!.exit, get!.error, (get!.result as { sha256: string }).sha256]).toEqual([0, null, sha(p)]);
    expect([range!.exit, (range!.result as { sha256: string }).sha256]).toEqual([0, sha(p.subarray(64 * 1024 - 5, 64 * 1024 - 5 + 70000))]);
  });

  it("region-order swap: v12 12.30.1 refuses a .NET-written 2.0 blob with two regions swapped, and so do we (REGION_OUT_OF_ORDER)", async () => {
    const name = uniqueName("net-swap");
    const p = plaintext(8 * MiB + 100);
    const file = path.join(dir, `${name}.in`);
    writeFileSync(file, p);
    const [put] = await batch([["blob-put", "--container", env.container.containerName, "--blob", name, "--in", file, "--protocol", "2.0", "--key", aesFile]]);
    expect(put!.exit).toBe(0);
    const raw = await rawBytes(env.container, name);
    const R = 4 * MiB + 28;
    const swapped = Buffer.concat([raw.subarray(R, 2 * R), raw.subarray(0, R), raw.subarray(2 * R)]);
    const meta = (await env.container.getBlobClient(name).getProperties()).metadata!;
    const swappedName = uniqueName("net-swapped");
    await env.container.getBlockBlobClient(swappedName).upload(swapped, swapped.length, { metadata: meta });
    const out = path.join(dir, `${swappedName}.out`);
    const [whole, tail] = await batch([
      ["blob-get", "--container", env.container.containerName, "--blob", swappedName, "--out", out, "--key", aesFile],
      ["blob-get", "--container", env.container.containerName, "--blob", swappedName, "--out", out + ".t", "--key", aesFile, "--offset", String(8 * MiB), "--count", "100"],
    ]);
    expect(whole!.exit).toBe(2);
    // A range inside the last (unmoved) region still decrypts in .NET: the check is per region read.
    expect([tail!.exit, (tail!.result as { sha256: string } | null)?.sha256]).toEqual([0, sha(p.subarray(8 * MiB))]);
    const err = await container.getBlobClient(swappedName).downloadToBuffer().then(
      () => undefined,
      (e: { code?: string }) => e,
    );
    expect(err?.code).toBe("REGION_OUT_OF_ORDER");
    expect((await container.getBlobClient(swappedName).downloadToBuffer(8 * MiB)).equals(p.subarray(8 * MiB))).toBe(true);
  });

  it("legacy 9.3.3 cannot read protocol 2.0; a key that is not in the resolver is exit 2; a missing blob is exit 3", async () => {
    const name = uniqueName("js-20");
    await container.getBlobClient(name).uploadData(plaintext(100));
    const other = path.join(dir, "other.jwk");
    writeFileSync(other, JSON.stringify(AesKeyWrapKey.generate(`${AES_KID}-other`).toJwk()));
    const [legacy, wrongKey, missing] = await batch([
      ["blob-get", "--container", env.container.containerName, "--blob", name, "--out", path.join(dir, "l.out"), "--key", rsaFile, "--library", "legacy"],
      ["blob-get", "--container", env.container.containerName, "--blob", name, "--out", path.join(dir, "w.out"), "--key", other],
      ["blob-get", "--container", env.container.containerName, "--blob", uniqueName("missing"), "--out", path.join(dir, "m.out"), "--key", aesFile],
    ]);
    expect(legacy!.exit).toBe(2);
    expect(wrongKey!.exit).toBe(2);
    expect(missing!.exit).toBe(3);
  });
});
