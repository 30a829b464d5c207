// Real browser test of the Web Crypto backend: headless Debian Chromium (driven by playwright-core, never a
// downloaded browser) loads the example page, which encrypts with @azure-cse/core-envelope/web and talks to
// Azurite (CORS rules set) through the official @azure/storage-blob browser build and a container SAS.
// Browser-written blobs are read by Node (@azure-cse/storage-blob) and the Python SDK; Node-written blobs
// are read in the browser; ranged reads; tampered blobs refused. One Chromium launch for the whole file.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type Browser, type Page } from "playwright-core";
import { BlobServiceClient, ContainerSASPermissions, generateBlobSASQueryParameters, StorageSharedKeyCredential, type ContainerClient } from "@azure/storage-blob";
import { AesKeyWrapKey, RsaKey, createLocalKeyResolver, v2StoredLength, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { EncryptedContainerClient } from "@azure-cse/storage-blob";
import { AZURITE_ACCOUNT, AZURITE_KEY, PYTHON_KEK_PRELUDE, assertPythonPeer, repoRoot, runPython, startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { bundlePage } from "../build.mjs";
import { createKeyBackend } from "../src/server/kek-backend.js";
import { patternBytes } from "../src/pattern.js";

const CHROMIUM = process.env.AZCSE_CHROMIUM ?? "/usr/bin/chromium";
const CHROMIUM_INSTALL = "apt-get update && apt-get install -y chromium";
const MiB = 1024 * 1024;

let azurite: AzuriteHandle;
let container: ContainerClient;
let encrypted: EncryptedContainerClient;
let browser: Browser;
let page: Page;
let server: Server;
let outdir: string;
let bundleInputs: string[];
let bundleText: string;
const aes = AesKeyWrapKey.generate("local:browser-a256kw");
const rsa = RsaKey.generate("local:browser-rsa", 2048, "RSA-OAEP-256");
const backendKey = AesKeyWrapKey.generate("local:backend-kek");
const SESSION = "session-for-the-browser-test";
const nodePolicy: ClientSideEncryptionPolicy = { keyEncryptionKey: aes, keyResolver: createLocalKeyResolver([aes, rsa, backendKey]) };
const keyBackend = createKeyBackend("/kek", { key: backendKey, authorize: (req) => req.headers["x-app-session"] === SESSION });

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

async function rawBytes(name: string): Promise<Buffer> {
  return container.getBlobClient(name).downloadToBuffer();
}

/** Stores `body` under `name` with `from`'s metadata (a tampered copy written by someone with write access). */
async function storeCopy(from: string, name: string, body: Buffer): Promise<void> {
  const props = await container.getBlobClient(from).getProperties();
  await container.getBlockBlobClient(name).upload(body, body.length, { metadata: props.metadata });
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Debian's chromium is missing at ${CHROMIUM} (the browser tests never download a browser). Install it as root:  ${CHROMIUM_INSTALL}`);
  azurite = await startAzurite();
  const service = BlobServiceClient.fromConnectionString(azurite.connectionString);
  await service.setProperties({
    cors: [{ allowedOrigins: "*", allowedMethods: "DELETE,GET,HEAD,MERGE,POST,OPTIONS,PUT", allowedHeaders: "*", exposedHeaders: "*", maxAgeInSeconds: 600 }],
  });
  container = service.getContainerClient(`browser${Date.now()}`);
  await container.create();
  encrypted = new EncryptedContainerClient(container, nodePolicy);
  const sas = generateBlobSASQueryParameters(
    { containerName: container.containerName, permissions: ContainerSASPermissions.parse("racwdl"), expiresOn: new Date(Date.now() + 3600_000) },
    new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
  ).toString();

  outdir = mkdtempSync(path.join(tmpdir(), "azcse-browser-"));
  const bundled = await bundlePage({ outdir, fromSource: true });
  bundleInputs = bundled.inputs;
  bundleText = readFileSync(path.join(outdir, "page.js"), "utf8");
  server = createServer((req, res) => {
    void keyBackend(req, res).then((handled) => {
      if (!handled) serveFile(req, res);
    });
  });
  const serveFile = (req: { url?: string }, res: ServerResponse) => {
    const file = (req.url ?? "/").split("?")[0] === "/" ? "index.html" : path.basename(req.url ?? "");
    const p = path.join(outdir, file);
    if (!existsSync(p)) return res.writeHead(404).end();
    res.writeHead(200, { "content-type": file.endsWith(".html") ? "text/html" : "text/javascript" }).end(readFileSync(p));
  };
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;

  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForFunction(() => typeof window.azcse === "object");
  expect(errors).toEqual([]);
  await page.fill("#sas", `${container.url}?${sas}`);
  const imported = await page.evaluate(([a, r]) => window.azcse.importKeys([a, r]), [aes.toJwk(), rsa.toJwk()] as [Record<string, unknown>, Record<string, unknown>]);
  expect(imported.map((k) => [k.kid, k.algorithm])).toEqual([
    [aes.keyId, "A256KW"],
    [rsa.keyId, "RSA-OAEP-256"],
  ]);
  expect(imported[0]!.extractable).toEqual([false]);
});

afterAll(async () => {
  await browser?.close();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  await azurite?.stop();
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

describe("the page bundle runs on Web Crypto alone", () => {
  it("the page has no Buffer; the bundle has no Node built-in and none of core-envelope's Node crypto modules", async () => {
    expect(await page.evaluate(() => window.azcse.hasBuffer())).toBe(false);
    expect(bundleText).not.toMatch(/(from|require\()\s*["']node:/);
    const core = bundleInputs.filter((f) => f.includes("packages/core-envelope/src/"));
    expect(core.some((f) => f.endsWith("web/content.ts"))).toBe(true);
    expect(core.filter((f) => /internal\/crypto\.ts|content\/streams\.ts|content\/buffers\.ts|kek\/local\.ts|random\.ts|content\/nonce\.ts|envelope\.ts$/.test(f) && !f.includes("/web/"))).toEqual([]);
  });
});

describe("keys in Chromium's Web Crypto", () => {
  it("A128KW and A256KW JWKs import; A192KW is UNSUPPORTED_OPERATION (Chromium has no 192-bit AES); RSA JWKs under 2048 bits are INVALID_ARGUMENT", async () => {
    const oct = (n: number, alg: string) => ({ kty: "oct", kid: `k${n}`, alg, k: Buffer.alloc(n, 1).toString("base64url") });
    const small = RsaKey.generate("small", 2048).toJwk();
    const results = await page.evaluate(
      async (jwks) => Promise.all(jwks.map((j) => window.azcse.tryImport(j))),
      [oct(16, "A128KW"), oct(24, "A192KW"), oct(32, "A256KW"), { ...small, n: (small.n as string).slice(0, 100) }],
    );
    expect(results).toEqual(["ok", "UNSUPPORTED_OPERATION", "ok", "INVALID_ARGUMENT"]);
  });
});

describe("browser writes → Node and the Python SDK read", () => {
  const size = 8 * MiB + 12345;
  it("2.0 from a Blob (3 regions, 3 blocks): stored layout, Node reads whole and ranged", async () => {
    const r = await page.evaluate(([s]) => window.azcse.uploadPattern("from-browser-2.0", s!, 7), [size]);
    expect(r.regions).toBe(3);
    expect(r.storedLength).toBe(v2StoredLength(size, 4 * MiB));
    expect(JSON.parse(r.encryptionData).EncryptionAgent).toEqual({ Protocol: "2.0", EncryptionAlgorithm: "AES_GCM_256" });
    const plain = patternBytes(size, 7);
    expect((await rawBytes("from-browser-2.0")).length).toBe(r.storedLength);
    const c = encrypted.getBlobClient("from-browser-2.0");
    expect(sha(await c.downloadToBuffer())).toBe(sha(plain));
    for (const [o, n] of [[0, 1], [4 * MiB - 3, 10], [size - 100, 100], [5 * MiB, MiB]] as const) {
      expect(sha(await c.downloadToBuffer(o, n)), `${o}+${n}`).toBe(sha(plain.subarray(o, o + n)));
    }
  });

  it("2.1 with 64 KiB regions from a ReadableStream: Node reads it", async () => {
    const n = 300_001;
    const r = await page.evaluate(([s]) => window.azcse.uploadPattern("from-browser-2.1", s!, 11, { encryptionVersion: "2.1", regionSize: 65536, asStream: true }), [n]);
    expect(r.regions).toBe(5);
    expect(sha(await encrypted.getBlobClient("from-browser-2.1").downloadToBuffer())).toBe(sha(patternBytes(n, 11)));
  });

  it("the Python SDK (azure-storage-blob) reads the browser-written 2.0 blob", async () => {
    assertPythonPeer();
    const dir = mkdtempSync(path.join(tmpdir(), "azcse-browser-py-"));
    try {
      const peer = PYTHON_KEK_PRELUDE + readFileSync(path.join(repoRoot, "tools", "interop", "blob_peer.py"), "utf8");
      const out = path.join(dir, "out.bin");
      const r = await runPython<{ ok: boolean; sha256?: string; error?: string }>(
        peer,
        { op: "download", connection_string: azurite.connectionString, container: container.containerName, blob: "from-browser-2.0", kek: aes.toJwk(), out_file: out },
        { timeoutMs: 120_000 },
      );
      expect(r.error).toBeUndefined();
      expect(r.sha256).toBe(sha(patternBytes(size, 7)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("Node writes → the browser reads (whole and ranged)", () => {
  const size = 5 * MiB + 7;
  const plain = patternBytes(size, 3);
  it("RSA-OAEP-256-wrapped 2.0 blob written by @azure-cse/storage-blob decrypts in the page", async () => {
    const writer = new EncryptedContainerClient(container, { keyEncryptionKey: rsa });
    await writer.getBlobClient("from-node").uploadData(Buffer.from(plain));
    const whole = await page.evaluate(() => window.azcse.download("from-node"));
    expect(whole).toEqual({ size, sha256: sha(plain), head: Buffer.from(plain.subarray(0, 16)).toString("hex") });
  });
  it("ranged reads in the page fetch only the regions they need and return the exact slice", async () => {
    const ranges: string[] = [];
    const onRequest = (r: { url(): string; method(): string; headers(): Record<string, string> }) => {
      if (r.method() === "GET" && r.url().includes("/from-node?")) ranges.push(r.headers().range ?? "whole");
    };
    page.on("request", onRequest);
    const R = 4 * MiB + 28;
    const stored = v2StoredLength(size, 4 * MiB);
    await page.evaluate(([offset, count]) => window.azcse.download("from-node", { offset: offset!, count: count! }), [16, 16]);
    await page.evaluate(([offset, count]) => window.azcse.download("from-node", { offset: offset!, count: count! }), [4 * MiB - 1, 2]);
    await page.evaluate(([offset, count]) => window.azcse.download("from-node", { offset: offset!, count: count! }), [size - 1, 1]);
    page.off("request", onRequest);
    // Region 0 only; regions 0-1 (the range crosses the boundary); the last region only.
    expect(ranges).toEqual([`bytes=0-${R - 1}`, `bytes=0-${stored - 1}`, `bytes=${R}-${stored - 1}`]);
    for (const [o, n] of [[0, 0], [0, 16], [4 * MiB - 1, 2], [size - 1, 1], [MiB, 3 * MiB + 5], [size + 10, 5]] as const) {
      const got = await page.evaluate(([offset, count]) => window.azcse.download("from-node", { offset: offset!, count: count! }), [o, n]);
      const want = plain.subarray(Math.min(o, size), Math.min(size, o + n));
      expect(got.size, `${o}+${n}`).toBe(want.length);
      expect(got.sha256, `${o}+${n}`).toBe(sha(want));
    }
  });
});

describe("the Python SDK writes → the browser reads", () => {
  it("Python-written 2.0 and 1.0 (AES-CBC, multi-block upload) blobs decrypt in the page, whole and ranged", async () => {
    assertPythonPeer();
    const dir = mkdtempSync(path.join(tmpdir(), "azcse-browser-py-"));
    try {
      const peer = PYTHON_KEK_PRELUDE + readFileSync(path.join(repoRoot, "tools", "interop", "blob_peer.py"), "utf8");
      // 2.0: one Put Blob, two regions; 1.0: Put Block x5 + Put Block List.
      for (const [protocol, size, config] of [["2.0", 4 * MiB + 3, {}], ["1.0", 300_001, { max_single_put_size: 64 * 1024, max_block_size: 64 * 1024 }]] as const) {
        const plain = patternBytes(size, size);
        const inFile = path.join(dir, `${protocol}.in`);
        writeFileSync(inFile, plain);
        const name = `from-python-${protocol}`;
        const r = await runPython<{ ok: boolean; error?: string }>(
          peer,
          { op: "upload", connection_string: azurite.connectionString, container: container.containerName, blob: name, kek: aes.toJwk(), protocol, in_file: inFile, ...config },
          { timeoutMs: 120_000 },
        );
        expect(r.error).toBeUndefined();
        const whole = await page.evaluate((n) => window.azcse.download(n), name);
        expect(whole.sha256, protocol).toBe(sha(plain));
        for (const [o, n] of [[0, 1], [17, 40], [size - 20, 20], [65_000, 70_000]] as const) {
          const got = await page.evaluate(([nm, offset, count]) => window.azcse.download(nm, { offset, count }), [name, o, n] as const);
          expect(got.sha256, `${protocol} ${o}+${n}`).toBe(sha(plain.subarray(o, o + n)));
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("tampered blobs are refused in the browser", () => {
  it("a flipped byte in region 1: region 0 (4 MiB, verified) is the only output, then DECRYPTION_FAILED", async () => {
    const raw = await rawBytes("from-browser-2.0");
    raw[4 * MiB + 28 + 1000]! ^= 1;
    await storeCopy("from-browser-2.0", "tampered-body", raw);
    const r = await page.evaluate(() => window.azcse.expectRefused("tampered-body"));
    expect(r.code).toBe("DECRYPTION_FAILED");
    expect(r.released).toBe(4 * MiB);
  });
  it("swapped regions are REGION_OUT_OF_ORDER; a wrapped key from another blob is DECRYPTION_FAILED before any byte", async () => {
    const raw = await rawBytes("from-browser-2.1");
    const R = 65536 + 28;
    await storeCopy("from-browser-2.1", "swapped", Buffer.concat([raw.subarray(R, 2 * R), raw.subarray(0, R), raw.subarray(2 * R)]));
    expect((await page.evaluate(() => window.azcse.expectRefused("swapped"))).code).toBe("REGION_OUT_OF_ORDER");
    // Body of one blob with the metadata (wrapped key) of another: the tags cannot verify.
    await storeCopy("from-browser-2.0", "mixed", (await rawBytes("from-node")));
    const r = await page.evaluate(() => window.azcse.expectRefused("mixed"));
    expect(r.code).toBe("DECRYPTION_FAILED");
    expect(r.released).toBe(0);
  });
});

describe("RemoteKeyEncryptionKey: wrap and unwrap in the app's backend (src/server/kek-backend.ts)", () => {
  it("the page encrypts with a backend-held key; Node reads with that key; the page reads back through the backend; forged keys and unauthenticated calls are refused", async () => {
    const upload = (name: string) =>
      page.evaluate(async ([n]) => {
        try {
          await window.azcse.uploadPattern(n!, 100_000, 5);
          return "ok";
        } catch (e) {
          return (e as { code?: string }).code ?? String(e);
        }
      }, [name]);
    await page.evaluate(([kid, s]) => window.azcse.useRemoteKey(kid!, "/kek", s!, "A256KW"), [backendKey.keyId, SESSION]);
    expect(await upload("remote-key")).toBe("ok");
    const stored = JSON.parse((await container.getBlobClient("remote-key").getProperties()).metadata!.encryptiondata!);
    expect(stored.WrappedContentKey.KeyId).toBe(backendKey.keyId);
    expect(sha(await encrypted.getBlobClient("remote-key").downloadToBuffer())).toBe(sha(patternBytes(100_000, 5)));
    expect((await page.evaluate(() => window.azcse.download("remote-key"))).sha256).toBe(sha(patternBytes(100_000, 5)));
    // A forged wrapped key: the backend's unwrap fails (422) → the one DECRYPTION_FAILED, nothing released.
    const forged = { ...stored, WrappedContentKey: { ...stored.WrappedContentKey, EncryptedKey: Buffer.alloc(40, 7).toString("base64") } };
    await container.getBlockBlobClient("remote-forged").upload(await rawBytes("remote-key"), 100_000 + 28, { metadata: { encryptiondata: JSON.stringify(forged) } });
    expect(await page.evaluate(() => window.azcse.expectRefused("remote-forged"))).toMatchObject({ code: "DECRYPTION_FAILED", released: 0 });
    // Without the app's session the backend answers 401: KEY_OPERATION_FAILED, and nothing is uploaded.
    await page.evaluate(([kid]) => window.azcse.useRemoteKey(kid!, "/kek", "wrong-session", "A256KW"), [backendKey.keyId]);
    expect(await upload("remote-denied")).toBe("KEY_OPERATION_FAILED");
    expect(await container.getBlobClient("remote-denied").exists()).toBe(false);
    expect((await page.evaluate(() => window.azcse.expectRefused("remote-key"))).code).toBe("KEY_OPERATION_FAILED");
    // Signed in again: the page's file flow below writes with the backend's key.
    await page.evaluate(([kid, s]) => window.azcse.useRemoteKey(kid!, "/kek", s!, "A256KW"), [backendKey.keyId, SESSION]);
  });
});

describe("the example page's file-picker flow", () => {
  it("a chosen file is encrypted, uploaded, listed, downloaded and decrypted; screenshot of the page", async () => {
    const file = Buffer.from(patternBytes(1_234_567, 42));
    await page.setInputFiles("#file", { name: "holiday-photo.jpg", mimeType: "image/jpeg", buffer: file });
    await page.click("#upload");
    await page.waitForFunction(() => /^(done|failed)/.test(document.getElementById("status")?.textContent ?? ""), undefined, { timeout: 60_000 });
    expect(await page.textContent("#status")).toBe(`done: holiday-photo.jpg ${sha(file)}`);
    expect(sha(await encrypted.getBlobClient("holiday-photo.jpg").downloadToBuffer())).toBe(sha(file));
    expect(JSON.parse((await container.getBlobClient("holiday-photo.jpg").getProperties()).metadata!.encryptiondata!).WrappedContentKey.KeyId).toBe(backendKey.keyId);
    const listed = await page.evaluate(() => window.azcse.list());
    expect(listed.find((b) => b.name === "holiday-photo.jpg")).toEqual({ name: "holiday-photo.jpg", size: v2StoredLength(file.length, 4 * MiB), encrypted: true });
    const png = await page.screenshot({ fullPage: true });
    expect(png.subarray(1, 4).toString("latin1")).toBe("PNG");
    expect(png.length).toBeGreaterThan(10_000);
    if (process.env.AZCSE_UPDATE_SCREENSHOT === "1") writeFileSync(path.join(repoRoot, "docs", "images", "browser-roundtrip.png"), png);
  });
});
