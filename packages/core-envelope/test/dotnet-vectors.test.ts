// The committed .NET-written vector set (tools/dotnet-sdk-vectors, made by the real Azure.Storage.Blobs 12.30.1,
// Azure.Storage.Queues 12.28.1 and WindowsAzure.Storage 9.3.3 through tools/dotnet-peer): read offline, so a
// machine without dotnet still checks .NET bytes. Blobs decrypt whole and in ranges, queue envelopes and table
// entities decrypt, and what .NET writes (EncryptionLibrary, field order, escaping, nonces) is pinned.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  collectBytes,
  createLocalKeyResolver,
  decryptPlanned,
  findEncryptionDataInMetadata,
  isLegacyJavaWriter,
  keyFromJwk,
  parseEncryptionData,
  planRange,
  regionNonce,
  unwrapContentKey,
  v1StoredLength,
  v2StoredLength,
  type ClientSideEncryptionPolicy,
  type EncryptionData,
} from "@azure-cse/core-envelope";
import { decryptCbcBuffer, decryptGcmBuffer } from "@azure-cse/core-envelope/internal";

const dir = fileURLToPath(new URL("../../../tools/dotnet-sdk-vectors", import.meta.url));
interface Base { id: string; kind: string; library: "v12" | "legacy"; protocol: "1.0" | "2.0"; kek_kid: string }
interface BlobCase extends Base {
  blob_type: "BlockBlob" | "PageBlob";
  plaintext: { size: number; sha256: string; generator: { seed: string } };
  stored: { file: string; size: number; sha256: string; metadata: Record<string, string> };
}
interface QueueCase extends Base { encoding: "none" | "base64"; plaintext: { text: string }; stored: { message_text: string } }
interface TableCase extends Base {
  partition_key: string;
  row_key: string;
  input: Record<string, unknown>;
  encrypt: string[];
  stored: { file: string; properties: Record<string, { value: string; type: string }> };
}
const manifest = JSON.parse(readFileSync(path.join(dir, "manifest.json"), "utf8")) as {
  format: string;
  format_version: number;
  keks: Array<{ kid: string; algorithm: string; jwk: Record<string, unknown> }>;
  cases: Base[];
};
const blobs = manifest.cases.filter((c) => c.kind === "blob") as BlobCase[];
const queues = manifest.cases.filter((c) => c.kind === "queue") as QueueCase[];
const tables = manifest.cases.filter((c) => c.kind === "table") as TableCase[];
const policy = (): ClientSideEncryptionPolicy => ({ keyResolver: createLocalKeyResolver(manifest.keks.map((k) => keyFromJwk(k.jwk))) });
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const MiB = 1024 * 1024;
const V12_BLOB_LIBRARY = /^azsdk-net-Azure\.Storage\.Blobs\/12\.30\.1(\+[0-9a-f]{40})? \(\.NET \d+\.\d+\.\d+; .+\)$/;
const V12_QUEUE_LIBRARY = /^azsdk-net-Azure\.Storage\.Queues\/12\.28\.1(\+[0-9a-f]{40})? \(\.NET \d+\.\d+\.\d+; .+\)$/;

/** The sha256-counter plaintext generator of both vector sets. */
function generate(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0, off = 0; off < size; i++, off += 32) {
    const ctr = Buffer.alloc(8);
    ctr.writeBigUInt64BE(BigInt(i));
    createHash("sha256").update(Buffer.concat([Buffer.from(seed, "utf8"), ctr])).digest().copy(out, off);
  }
  return out;
}
function loadBlob(c: BlobCase): { data: EncryptionData; stored: Buffer; json: string } {
  const stored = readFileSync(path.join(dir, c.stored.file));
  expect(sha(stored)).toBe(c.stored.sha256);
  const json = findEncryptionDataInMetadata(c.stored.metadata)!;
  return { data: parseEncryptionData(json), stored, json };
}

describe(".NET vector set", () => {
  it("manifest is the documented format and holds every writer", () => {
    expect([manifest.format, manifest.format_version]).toEqual(["azure-storage-cse-dotnet-vectors", 1]);
    expect([blobs.length, queues.length, tables.length]).toEqual([15, 8, 2]);
    const writers = new Set(blobs.map((c) => `${c.library} ${c.protocol} ${c.blob_type}`));
    expect([...writers].sort()).toEqual(["legacy 1.0 BlockBlob", "legacy 1.0 PageBlob", "v12 1.0 BlockBlob", "v12 2.0 BlockBlob"]);
  });
});

describe(".NET blobs decrypt whole and in ranges (KEK resolved by the stored KeyId)", () => {
  for (const c of blobs) {
    it(`${c.id}: ${c.library} ${c.protocol} ${c.blob_type} ${c.plaintext.size} B`, async () => {
      const { data, stored } = loadBlob(c);
      const padded = c.blob_type !== "PageBlob";
      expect(data.protocol).toBe(c.protocol);
      expect(data.wrappedContentKey.keyId).toBe(c.kek_kid);
      expect(stored.length).toBe(c.protocol === "1.0" ? v1StoredLength(c.plaintext.size, padded) : v2StoredLength(c.plaintext.size, 4 * MiB));
      const plaintext = generate(c.plaintext.generator.seed, c.plaintext.size);
      expect(sha(plaintext)).toBe(c.plaintext.sha256);
      const cek = await unwrapContentKey(data, policy());
      const size = c.plaintext.size;
      const ranges: Array<[number, number | undefined]> = [[0, undefined], [0, 1], [size - 1, 1], [15, 2], [16, 16], [size - 17, undefined], [4 * MiB - 3, 10], [3, size + 50]];
      for (const [offset, count] of ranges.filter(([o]) => o >= 0 && (o < size || (o === 0 && size === 0)))) {
        const plan = planRange(data, count === undefined ? { offset } : { offset, count }, stored.length, { padded });
        const end = plan.storedCount === undefined ? stored.length : plan.storedOffset + plan.storedCount;
        const out = plan.empty ? Buffer.alloc(0) : await collectBytes(decryptPlanned(data, cek, plan, [stored.subarray(plan.storedOffset, end)], {}, padded));
        const want = plaintext.subarray(offset, count === undefined ? size : Math.min(size, offset + count));
        expect([offset, count, sha(out)]).toEqual([offset, count, sha(want)]);
      }
    });
  }
});

describe("what .NET writes in blob metadata", () => {
  it("v12: EncryptionLibrary is its User-Agent; compact System.Text.Json with EncryptionMode first and '+' escaped as \\u002B", () => {
    for (const c of blobs.filter((b) => b.library === "v12")) {
      const { data, json } = loadBlob(c);
      expect(data.keyWrappingMetadata?.EncryptionLibrary).toMatch(V12_BLOB_LIBRARY);
      const keys = Object.keys(JSON.parse(json) as object);
      expect(keys).toEqual(c.protocol === "2.0"
        ? ["EncryptionMode", "WrappedContentKey", "EncryptionAgent", "EncryptedRegionInfo", "KeyWrappingMetadata"]
        : ["EncryptionMode", "WrappedContentKey", "EncryptionAgent", "ContentEncryptionIV", "KeyWrappingMetadata"]);
      expect(json).not.toContain("+");
      expect(json).toContain("\\u002B");
      expect(isLegacyJavaWriter(data)).toBe(false);
    }
  });

  it("legacy: EncryptionLibrary '.NET 9.3.2' (the assembly version of package 9.3.3), same field order, '+' unescaped", () => {
    for (const c of blobs.filter((b) => b.library === "legacy")) {
      const { data, json } = loadBlob(c);
      expect(data.keyWrappingMetadata).toEqual({ EncryptionLibrary: ".NET 9.3.2" });
      expect(Object.keys(JSON.parse(json) as object)).toEqual(["EncryptionMode", "WrappedContentKey", "EncryptionAgent", "ContentEncryptionIV", "KeyWrappingMetadata"]);
      expect(json).not.toContain("\\u002B");
      expect(isLegacyJavaWriter(data)).toBe(false);
    }
  });

  it("v12 2.0 region nonces are the .NET scheme 0⁴ ‖ LE64(i + 1); DataLength 4 MiB; the empty blob stores nothing", () => {
    const two = blobs.filter((b) => b.protocol === "2.0");
    for (const c of two) {
      const { data, stored } = loadBlob(c);
      expect(data.protocol === "2.0" && data.encryptedRegionInfo).toMatchObject({ dataLength: 4 * MiB, nonceLength: 12 });
      const regions = Math.ceil(c.plaintext.size / (4 * MiB));
      for (let i = 0; i < regions; i++) expect(stored.subarray(i * (4 * MiB + 28), i * (4 * MiB + 28) + 12)).toEqual(regionNonce("dotnet", i));
      if (c.plaintext.size === 0) expect(stored.length).toBe(0);
    }
    expect(two.some((c) => c.plaintext.size > 4 * MiB)).toBe(true);
  });
});

describe(".NET queue envelopes", () => {
  for (const c of queues) {
    it(`${c.id}: decrypts to the UTF-8 text itself (no inner base64, whatever the .NET encoding setting)`, async () => {
      const text = c.stored.message_text;
      const env = JSON.parse(text) as { EncryptedMessageContents: string; EncryptionData: Record<string, unknown> };
      expect(Object.keys(env)).toEqual(["EncryptedMessageContents", "EncryptionData"]);
      const data = parseEncryptionData(JSON.stringify(env.EncryptionData));
      expect(data.protocol).toBe(c.protocol);
      const cek = await unwrapContentKey(data, policy());
      const body = Buffer.from(env.EncryptedMessageContents, "base64");
      const plain = data.protocol === "1.0" ? decryptCbcBuffer(cek, data.contentEncryptionIV, body) : decryptGcmBuffer(cek, body);
      expect(plain.toString("utf8")).toBe(c.plaintext.text);
      if (c.library === "v12") {
        expect(env.EncryptionData.EncryptionMode).toBe("FullBlob");
        expect(data.keyWrappingMetadata?.EncryptionLibrary).toMatch(V12_QUEUE_LIBRARY);
        expect(text).not.toContain("+");
        // 2.0 message nonce: the first .NET region nonce, for every message (each has its own CEK).
        if (data.protocol === "2.0") expect(body.subarray(0, 12)).toEqual(regionNonce("dotnet", 0));
      } else {
        expect(env.EncryptionData.EncryptionMode).toBeUndefined();
        expect(data.keyWrappingMetadata).toEqual({ EncryptionLibrary: ".NET 9.3.2" });
      }
    });
  }
});

describe(".NET (legacy) table entities", () => {
  for (const c of tables) {
    it(`${c.id}: property IV = SHA-256(entity IV ‖ RowKey + PartitionKey + name)[0..16]; metadata2 is the JSON name list`, async () => {
      const props = JSON.parse(readFileSync(path.join(dir, c.stored.file), "utf8")) as TableCase["stored"]["properties"];
      const data = parseEncryptionData(props._ClientEncryptionMetadata1!.value);
      expect(data.keyWrappingMetadata).toEqual({ EncryptionLibrary: ".NET 9.3.2" });
      expect(data.protocol).toBe("1.0");
      if (data.protocol !== "1.0") return;
      const cek = await unwrapContentKey(data, policy());
      const entityIv = Buffer.from(data.contentEncryptionIV);
      const iv = (name: string) => createHash("sha256").update(Buffer.concat([entityIv, Buffer.from(c.row_key + c.partition_key + name, "utf8")])).digest().subarray(0, 16);
      const list = decryptCbcBuffer(cek, iv("_ClientEncryptionMetadata2"), Buffer.from(props._ClientEncryptionMetadata2!.value, "base64")).toString("utf8");
      expect(JSON.parse(list)).toEqual(c.encrypt);
      expect(list).toBe(JSON.stringify(c.encrypt));
      for (const name of c.encrypt) {
        expect(props[name]!.type).toBe("Binary");
        const value = decryptCbcBuffer(cek, iv(name), Buffer.from(props[name]!.value, "base64")).toString("utf8");
        expect([name, value]).toEqual([name, c.input[name]]);
      }
      expect(props.Plain).toEqual({ value: "visible", type: "String" });
    });
  }
});

describe(".NET bytes, tampered, fail with a typed error and never plaintext", () => {
  const decryptWhole = async (data: EncryptionData, stored: Buffer, p: ClientSideEncryptionPolicy, padded = true) => {
    const cek = await unwrapContentKey(data, p);
    const plan = planRange(data, { offset: 0 }, stored.length, { padded });
    return collectBytes(decryptPlanned(data, cek, plan, [stored], {}, padded));
  };
  const v12 = blobs.find((c) => c.library === "v12" && c.protocol === "2.0" && c.plaintext.size === 1000)!;

  it("a flipped ciphertext byte in a v12 2.0 blob → DECRYPTION_FAILED", async () => {
    const { data, stored } = loadBlob(v12);
    const bad = Buffer.from(stored);
    bad[100] = bad[100]! ^ 1;
    await expect(decryptWhole(data, bad, policy())).rejects.toMatchObject({ code: "DECRYPTION_FAILED" });
    expect((await decryptWhole(data, stored, policy())).length).toBe(1000);
  });

  it("a v12 2.0 blob relabelled as 1.0 (downgrade) is refused: the wrapped key carries the '2.0' prefix", async () => {
    const { stored, json } = loadBlob(v12);
    const meta = JSON.parse(json) as Record<string, Record<string, unknown>>;
    meta.EncryptionAgent = { Protocol: "1.0", EncryptionAlgorithm: "AES_CBC_256" };
    meta.ContentEncryptionIV = Buffer.alloc(16).toString("base64") as unknown as Record<string, unknown>;
    delete meta.EncryptedRegionInfo;
    const data = parseEncryptionData(JSON.stringify(meta));
    await expect(decryptWhole(data, stored, policy())).rejects.toMatchObject({ code: "DECRYPTION_FAILED" });
  });

  it("a .NET blob whose KeyId no configured key has → KEY_NOT_FOUND (resolver) naming the stored id", async () => {
    const legacy = blobs.find((c) => c.library === "legacy" && c.plaintext.size === 1000)!;
    const { data, stored } = loadBlob(legacy);
    const other = manifest.keks.filter((k) => k.kid !== legacy.kek_kid).map((k) => keyFromJwk(k.jwk));
    const err = await decryptWhole(data, stored, { keyResolver: createLocalKeyResolver(other) }).then(
      () => undefined,
      (e: { code?: string; message: string }) => e,
    );
    expect(err?.code).toBe("KEY_NOT_FOUND");
    expect(err?.message).toContain(legacy.kek_kid);
  });
});
