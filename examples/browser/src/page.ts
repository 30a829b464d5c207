// The example page: choose a file, encrypt it in the browser (Web Crypto) and upload it with a SAS, list,
// download and decrypt it, and see a tampered copy refused; queue messages and table entities round trip too.
// `window.azcse` exposes the same steps to the browser test (tools: headless Chromium via playwright-core).
import { ContainerClient } from "@azure/storage-blob";
import { QueueClient } from "@azure/storage-queue";
import { AzureSASCredential, TableClient } from "@azure/data-tables";
import { downloadDecryptedBlob, openDecryptedBlob, uploadEncryptedBlob, type WebBodyTransport } from "@azure-cse/storage-blob/web";
import { WebEncryptedQueueClient } from "@azure-cse/storage-queue/web";
import { WebEncryptedTableClient, type WebEntityRecord } from "@azure-cse/data-tables/web";
import {
  ClientSideEncryptionError,
  RemoteKeyEncryptionKey,
  decryptWebGcmRegions,
  encryptWebGcmRegions,
  webKeyFromJwk,
  type ClientSideEncryptionPolicy,
  type KeyEncryptionKey,
  type PlaintextRange,
} from "@azure-cse/core-envelope/web";
import { patternBytes } from "./pattern.js";

const keys: KeyEncryptionKey[] = [];
let writerKid: string | undefined;

function policy(extra: Partial<ClientSideEncryptionPolicy> = {}): ClientSideEncryptionPolicy {
  return {
    keyEncryptionKey: keys.find((k) => k.keyId === writerKid),
    keyResolver: (kid) => keys.find((k) => k.keyId === kid),
    ...extra,
  };
}

async function uploadEncrypted(c: ContainerClient, name: string, source: Blob | ReadableStream<Uint8Array>, p: ClientSideEncryptionPolicy, metadata: Record<string, string>) {
  return uploadEncryptedBlob(c.getBlockBlobClient(name), source, p, { metadata });
}
async function downloadDecrypted(c: ContainerClient, name: string, p: ClientSideEncryptionPolicy, range?: PlaintextRange, transport?: WebBodyTransport) {
  return (await openDecryptedBlob(c.getBlobClient(name), p, { ...(range ? { range } : {}), ...(transport ? { transport } : {}) })).body;
}

/** The official TableClient with a SAS; plain http only for the local emulator (the test's Azurite). */
function tableClient(endpoint: string, sas: string, table: string): TableClient {
  const local = /^http:\/\/(127\.0\.0\.1|localhost)[:/]/.test(endpoint);
  return new TableClient(endpoint, table, new AzureSASCredential(sas), { allowInsecureConnection: local });
}

/** An error for the log and the test: its code, or only the name of an untyped error (SDK messages may quote a SAS URL). */
function codeOf(e: unknown): string {
  return ClientSideEncryptionError.is(e) ? e.code : `untyped ${e instanceof Error ? e.name : typeof e}`;
}

function container(): ContainerClient {
  const url = (document.getElementById("sas") as HTMLInputElement).value;
  return new ContainerClient(url);
}

function log(step: string, ok: boolean, detail: string): void {
  const row = document.createElement("tr");
  row.className = ok ? "ok" : "refused";
  for (const text of [ok ? "✔" : "✖", step, detail]) {
    const td = document.createElement("td");
    td.textContent = text;
    row.append(td);
  }
  document.getElementById("log")!.append(row);
}

async function sha256(parts: AsyncIterable<Uint8Array>): Promise<{ size: number; sha256: string; head: string }> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const c of parts) {
    chunks.push(c);
    size += c.length;
  }
  const all = new Uint8Array(size);
  let o = 0;
  for (const c of chunks) {
    all.set(c, o);
    o += c.length;
  }
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return { size, sha256: hex(d), head: hex(all.subarray(0, 16)) };
}

const api = {
  /** Imports JWKs (kid required) as non-extractable CryptoKeys; the first (or `writer`) wraps new keys. */
  async importKeys(jwks: Record<string, unknown>[], writer?: string): Promise<{ kid: string; algorithm: string; extractable: boolean[] }[]> {
    keys.length = 0;
    for (const j of jwks) keys.push(await webKeyFromJwk(j));
    writerKid = writer ?? keys[0]?.keyId;
    // WebAesKeyWrapKey exposes its CryptoKey; WebRsaKey keeps its (always non-extractable) CryptoKeys private.
    const out = keys.map((k) => ({ kid: k.keyId, algorithm: k.defaultWrapAlgorithm, extractable: "cryptoKey" in k ? [(k as { cryptoKey: { extractable: boolean } }).cryptoKey.extractable] : [] }));
    log("Keys imported", true, out.map((k) => `${k.kid} (${k.algorithm}, ${k.extractable.includes(true) ? "extractable" : "non-extractable"})`).join(", "));
    return out;
  },
  /**
   * Adds a key whose wrap/unwrap run in the app's backend (src/server/kek-backend.ts) and makes it the writer;
   * `session` stands for the app's own authentication (sent as a header).
   */
  useRemoteKey(keyId: string, baseUrl: string, session: string, algorithm: string): { kid: string } {
    const remote = new RemoteKeyEncryptionKey({ keyId, baseUrl, defaultWrapAlgorithm: algorithm, headers: () => ({ "x-app-session": session }) });
    const i = keys.findIndex((k) => k.keyId === keyId);
    if (i >= 0) keys.splice(i, 1);
    keys.push(remote);
    writerKid = keyId;
    log("Remote key configured", true, `${keyId} (${algorithm}) via ${baseUrl}: wrap and unwrap run in the app's backend`);
    return { kid: keyId };
  },
  /** Generates `size` pattern bytes and uploads them encrypted; returns what was stored. */
  async uploadPattern(name: string, size: number, seed: number, options: { encryptionVersion?: "2.0" | "2.1"; regionSize?: number; asStream?: boolean } = {}) {
    const data = patternBytes(size, seed);
    const source = options.asStream ? new Blob([data]).stream() : new Blob([data]);
    const r = await uploadEncrypted(container(), name, source, policy(options), { origin: "browser" });
    log(`Encrypted + uploaded ${name}`, true, `${size} B → ${r.storedLength} B stored, ${r.regions} region(s), ${r.blocks} block(s)`);
    return r;
  },
  /**
   * Encrypts and uploads `size` bytes that a ReadableStream generates as the upload pulls them, so the page never
   * holds the plaintext (the upload memory test): chunk i is patternBytes(chunk, seed) with i (little-endian) in
   * its first 4 bytes, which lets Node and the page compute checksums without the bytes travelling.
   */
  async uploadGenerated(name: string, size: number, chunk: number, seed: number) {
    const base = patternBytes(chunk, seed);
    let i = 0;
    const source = new ReadableStream<Uint8Array>({
      pull(c) {
        if (i * chunk >= size) return c.close();
        const b = base.slice(0, Math.min(chunk, size - i * chunk));
        if (b.length >= 4) new DataView(b.buffer).setUint32(0, i, true);
        i++;
        c.enqueue(b);
      },
    });
    const t = performance.now();
    const r = await uploadEncrypted(container(), name, source, policy(), { origin: "browser-stream" });
    const ms = performance.now() - t;
    log(`Encrypted + uploaded ${name} from a stream`, true, `${size} B in ${(ms / 1000).toFixed(1)} s, ${r.regions} region(s), ${r.blocks} block(s)`);
    return { ...r, ms };
  },
  /** Downloads and decrypts (a range of) a blob; returns size, SHA-256 and the first 16 bytes (hex). */
  async download(name: string, range?: PlaintextRange, transport?: WebBodyTransport) {
    const r = await sha256(await downloadDecrypted(container(), name, policy(), range, transport));
    log(`Downloaded + decrypted ${name}${range ? ` [${range.offset}, +${range.count ?? "end"}]` : ""}`, true, `${r.size} B, sha256 ${r.sha256.slice(0, 16)}…`);
    return r;
  },
  /**
   * Downloads and decrypts (a range of) a blob written by someone else from patternBytes(size, seed) and compares
   * it byte for byte with the same slice generated here: the bytes returned and the index of the first difference
   * (-1 when every byte and the length match).
   */
  async comparePattern(name: string, size: number, seed: number, range?: PlaintextRange) {
    const want = patternBytes(size, seed);
    const from = Math.min(range?.offset ?? 0, size);
    const to = range?.count === undefined ? size : Math.min(size, from + range.count);
    let n = 0;
    let mismatchAt = -1;
    for await (const c of await downloadDecrypted(container(), name, policy(), range)) {
      for (let j = 0; j < c.length && mismatchAt < 0; j++) if (from + n + j >= to || c[j] !== want[from + n + j]) mismatchAt = n + j;
      n += c.length;
    }
    if (mismatchAt < 0 && n !== to - from) mismatchAt = Math.min(n, to - from);
    log(`Downloaded + compared ${name}${range ? ` [${range.offset}, +${range.count ?? "end"}]` : ""}`, mismatchAt < 0, mismatchAt < 0 ? `${n} B, identical` : `differs at byte ${mismatchAt}`);
    return { size: n, mismatchAt };
  },
  /** Reads a blob expecting refusal: returns the error code and how many verified bytes came out first. */
  async expectRefused(name: string) {
    let released = 0;
    try {
      for await (const c of await downloadDecrypted(container(), name, policy())) released += c.length;
    } catch (e) {
      const code = ClientSideEncryptionError.is(e) ? e.code : `untyped ${String(e)}`;
      log(`Read of ${name} refused`, false, `${code} after ${released} verified bytes`);
      return { code, message: e instanceof Error ? e.message : String(e), released };
    }
    log(`Read of ${name} NOT refused`, true, `${released} bytes`);
    return { code: "none", message: "", released };
  },
  /** Lists the container: name, stored size, encrypted or not. */
  async list() {
    const out: { name: string; size: number; encrypted: boolean }[] = [];
    for await (const b of container().listBlobsFlat({ includeMetadata: true })) {
      out.push({ name: b.name, size: b.properties.contentLength ?? 0, encrypted: b.metadata?.encryptiondata !== undefined });
    }
    log("Listed container", true, out.map((b) => `${b.name}${b.encrypted ? " (encrypted)" : " (plaintext)"}`).join(", "));
    return out;
  },
  /**
   * Streams a (large) blob through downloadDecryptedBlob's ReadableStream without keeping it: size, a 32-bit
   * word-sum checksum (the test computes the same), chunk count, the largest chunk and the time taken.
   */
  async streamChecksum(name: string, options: { hold?: boolean; range?: PlaintextRange } = {}) {
    const hold = options.hold ?? false;
    const t = performance.now();
    const { body } = await downloadDecryptedBlob(container().getBlobClient(name), policy(), options.range ? { range: options.range } : {});
    const reader = body.getReader();
    const held: Uint8Array[] = (window.azcseHeld = []);
    let size = 0;
    let sum = 0;
    let chunks = 0;
    let largest = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (hold) held.push(value);
      chunks++;
      largest = Math.max(largest, value.length);
      const words = value.byteOffset % 4 === 0 ? Math.floor(value.length / 4) : 0;
      const w = new Uint32Array(value.buffer, value.byteOffset, words);
      for (let i = 0; i < words; i++) sum = (sum + w[i]!) >>> 0;
      for (let i = words * 4; i < value.length; i++) sum = (sum + value[i]!) >>> 0;
      size += value.length;
    }
    const ms = performance.now() - t;
    log(`Streamed ${name}`, true, `${size} B in ${chunks} verified chunks, ${(size / 1048576 / (ms / 1000)).toFixed(0)} MiB/s${hold ? " (held)" : ""}`);
    return { size, sum, chunks, largest, ms, held: held.length };
  },
  /** Drops the chunks a `hold` run kept (the memory test's control). */
  releaseHeld(): void {
    window.azcseHeld = [];
  },
  /** Encrypts and sends messages through the official QueueClient (queue URL with SAS). */
  async queueSend(queueUrl: string, messages: string[]) {
    const q = new WebEncryptedQueueClient(new QueueClient(queueUrl), policy());
    const ids: string[] = [];
    for (const m of messages) ids.push((await q.sendMessage(m)).messageId);
    log("Queue messages encrypted + sent", true, `${messages.length} message(s)`);
    return ids;
  },
  /** Receives, decrypts and deletes up to 32 messages; a refused message is reported by its error code. */
  async queueReceive(queueUrl: string) {
    const q = new WebEncryptedQueueClient(new QueueClient(queueUrl), policy());
    try {
      const got = await q.receiveMessages({ numberOfMessages: 32 });
      for (const m of got) await q.deleteMessage(m.messageId, m.popReceipt!);
      log("Queue messages received + decrypted", true, `${got.length} message(s)`);
      return { texts: got.map((m) => m.messageText), protocols: got.map((m) => m.protocol ?? "plain"), code: "none" };
    } catch (e) {
      const code = codeOf(e);
      log("Queue message refused", false, code);
      return { texts: [], protocols: [], code };
    }
  },
  /** Encrypts (`encrypted` names) and upserts entities through the official TableClient (table endpoint + SAS). */
  async tableUpsert(endpoint: string, sas: string, table: string, entities: WebEntityRecord[], encrypted: string[]) {
    const t = new WebEncryptedTableClient(tableClient(endpoint, sas, table), policy(), { encryptedProperties: encrypted });
    for (const e of entities) await t.upsertEntity(e);
    log("Table entities encrypted + written", true, `${entities.length} entit(ies), encrypted: ${encrypted.join(", ")}`);
  },
  /** Reads and decrypts one entity; a refusal is returned as its error code. */
  async tableGet(endpoint: string, sas: string, table: string, pk: string, rk: string) {
    const t = new WebEncryptedTableClient(tableClient(endpoint, sas, table), policy());
    try {
      const e = await t.getEntity(pk, rk);
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(e)) if (k !== "etag" && k !== "timestamp" && !k.startsWith("odata")) out[k] = v;
      log(`Table entity ${pk}/${rk} decrypted`, true, Object.keys(out).join(", "));
      return { entity: out, code: "none" };
    } catch (e) {
      const code = codeOf(e);
      log(`Table entity ${pk}/${rk} refused`, false, code);
      return { entity: {}, code };
    }
  },
  /** bench.mjs: MiB/s of the Web Crypto backend in this browser, 4 MiB regions (not part of the UI). */
  async benchRegions(mib: number): Promise<Record<string, string>> {
    const data = patternBytes(mib * 1024 * 1024, 1);
    const cek = new Uint8Array(32).fill(7);
    const rate = (t: number) => (mib / ((performance.now() - t) / 1000)).toFixed(0);
    let t = performance.now();
    const regions: Uint8Array[] = [];
    for await (const r of encryptWebGcmRegions(data, cek, 4 * 1024 * 1024)) regions.push(r);
    const enc = rate(t);
    t = performance.now();
    let n = 0;
    for await (const p of decryptWebGcmRegions(regions, cek, 4 * 1024 * 1024)) n += p.length;
    const dec = rate(t);
    if (n !== data.length) throw new Error("benchmark decrypted the wrong length");
    return { "Web Crypto backend in Chromium, encrypt": enc, "Web Crypto backend in Chromium, decrypt": dec };
  },
  /** Imports a JWK without keeping it: "ok" or the error code (what this browser's Web Crypto supports). */
  async tryImport(jwk: Record<string, unknown>): Promise<string> {
    try {
      await webKeyFromJwk(jwk);
      return "ok";
    } catch (e) {
      return ClientSideEncryptionError.is(e) ? e.code : String(e);
    }
  },
  hasBuffer: () => typeof (globalThis as { Buffer?: unknown }).Buffer !== "undefined",
};

declare global {
  interface Window {
    azcse: typeof api;
    azcseHeld: Uint8Array[];
  }
}
window.azcse = api;

// The file picker flow of the example page.
document.getElementById("upload")!.addEventListener("click", () => {
  const input = document.getElementById("file") as HTMLInputElement;
  const file = input.files?.[0];
  if (!file) return;
  const status = document.getElementById("status")!;
  status.textContent = "working…";
  void (async () => {
    try {
      const r = await uploadEncrypted(container(), file.name, file, policy(), { origin: "browser-file" });
      log(`Encrypted + uploaded file ${file.name}`, true, `${file.size} B → ${r.storedLength} B stored, ${r.regions} region(s)`);
      const back = await sha256(await downloadDecrypted(container(), file.name, policy()));
      log(`Downloaded + decrypted file ${file.name}`, true, `${back.size} B, sha256 ${back.sha256.slice(0, 16)}…`);
      status.textContent = `done: ${file.name} ${back.sha256}`;
    } catch (e) {
      status.textContent = `failed: ${ClientSideEncryptionError.is(e) ? e.code : String(e)}`;
    }
  })();
});
