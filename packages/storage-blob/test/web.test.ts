// @azure-cse/storage-blob/web in Node (Web Crypto, the official SDK's Node build, Azurite). The same code runs in
// Chromium in examples/browser/test/browser.test.ts; here: interop with the Node entry both ways, both body
// transports, ranged reads, tampering, ETag pinning, bounded staging, typed errors.
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlobClient, ContainerSASPermissions, generateBlobSASQueryParameters, StorageSharedKeyCredential } from "@azure/storage-blob";
import { v2StoredLength } from "@azure-cse/core-envelope";
import { downloadDecryptedBlob, openDecryptedBlob, uploadEncryptedBlob, WebEncryptedBlobClient, type WebBlockBlobClientLike } from "@azure-cse/storage-blob/web";
import { AZURITE_ACCOUNT, AZURITE_KEY } from "@azure-cse/testkit";
import { MiB, plaintext, rawBytes, rejection, startEnv, uniqueName, type Env } from "./helpers.js";

let env: Env;
let sas: string;
beforeAll(async () => {
  env = await startEnv();
  sas = generateBlobSASQueryParameters(
    { containerName: env.container.containerName, permissions: ContainerSASPermissions.parse("racwdl"), expiresOn: new Date(Date.now() + 3600_000) },
    new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
  ).toString();
});
afterAll(async () => {
  await env?.stop();
});

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
async function collect(it: AsyncIterable<Uint8Array>): Promise<{ bytes: Buffer; chunks: number[] }> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(Buffer.from(c));
  return { bytes: Buffer.concat(parts), chunks: parts.map((p) => p.length) };
}
async function collectStream(s: ReadableStream<Uint8Array>): Promise<Buffer> {
  return Buffer.from(await new Response(s).arrayBuffer());
}
const sasClient = (name: string) => new BlobClient(`${env.container.getBlobClient(name).url}?${sas}`);

describe("web upload → Node entry reads", () => {
  it("from a Blob (3 regions, staged as 3 blocks with concurrency 2), a ReadableStream (2.1) and an ArrayBuffer (one Put Blob)", async () => {
    const big = plaintext(8 * MiB + 12345);
    const name = uniqueName("web-blob");
    const r = await uploadEncryptedBlob(env.container.getBlockBlobClient(name), new Blob([big]), env.policy, { metadata: { origin: "web" } });
    expect(r).toMatchObject({ regions: 3, blocks: 3, plaintextLength: big.length, storedLength: v2StoredLength(big.length, 4 * MiB) });
    expect((await rawBytes(env.container, name)).length).toBe(r.storedLength);
    expect(sha(await env.encrypted.getBlobClient(name).downloadToBuffer())).toBe(sha(big));
    expect((await env.container.getBlobClient(name).getProperties()).metadata).toMatchObject({ origin: "web" });

    const small = plaintext(300_001);
    const n2 = uniqueName("web-stream");
    const r2 = await uploadEncryptedBlob(env.container.getBlockBlobClient(n2), new Blob([small]).stream(), { ...env.policy, encryptionVersion: "2.1", regionSize: 65536 }, { blockSize: 3 * 65564 });
    expect(r2).toMatchObject({ regions: 5, blocks: 2 });
    expect(sha(await env.encrypted.getBlobClient(n2).downloadToBuffer())).toBe(sha(small));

    const n3 = uniqueName("web-ab");
    const r3 = await uploadEncryptedBlob(env.container.getBlockBlobClient(n3), new Uint8Array(small).buffer, env.policy);
    expect(r3).toMatchObject({ regions: 1, blocks: 0 });
    expect(sha(await env.encrypted.getBlobClient(n3).downloadToBuffer())).toBe(sha(small));
  });

  it("stages at most `concurrency` blocks at once, commits them in order, and an empty source is one empty Put Blob", async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const staged: [string, number][] = [];
    let committed: string[] = [];
    const fake: WebBlockBlobClientLike = {
      url: "https://example.invalid/c/b",
      async stageBlock(id, body) {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((r) => setTimeout(r, 5 + (staged.length % 3) * 10));
        staged.push([id, body instanceof Uint8Array ? body.length : body.size]);
        inFlight--;
      },
      async commitBlockList(ids) {
        committed = ids;
        return { etag: "x" };
      },
      async upload(body, n, options) {
        staged.push(["put", n]);
        expect((options as { metadata?: Record<string, string> } | undefined)?.metadata?.encryptiondata).toBeDefined();
        return { etag: "y" };
      },
    };
    const r = await uploadEncryptedBlob(fake, new Uint8Array(10 * 65536), { ...env.policy, encryptionVersion: "2.1", regionSize: 65536 }, { blockSize: 65564, concurrency: 3 });
    expect(r.blocks).toBe(10);
    expect(maxInFlight).toBe(3);
    expect(committed).toHaveLength(10);
    expect(new Set(committed.map((id) => Buffer.from(id, "base64").length)).size).toBe(1);
    const decoded = committed.map((id) => Buffer.from(id, "base64").toString());
    expect(decoded).toEqual(Array.from({ length: 10 }, (_, i) => `azcse-web-${String(i).padStart(8, "0")}`));
    staged.length = 0;
    expect(await uploadEncryptedBlob(fake, new Uint8Array(0), env.policy)).toMatchObject({ regions: 0, blocks: 0, storedLength: 0 });
    expect(staged).toEqual([["put", 0]]);
  });

  it("refuses the reserved metadata key, and a failing Put Block fails the upload with SERVICE_ERROR (status only)", async () => {
    expect((await rejection(uploadEncryptedBlob(env.container.getBlockBlobClient(uniqueName()), new Uint8Array(5), env.policy, { metadata: { EncryptionData: "x" } }))).code).toBe("INVALID_ARGUMENT");
    const failing: WebBlockBlobClientLike = {
      url: "u",
      stageBlock: () => Promise.reject(Object.assign(new Error("boom sig=secret"), { statusCode: 500 })),
      commitBlockList: () => Promise.reject(new Error("must not commit")),
      upload: () => Promise.reject(new Error("must not put")),
    };
    const e = await rejection(uploadEncryptedBlob(failing, new Uint8Array(9 * MiB), env.policy));
    expect(e.code).toBe("SERVICE_ERROR");
    expect(e.message).toBe("Put Block: Storage returned HTTP 500 for the resource.");
    expect(e.details).toMatchObject({ statusCode: 500, operation: "Put Block" });
  });
});

describe("Node entry writes → web download", () => {
  const size = 5 * MiB + 7;
  let plain: Buffer;
  let name: string;
  beforeAll(async () => {
    plain = plaintext(size);
    name = uniqueName("node-written");
    await env.encrypted.getBlobClient(name).uploadData(plain);
  });

  it("whole, as a ReadableStream, over fetch (SAS URL) and over SDK chunks (shared key)", async () => {
    const viaFetch = await downloadDecryptedBlob(sasClient(name), env.policy);
    expect(viaFetch.plaintextLength).toBe(size);
    expect(sha(await collectStream(viaFetch.body))).toBe(sha(plain));
    const viaSdk = await new WebEncryptedBlobClient(env.container.getBlockBlobClient(name), env.policy).download({ transport: "sdk", chunkSize: 1 });
    expect(sha(await collectStream(viaSdk.body))).toBe(sha(plain));
  });

  it("ranged reads return exact slices and fetch only the regions they need; chunks are whole verified regions", async () => {
    for (const transport of ["fetch", "sdk"] as const) {
      for (const [o, n] of [[0, 0], [0, 16], [4 * MiB - 1, 2], [size - 1, 1], [MiB, 3 * MiB + 5], [size + 10, 5]] as const) {
        const got = await openDecryptedBlob(transport === "fetch" ? sasClient(name) : env.container.getBlobClient(name), env.policy, { transport, range: { offset: o, count: n } });
        expect(sha((await collect(got.body)).bytes), `${transport} ${o}+${n}`).toBe(sha(plain.subarray(Math.min(o, size), Math.min(size, o + n))));
      }
    }
    const headers: string[] = [];
    const spy = (url: string, init: { headers: Record<string, string> }) => {
      headers.push(init.headers.Range ?? "whole");
      return fetch(url, init);
    };
    const whole = await openDecryptedBlob(sasClient(name), env.policy, { fetch: spy, range: { offset: size - 1, count: 1 } });
    await collect(whole.body);
    const R = 4 * MiB + 28;
    expect(headers).toEqual([`bytes=${R}-${v2StoredLength(size, 4 * MiB) - 1}`]);
    expect((await collect((await openDecryptedBlob(sasClient(name), env.policy)).body)).chunks).toEqual([4 * MiB, MiB + 7]);
  });

  it("a flipped byte in region 1 releases exactly region 0, then DECRYPTION_FAILED; a blob changed mid-read is CONDITION_NOT_MET", async () => {
    const raw = await rawBytes(env.container, name);
    raw[4 * MiB + 28 + 100]! ^= 1;
    const t = uniqueName("tampered");
    await env.container.getBlockBlobClient(t).upload(raw, raw.length, { metadata: (await env.container.getBlobClient(name).getProperties()).metadata });
    for (const transport of ["fetch", "sdk"] as const) {
      const opened = await openDecryptedBlob(transport === "fetch" ? sasClient(t) : env.container.getBlobClient(t), env.policy, { transport });
      let released = 0;
      const e = await rejection(
        (async () => {
          for await (const c of opened.body) released += c.length;
        })(),
      );
      expect(e.code, transport).toBe("DECRYPTION_FAILED");
      expect(released, transport).toBe(4 * MiB);
    }
    // SDK transport, one region per request: the blob is replaced after the first region was read.
    const opened = await openDecryptedBlob(env.container.getBlobClient(name), env.policy, { transport: "sdk", chunkSize: 1 });
    const it0 = opened.body[Symbol.asyncIterator]();
    expect((await it0.next()).value?.length).toBe(4 * MiB);
    await env.encrypted.getBlobClient(name).uploadData(plain);
    expect((await rejection(it0.next())).code).toBe("CONDITION_NOT_MET");
  });

  it("a plaintext blob is ENCRYPTION_REQUIRED, or returned as is with requireEncryption: false; a missing blob is NOT_FOUND", async () => {
    const p = uniqueName("plain");
    await env.container.getBlockBlobClient(p).upload("hello plaintext", 15);
    expect((await rejection(openDecryptedBlob(env.container.getBlobClient(p), env.policy))).code).toBe("ENCRYPTION_REQUIRED");
    const r = await openDecryptedBlob(env.container.getBlobClient(p), { ...env.policy, requireEncryption: false }, { transport: "sdk", range: { offset: 6, count: 5 } });
    expect((await collect(r.body)).bytes.toString()).toBe("plain");
    expect(r.encryptionData).toBeUndefined();
    expect((await rejection(openDecryptedBlob(env.container.getBlobClient(uniqueName("missing")), env.policy))).code).toBe("NOT_FOUND");
  });
});
