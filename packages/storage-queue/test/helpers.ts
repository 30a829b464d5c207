// Test helpers: the Python SDK vector set (queue cases), its keys, typed-error assertions, Azurite queues.
import { readFileSync } from "node:fs";
import path from "node:path";
import { expect } from "vitest";
import { QueueServiceClient } from "@azure/storage-queue";
import {
  AesKeyWrapKey,
  ClientSideEncryptionError,
  RsaKey,
  createLocalKeyResolver,
  type ClientSideEncryptionErrorCode,
  type KeyEncryptionKey,
} from "@azure-cse/core-envelope";
import { vectorsDir } from "../../../tools/testkit/index.mjs";

export interface Kek {
  kid: string;
  algorithm: string;
  key_b64: string;
  private_key_pkcs8_pem?: string;
}

export interface QueueCase {
  id: string;
  kind: "queue";
  description: string;
  protocol: "1.0" | "2.0";
  kek_kid: string;
  kek_algorithm: string;
  encode_policy: "none" | "text_base64" | "binary_base64";
  plaintext: { text?: string; utf8_size?: number; chars?: number; b64?: string; size?: number };
  stored: { message_text: string; encrypted: boolean };
  envelope?: Record<string, unknown>;
  debug?: { cek_b64?: string; iv_b64?: string; nonce_b64?: string; encrypted_plaintext_utf8?: string; encrypted_bytes_size?: number };
}

export interface QueueNegativeCase {
  id: string;
  kind: "negative";
  target_kind: "queue";
  description: string;
  base_case: string;
  protocol: "1.0" | "2.0";
  encode_policy: "none" | "text_base64" | "binary_base64";
  error_category: string;
  stored: { message_text: string };
}

interface Manifest {
  keks: Kek[];
  cases: ({ id: string; kind: string } & Record<string, unknown>)[];
}

let manifestCache: Manifest | undefined;
export function manifest(): Manifest {
  manifestCache ??= JSON.parse(readFileSync(path.join(vectorsDir, "manifest.json"), "utf8")) as Manifest;
  return manifestCache;
}

export function queueCases(): QueueCase[] {
  return manifest().cases.filter((c) => c.kind === "queue") as unknown as QueueCase[];
}

export function queueNegativeCases(): QueueNegativeCase[] {
  return manifest().cases.filter((c) => c.kind === "negative" && c.target_kind === "queue") as unknown as QueueNegativeCase[];
}

/** The expected payload bytes of a vector (UTF-8 text, or the binary payload). */
export function expectedPayload(c: QueueCase): Buffer {
  if (c.plaintext.b64 !== undefined) return Buffer.from(c.plaintext.b64, "base64");
  return Buffer.from(c.plaintext.text ?? "", "utf8");
}

export function manifestKeks(): KeyEncryptionKey[] {
  return manifest().keks.map((k) => {
    if (k.algorithm === "A256KW") return new AesKeyWrapKey(k.kid, Buffer.from(k.key_b64, "base64"));
    if (k.algorithm === "RSA-OAEP" && k.private_key_pkcs8_pem) return RsaKey.fromPem(k.kid, k.private_key_pkcs8_pem, "RSA-OAEP");
    throw new Error(`unexpected KEK ${k.kid} (${k.algorithm})`);
  });
}

export function manifestKek(kid: string): Kek {
  const k = manifest().keks.find((x) => x.kid === kid);
  if (!k) throw new Error(`no KEK ${kid}`);
  return k;
}

/** Resolves the manifest's KEKs by the stored KeyId. */
export function manifestResolver() {
  return createLocalKeyResolver(manifestKeks());
}

/** A RandomSource returning the given buffers in order; fails on anything unexpected. */
export function fixedRandom(values: Uint8Array[]) {
  const queue = [...values];
  return (n: number): Uint8Array => {
    const v = queue.shift();
    if (!v || v.length !== n) throw new Error(`unexpected random request of ${n} bytes`);
    return v;
  };
}

export async function caught(fn: () => unknown): Promise<ClientSideEncryptionError> {
  try {
    await fn();
  } catch (e) {
    if (ClientSideEncryptionError.is(e)) return e;
    throw new Error(`expected a ClientSideEncryptionError, got ${String(e)}`, { cause: e });
  }
  throw new Error("expected a ClientSideEncryptionError, but nothing was thrown");
}

export async function expectCode(fn: () => unknown, code: ClientSideEncryptionErrorCode): Promise<ClientSideEncryptionError> {
  const e = await caught(fn);
  expect(e.code, e.message).toBe(code);
  return e;
}

/** Asserts that none of the secrets appears anywhere in the error (message, details, stack, causes). */
export function expectNoSecrets(e: unknown, secrets: (Uint8Array | string)[]): void {
  const parts: string[] = [];
  let cur: unknown = e;
  for (let depth = 0; cur && depth < 5; depth++) {
    if (cur instanceof Error) {
      parts.push(cur.message, cur.stack ?? "", JSON.stringify((cur as { details?: unknown }).details ?? {}));
      cur = cur.cause;
    } else {
      parts.push(typeof cur === "string" ? cur : JSON.stringify(cur));
      break;
    }
  }
  const text = parts.join("\n");
  for (const s of secrets) {
    if (typeof s === "string") {
      expect(text.includes(s), "secret text leaked into an error").toBe(false);
      continue;
    }
    const b = Buffer.from(s);
    for (const form of [b.toString("hex"), b.toString("base64"), b.toString("base64url")]) {
      expect(text.includes(form), "secret leaked into an error").toBe(false);
    }
  }
}

let queueCounter = 0;
/** A fresh queue on Azurite (queue names: lowercase letters, digits, dashes). */
export async function newQueue(connectionString: string, prefix = "q") {
  const service = QueueServiceClient.fromConnectionString(connectionString);
  const name = `${prefix}-${process.pid}-${Date.now().toString(36)}-${queueCounter++}`.toLowerCase();
  const client = service.getQueueClient(name);
  await client.create();
  return client;
}
