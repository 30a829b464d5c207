// The Python SDK vectors (tools/python-sdk-vectors): stored bytes + metadata uploaded raw to Azurite with a
// plain client, then read through EncryptedBlobClient (whole, ranged, parallel) and compared by SHA-256.
import { createHash, createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AesKeyWrapKey, RsaKey, createLocalKeyResolver, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { vectorsDir } from "@azure-cse/testkit";
import { EncryptedBlobClient } from "@azure-cse/storage-blob";
import { rejection, startEnv, streamToBuffer, type Env } from "./helpers.js";

interface BlobCase {
  id: string;
  kind: string;
  protocol: string;
  blob_type: string;
  plaintext: { size: number; sha256: string };
  stored: { file: string; size: number; metadata: Record<string, string> };
  upload: { path: string; user_metadata: Record<string, string> | null };
}
interface RangeCase {
  id: string;
  blob_case: string;
  ranges: Array<{ offset: number; count: number | null; expected: { size: number; sha256: string } }>;
}
interface NegativeCase {
  id: string;
  target_kind: string;
  error_category: string;
  blob_type?: string;
  stored: { file: string; metadata: Record<string, string> };
}

const manifest = JSON.parse(readFileSync(path.join(vectorsDir, "manifest.json"), "utf8")) as {
  keks: Array<{ kid: string; algorithm: string; key_b64: string; private_key_pkcs8_pem?: string }>;
  cases: Array<{ kind: string; id: string }>;
};
const blobCases = manifest.cases.filter((c) => c.kind === "blob") as unknown as BlobCase[];
const rangeCases = manifest.cases.filter((c) => c.kind === "blob_range") as unknown as RangeCase[];
const negativeCases = (manifest.cases.filter((c) => c.kind === "negative") as unknown as NegativeCase[]).filter((c) => c.target_kind === "blob");

const keys = manifest.keks.map((k) =>
  k.algorithm === "A256KW" ? new AesKeyWrapKey(k.kid, Buffer.from(k.key_b64, "base64")) : new RsaKey(k.kid, { privateKey: createPrivateKey(k.private_key_pkcs8_pem!) }),
);
const policy: ClientSideEncryptionPolicy = { keyResolver: createLocalKeyResolver(keys) };
const sha = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

let env: Env;
const uploaded = new Map<string, EncryptedBlobClient>();

/** Stores the exact bytes and metadata the Python SDK stored, with a client that knows nothing of encryption. */
async function putRaw(id: string, file: string, metadata: Record<string, string>, blobType: string): Promise<EncryptedBlobClient> {
  const bytes = readFileSync(path.join(vectorsDir, file));
  if (blobType === "PageBlob") {
    const page = env.container.getPageBlobClient(id);
    await page.create(bytes.length, { metadata });
    if (bytes.length) await page.uploadPages(bytes, 0, bytes.length);
  } else {
    await env.container.getBlockBlobClient(id).upload(bytes, bytes.length, { metadata });
  }
  return new EncryptedBlobClient(env.container.getBlobClient(id), policy);
}

beforeAll(async () => {
  env = await startEnv();
  for (const c of blobCases) uploaded.set(c.id, await putRaw(c.id, c.stored.file, c.stored.metadata, c.blob_type));
}, 120_000);
afterAll(async () => {
  await env?.stop();
});

describe("Python SDK 12.15 blobs read through EncryptedBlobClient", () => {
  it("covers 1.0 and 2.0, single put and blocks, A256KW and RSA-OAEP, user metadata and a legacy page blob", () => {
    expect(new Set(blobCases.map((c) => c.protocol))).toEqual(new Set(["1.0", "2.0"]));
    expect(new Set(blobCases.map((c) => c.upload.path))).toEqual(new Set(["single_put", "put_block_list", "page_blob"]));
    expect(blobCases.length).toBe(28);
  });

  it.each(blobCases.map((c) => [c.id, c] as const))("%s decrypts whole (stream and parallel) to the recorded SHA-256", async (_id, c) => {
    const client = uploaded.get(c.id)!;
    const d = await client.download();
    expect(d.contentLength).toBe(c.plaintext.size);
    expect(d.encryption?.protocol).toBe(c.protocol);
    expect(sha(await streamToBuffer(d.readableStreamBody))).toBe(c.plaintext.sha256);
    const buf = await client.downloadToBuffer(0, undefined, { blockSize: 1024 * 1024, concurrency: 4 });
    expect(buf.length).toBe(c.plaintext.size);
    expect(sha(buf)).toBe(c.plaintext.sha256);
    // 1.0 lengths need a decryption of the last block: only when asked (no padding oracle from a metadata call).
    const props = await client.getProperties({ computeV1PlaintextLength: true });
    expect(props.plaintextLength).toBe(c.plaintext.size);
    if (c.upload.user_metadata) for (const [k, v] of Object.entries(c.upload.user_metadata)) expect(props.metadata?.[k.toLowerCase()]).toBe(v);
  });
});

describe("Python SDK range expectations (true plaintext slices, clamped at the end)", () => {
  const rows = rangeCases.flatMap((rc) => rc.ranges.map((r) => [rc.blob_case, r.offset, r.count, r.expected] as const));
  it.each(rows)("%s range (%i, %s)", async (blobCase, offset, count, expected) => {
    const client = uploaded.get(blobCase)!;
    const d = await client.download(offset, count ?? undefined);
    const got = await streamToBuffer(d.readableStreamBody);
    expect(got.length).toBe(expected.size);
    expect(d.contentLength).toBe(expected.size);
    expect(sha(got)).toBe(expected.sha256);
    expect(sha(await client.downloadToBuffer(offset, count ?? undefined, { blockSize: 4096, concurrency: 3 }))).toBe(expected.sha256);
  });
});

describe("tampered Python blobs are refused with typed errors", () => {
  const expectedCode: Record<string, string[]> = {
    integrity: ["DECRYPTION_FAILED"],
    padding: ["DECRYPTION_FAILED"],
    key_unwrap: ["DECRYPTION_FAILED"],
    unknown_kek: ["KEY_NOT_FOUND"],
  };
  it.each(negativeCases.map((c) => [c.id, c] as const))("%s", async (_id, c) => {
    const client = await putRaw(c.id, c.stored.file, c.stored.metadata, c.blob_type ?? "BlockBlob");
    const codes = expectedCode[c.error_category];
    expect(codes).toBeDefined();
    const e = await rejection(client.downloadToBuffer());
    expect(codes).toContain(e.code);
    const e2 = await rejection(client.download().then((d) => streamToBuffer(d.readableStreamBody)));
    expect(codes).toContain(e2.code);
  });
});
