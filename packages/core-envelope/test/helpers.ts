// Shared test helpers: the Python SDK vector set, the sha256-counter plaintext generator, chunkers
// and a typed-error assertion. No format logic lives here: expectations come from the vectors.
import { createHash } from "node:crypto";
import {
  AesKeyWrapKey,
  ClientSideEncryptionError,
  RsaKey,
  createLocalKeyResolver,
  type KeyEncryptionKey,
} from "@azure-cse/core-envelope";
import { vectorsDir } from "@azure-cse/testkit";
import { typedErrorAssertions } from "@azure-cse/testkit/assertions";
import { vectorFile, vectorKeks, vectorManifest } from "@azure-cse/testkit/vectors";

export { errorText, expectNoSecrets } from "@azure-cse/testkit/assertions";
export { fixedRandom } from "@azure-cse/testkit/random";

export { vectorsDir };

export interface PlaintextSpec {
  size: number;
  sha256: string;
  generator: { algorithm: "sha256-counter"; seed: string };
  file: string | null;
}

export interface BlobCase {
  id: string;
  kind: "blob";
  description: string;
  protocol: "1.0" | "2.0";
  blob_type: "BlockBlob" | "PageBlob";
  kek_kid: string;
  kek_algorithm: string;
  plaintext: PlaintextSpec;
  stored: { file: string; size: number; sha256: string; metadata: Record<string, string> };
  debug: { cek_b64: string; iv_b64?: string; region_nonces_hex?: string[] };
}

export interface RangeCase {
  id: string;
  kind: "blob_range";
  blob_case: string;
  protocol: "1.0" | "2.0";
  blob_type: "BlockBlob" | "PageBlob";
  plaintext_size: number;
  ranges: { offset: number; count: number | null; expected: { size: number; sha256: string; b64?: string } }[];
}

export interface NegativeCase {
  id: string;
  kind: "negative";
  target_kind: "blob" | "queue" | "table";
  description: string;
  base_case: string;
  protocol: "1.0" | "2.0";
  blob_type?: "BlockBlob" | "PageBlob";
  error_category: string;
  stored?: { file: string; size: number; sha256: string; metadata: Record<string, string> };
}

export type { VectorKek as Kek, VectorManifest as Manifest } from "@azure-cse/testkit/vectors";
export { vectorManifest as manifest, vectorCases as casesOfKind, vectorFile as readVectorFile } from "@azure-cse/testkit/vectors";

export function blobCase(id: string): BlobCase {
  const c = vectorManifest().cases.find((x) => x.id === id);
  if (!c || c.kind !== "blob") throw new Error(`no blob case ${id}`);
  return c as unknown as BlobCase;
}

/** The manifest's KEKs as our local key objects (RSA from the PKCS#8 PEM). */
export function manifestKeks(): KeyEncryptionKey[] {
  return vectorKeks<KeyEncryptionKey>({ AesKeyWrapKey, RsaKey });
}

/** Resolves the manifest's KEKs by the KeyId stored in the metadata (as the README asks). */
export function manifestResolver() {
  return createLocalKeyResolver(manifestKeks());
}

/** `SHA-256(utf8(seed) || uint64_be(0)) || SHA-256(utf8(seed) || uint64_be(1)) || ...` cut to `size`. */
export function sha256Counter(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  const seedBytes = Buffer.from(seed, "utf8");
  const counter = Buffer.alloc(8);
  for (let i = 0, pos = 0; pos < size; i++, pos += 32) {
    counter.writeBigUInt64BE(BigInt(i));
    createHash("sha256").update(seedBytes).update(counter).digest().copy(out, pos);
  }
  return out;
}

const plaintextCache = new Map<string, Buffer>();
export function plaintextOf(spec: PlaintextSpec): Buffer {
  const key = `${spec.generator.seed}/${spec.size}`;
  let p = plaintextCache.get(key);
  if (!p) {
    p = spec.file ? vectorFile(spec.file) : sha256Counter(spec.generator.seed, spec.size);
    if (sha256hex(p) !== spec.sha256) throw new Error(`plaintext ${key} does not match its sha256`);
    plaintextCache.set(key, p);
  }
  return p;
}

export function sha256hex(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

/** Deterministic bytes for tests (not a secret). */
export function patternBytes(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

/** Yields `data` cut at the given sizes (cycled), as a source with short reads. */
export function* chunked(data: Buffer, sizes: readonly number[]): Generator<Buffer> {
  if (sizes.length === 0 || sizes.every((s) => s <= 0)) {
    yield data;
    return;
  }
  let pos = 0;
  let i = 0;
  while (pos < data.length) {
    const s = Math.max(1, sizes[i++ % sizes.length] ?? 1);
    yield data.subarray(pos, pos + s);
    pos += s;
  }
}

/** `caught(fn)`: the ClientSideEncryptionError `fn` throws (fails the test otherwise); `expectCode` checks its code. */
export const { caught, expectCode } = typedErrorAssertions(ClientSideEncryptionError);
