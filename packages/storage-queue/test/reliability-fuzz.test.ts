// Fuzz: the queue envelope parser/decryptor (decryptMessageText) on generated and mutated envelopes. Every
// input gives the exact payload or one of our typed errors — no other exception, no hang (time-bounded).
// CI budget is fixed; AZCSE_FUZZ_RUNS=<n> runs longer, AZCSE_FUZZ_SEED=<seed> replays.
import { performance } from "node:perf_hooks";
import { beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import type { QueueClient } from "@azure/storage-queue";
import { AesKeyWrapKey, ClientSideEncryptionError, RsaKey, createLocalKeyResolver, type ClientSideEncryptionErrorCode, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { EncryptedQueueClient, isEncryptedMessageText } from "@azure-cse/storage-queue";
import { createPrng } from "../../../tools/fault-proxy/index.mjs";
import { budget, timeoutFor } from "@azure-cse/testkit/fuzz";
import { randomFromPrng } from "@azure-cse/testkit/random";


/** Per input: a megabyte-sized input is allowed more, but nothing may take seconds. */
const MAX_MS = 1500;

const ALLOWED: readonly ClientSideEncryptionErrorCode[] = [
  "ENCRYPTION_REQUIRED",
  "INVALID_ENCRYPTION_DATA",
  "UNSUPPORTED_PROTOCOL",
  "DECRYPTION_FAILED",
  "REGION_OUT_OF_ORDER",
  "KEY_NOT_FOUND",
  "KID_MISMATCH",
];

const aes = new AesKeyWrapKey("local:fuzz-aes", Buffer.alloc(32, 0x5c));
const rsa = RsaKey.generate("local:fuzz-rsa", 2048, "RSA-OAEP");
/** Not a real queue: decryptMessageText never touches the service. */
const fakeQueue = { sendMessage: () => undefined, name: "fuzz", url: "http://127.0.0.1/fuzz" } as unknown as QueueClient;

function seededPolicy(seed: string, kek: AesKeyWrapKey | RsaKey, extra: Partial<ClientSideEncryptionPolicy> = {}): ClientSideEncryptionPolicy {
  const rand = createPrng(seed);
  return {
    keyEncryptionKey: kek,
    keyResolver: createLocalKeyResolver([aes, rsa]),
    random: randomFromPrng(rand),
    ...extra,
  };
}

interface Sample {
  payload: Buffer;
  envelope: string;
  protocol: "1.0" | "2.0";
}
const samples: Sample[] = [];
const reader = new EncryptedQueueClient(fakeQueue, { keyResolver: createLocalKeyResolver([aes, rsa]) });
const lenient = new EncryptedQueueClient(fakeQueue, { keyResolver: createLocalKeyResolver([aes, rsa]), requireEncryption: false });

beforeAll(async () => {
  const rand = createPrng("queue-fuzz-payloads");
  const sizes = [0, 1, 15, 16, 33, 200, 3000];
  let k = 0;
  for (const size of sizes) {
    for (const protocol of ["2.0", "1.0"] as const) {
      for (const kek of [aes, rsa]) {
        const payload = Buffer.from(randomFromPrng(rand)(size));
        const writer = new EncryptedQueueClient(
          fakeQueue,
          seededPolicy(`w${k++}`, kek, protocol === "1.0" ? { encryptionVersion: "1.0", allowDeprecatedV1Encryption: true } : {}),
        );
        samples.push({ payload, envelope: await writer.encryptMessageText(payload), protocol });
      }
    }
  }
});

type Outcome = { ok: true; bytes: Buffer; encrypted: boolean } | { ok: false; error: ClientSideEncryptionError };

/** Decrypts with a time bound; anything but a result or an allowed typed error fails the property. */
async function outcome(client: EncryptedQueueClient, text: string): Promise<Outcome> {
  const t0 = performance.now();
  let result: Outcome;
  try {
    const d = await client.decryptMessageText(text);
    result = { ok: true, bytes: d.messageBytes, encrypted: d.encrypted };
  } catch (e) {
    if (!ClientSideEncryptionError.is(e)) {
      throw new Error(`untyped failure for a ${text.length}-char input: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`.slice(0, 400));
    }
    // Core's deliberate choice (core tamper.test.ts): a stored wrap algorithm the key cannot use is KEY_OPERATION_FAILED.
    const storedAlgorithm = e.code === "KEY_OPERATION_FAILED" && /cannot use wrap algorithm/.test(e.message);
    if (!ALLOWED.includes(e.code) && !storedAlgorithm) throw new Error(`unexpected code ${e.code}: ${e.message.slice(0, 200)}`);
    if (e.message.length >= 1024) throw new Error(`unbounded ${e.code} message: ${e.message.slice(0, 160)}`);
    result = { ok: false, error: e };
  }
  const ms = performance.now() - t0;
  if (ms > MAX_MS) throw new Error(`decryptMessageText took ${Math.round(ms)} ms for a ${text.length}-char input`);
  return result;
}

// ------------------------------------------------------------------ mutations

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function paths(v: Json, prefix: string[] = [], out: string[][] = []): string[][] {
  if (v !== null && typeof v === "object") {
    for (const k of Object.keys(v)) {
      const p = [...prefix, k];
      out.push(p);
      paths((v as Record<string, Json>)[k] as Json, p, out);
    }
  }
  return out;
}

function parentOf(root: Json, p: string[]): Record<string, Json> | Json[] {
  let cur = root as Record<string, Json>;
  for (const k of p.slice(0, -1)) cur = cur[k] as Record<string, Json>;
  return cur;
}

function deep(depth: number): string {
  return "[".repeat(depth) + "]".repeat(depth);
}

const mutation = fc.record({
  sample: fc.nat(),
  kind: fc.constantFrom(
    "truncate",
    "char",
    "delete",
    "replace",
    "rename",
    "huge",
    "deep",
    "bitflip",
    "duplicate",
    "wrap-numbers",
    "case",
    "whitespace",
  ),
  at: fc.nat(),
  value: fc.jsonValue({ maxDepth: 3 }),
  ch: fc.string({ unit: "binary", minLength: 1, maxLength: 3 }),
  bit: fc.nat(7),
});

/** Applies one mutation; `structural` says whether a 1.0 body could still decrypt to other bytes (CBC malleability). */
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(m: Mutation): { text: string; sample: Sample; contentTouched: boolean } {
  const sample = samples[m.sample % samples.length]!;
  const text = sample.envelope;
  const root = JSON.parse(text) as Json;
  const all = paths(root);
  const p = all[m.at % all.length]!;
  const parent = parentOf(root, p) as Record<string, Json>;
  const key = p[p.length - 1]!;
  const contentTouched = p.includes("EncryptedMessageContents") || p.includes("ContentEncryptionIV");
  switch (m.kind) {
    case "truncate":
      return { text: text.slice(0, m.at % (text.length + 1)), sample, contentTouched: true };
    case "char": {
      const i = m.at % Math.max(1, text.length);
      return { text: text.slice(0, i) + m.ch + text.slice(i + 1), sample, contentTouched: true };
    }
    case "delete":
      delete parent[key];
      break;
    case "replace":
      parent[key] = m.value as Json;
      break;
    case "rename":
      parent[`${key}${m.ch}`] = parent[key] as Json;
      delete parent[key];
      break;
    case "case":
      parent[key.toUpperCase() === key ? key.toLowerCase() : key.toUpperCase()] = parent[key] as Json;
      delete parent[key];
      break;
    case "huge":
      parent[key] = (m.bit % 2 === 0 ? "A" : "é").repeat(1 << 20);
      break;
    case "deep": {
      const marker = "__DEEP__";
      parent[key] = marker;
      return { text: JSON.stringify(root).replace(`"${marker}"`, deep(20_000 + m.at % 80_000)), sample, contentTouched };
    }
    case "bitflip": {
      const o = root as Record<string, Json>;
      const c = Buffer.from(typeof o.EncryptedMessageContents === "string" ? o.EncryptedMessageContents : "", "base64");
      if (c.length > 0) c[m.at % c.length]! ^= 1 << m.bit;
      o.EncryptedMessageContents = c.toString("base64");
      return { text: JSON.stringify(root), sample, contentTouched: true };
    }
    case "duplicate": {
      // The same key twice at the top level, the second one wins in JSON.parse.
      const dup = `"${key}":${JSON.stringify(m.value)},`;
      return { text: text.replace(/^\{/, `{${dup}`), sample, contentTouched };
    }
    case "wrap-numbers":
      return { text: text.replace(/\d+/g, (d) => (m.bit % 2 ? `${d}e0` : String(Number(d) + 2 ** 53))), sample, contentTouched: true };
    case "whitespace":
      return { text: text.replace(/[:,]/g, (c) => `${c} \n\t`), sample, contentTouched: false };
  }
  return { text: JSON.stringify(root), sample, contentTouched };
}

describe("queue envelope fuzz (decryptMessageText)", () => {
  it("generated envelopes (2.0/1.0, AES-KW/RSA-OAEP, 0–3000 bytes) under any JSON formatting decrypt exactly", async () => {
    expect(samples.length).toBe(28);
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.constantFrom("compact", "python", "reversed", "pretty"), async (i, style) => {
        const s = samples[i % samples.length]!;
        const o = JSON.parse(s.envelope) as Record<string, unknown>;
        const text =
          style === "compact"
            ? s.envelope
            : style === "python"
              ? JSON.stringify(o).replace(/":/g, '": ').replace(/,"/g, ', "')
              : style === "reversed"
                ? JSON.stringify({ EncryptionData: o.EncryptionData, EncryptedMessageContents: o.EncryptedMessageContents })
                : JSON.stringify(o, null, 2);
        const r = await outcome(reader, text);
        expect(r.ok && r.bytes.equals(s.payload)).toBe(true);
      }),
      budget(100),
    );
  }, timeoutFor(100, 20_000));

  it("mutated envelopes: the exact payload, the text itself when it is no longer an envelope (requireEncryption false), or a typed error — 2.0 never yields other bytes", async () => {
    const tally: Record<string, number> = {};
    await fc.assert(
      fc.asyncProperty(mutation, fc.boolean(), async (m, strict) => {
        const { text, sample, contentTouched } = mutate(m);
        const client = strict ? reader : lenient;
        const r = await outcome(client, text);
        const envelope = isEncryptedMessageText(text);
        if (!r.ok) {
          tally[r.error.code] = (tally[r.error.code] ?? 0) + 1;
          if (!envelope) expect(r.error.code).toBe("ENCRYPTION_REQUIRED");
          return;
        }
        tally.ok = (tally.ok ?? 0) + 1;
        if (!envelope) {
          // Not an envelope: only with requireEncryption false, and returned unchanged as plaintext.
          expect(strict).toBe(false);
          expect(r.encrypted).toBe(false);
          expect(r.bytes.equals(Buffer.from(text, "utf8"))).toBe(true);
          return;
        }
        expect(r.encrypted).toBe(true);
        if (r.bytes.equals(sample.payload)) return;
        // Only CBC (1.0) without integrity may turn changed ciphertext/IV into other bytes (docs/security.md §3).
        expect(sample.protocol === "1.0" && contentTouched, `${m.kind} on a ${sample.protocol} envelope changed the payload`).toBe(true);
        tally.v1Malleable = (tally.v1Malleable ?? 0) + 1;
      }),
      budget(400),
    );
    // The mutations reached the parser's different failure modes.
    expect(Object.keys(tally).length).toBeGreaterThanOrEqual(4);
    console.log(`[fuzz] queue envelope outcomes: ${JSON.stringify(tally)}`);
  }, timeoutFor(400, 40_000));

  it("arbitrary text and JSON values are never taken for encrypted content: ENCRYPTION_REQUIRED, or returned unchanged when encryption is not required", async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string({ unit: "grapheme" }), fc.json(), fc.jsonValue().map((v) => JSON.stringify({ EncryptedMessageContents: v, EncryptionData: v }))), async (text) => {
        const strict = await outcome(reader, text);
        if (!isEncryptedMessageText(text)) {
          expect(!strict.ok && strict.error.code).toBe("ENCRYPTION_REQUIRED");
          const loose = await outcome(lenient, text);
          expect(loose.ok && !loose.encrypted && loose.bytes.equals(Buffer.from(text, "utf8"))).toBe(true);
        } else {
          expect(strict.ok).toBe(false);
        }
      }),
      budget(300),
    );
  }, timeoutFor(300, 20_000));
});
