// The real Python SDK vectors (azure-storage-blob 12.15.0b1 output captured from Azurite), see
// tools/python-sdk-vectors/README.md. Every blob decrypts whole, every listed range gives the expected
// slice, every blob negative case fails with the right typed error, and our writer reproduces the
// stored bytes wherever the format is deterministic.
import { describe, expect, it } from "vitest";
import {
  collectBytes,
  createContentEncryption,
  decryptPlanned,
  decryptRange,
  encryptCbc,
  findEncryptionDataInMetadata,
  isLegacyJavaWriter,
  parseEncryptionData,
  planRange,
  regionNonce,
  unwrapContentKey,
  v1StoredLength,
  v2StoredLength,
  DECRYPTION_FAILED_MESSAGE,
  type ClientSideEncryptionPolicy,
  type EncryptionData,
} from "@azure-cse/core-envelope";
import {
  blobCase,
  casesOfKind,
  chunked,
  expectCode,
  fixedRandom,
  manifest,
  manifestKeks,
  manifestResolver,
  plaintextOf,
  readVectorFile,
  sha256hex,
  type BlobCase,
  type NegativeCase,
  type RangeCase,
} from "./helpers.js";

const blobs = casesOfKind<BlobCase>("blob");
const ranges = casesOfKind<RangeCase>("blob_range");
const negatives = casesOfKind<NegativeCase>("negative").filter((n) => n.target_kind === "blob");
const resolverPolicy = (): ClientSideEncryptionPolicy => ({ keyResolver: manifestResolver() });

function load(c: { stored: { file: string; sha256: string; metadata: Record<string, string> } }): { data: EncryptionData; stored: Buffer } {
  const stored = readVectorFile(c.stored.file);
  expect(sha256hex(stored)).toBe(c.stored.sha256);
  const json = findEncryptionDataInMetadata(c.stored.metadata);
  if (json === undefined) throw new Error("vector without encryptiondata");
  return { data: parseEncryptionData(json), stored };
}

describe("Python SDK vector set", () => {
  it("manifest is the documented format and holds the expected cases", () => {
    const m = manifest();
    expect(m.format).toBe("azure-storage-cse-interop-vectors");
    expect(m.format_version).toBe(1);
    expect(blobs.length).toBe(28);
    expect(ranges.length).toBe(8);
    expect(negatives.length).toBe(5);
  });
});

describe("Python SDK blobs decrypt whole (KEK resolved by the stored KeyId)", () => {
  for (const c of blobs) {
    it(`${c.id}: protocol ${c.protocol} ${c.blob_type} ${c.kek_algorithm}, ${c.plaintext.size} bytes → plaintext sha256`, async () => {
      const { data, stored } = load(c);
      expect(data.protocol).toBe(c.protocol);
      const padded = c.blob_type !== "PageBlob";
      const expectedStored = c.protocol === "1.0" ? v1StoredLength(c.plaintext.size, padded) : v2StoredLength(c.plaintext.size, 4194304);
      expect(stored.length, "size formula").toBe(expectedStored);

      const cek = await unwrapContentKey(data, resolverPolicy());
      expect(cek.toString("base64")).toBe(c.debug.cek_b64);
      const plan = planRange(data, { offset: 0 }, stored.length, { padded });
      // Stream the stored bytes in odd-sized chunks (short reads), as a network body would arrive.
      const out = await collectBytes(decryptPlanned(data, cek, plan, chunked(stored, [65_521, 7, 1_000_003]), {}, padded));
      expect(out.length).toBe(c.plaintext.size);
      expect(sha256hex(out)).toBe(c.plaintext.sha256);
    });
  }

  it("PageBlob 1.0 is stored unpadded: with padded=false the whole 1024 bytes come back; with padding removal the last block is refused", async () => {
    const c = blobCase("blob-v1-a256kw-0001024-pageblob");
    const { data, stored } = load(c);
    expect(stored.length).toBe(1024);
    const whole = await decryptRange(data, resolverPolicy(), stored.length, (o, n) => [stored.subarray(o, n === undefined ? undefined : o + n)], { padded: false });
    expect(sha256hex(await collectBytes(whole))).toBe(c.plaintext.sha256);
    // Treating the page blob as padded must not silently return wrong plaintext.
    const cek = await unwrapContentKey(data, resolverPolicy());
    const plan = planRange(data, { offset: 0 }, stored.length, { padded: true });
    const attempt = collectBytes(decryptPlanned(data, cek, plan, [stored], {}, true));
    const e = await expectCode(() => attempt, "DECRYPTION_FAILED");
    expect(e.message).toBe(DECRYPTION_FAILED_MESSAGE);
  });

  it("Python's metadata is not a legacy Java writer (KeyWrappingMetadata present, no 'Java')", () => {
    for (const c of blobs) expect(isLegacyJavaWriter(load(c).data)).toBe(false);
  });
});

describe("Python SDK ranged reads: planRange + decryptPlanned over the stored bytes give plaintext[offset : offset+count] clamped", () => {
  for (const rc of ranges) {
    it(`${rc.id}: ${rc.ranges.length} ranges crossing CBC blocks, upload blocks and GCM regions`, async () => {
      const c = blobCase(rc.blob_case);
      const { data, stored } = load(c);
      const padded = rc.blob_type !== "PageBlob";
      const cek = await unwrapContentKey(data, resolverPolicy());
      const plaintext = plaintextOf(c.plaintext);
      for (const r of rc.ranges) {
        const label = `offset ${r.offset} count ${r.count}`;
        const range = r.count === null ? { offset: r.offset } : { offset: r.offset, count: r.count };
        const plan = planRange(data, range, stored.length, { padded });
        expect(plan.empty, label).toBe(false);
        // Never request a range starting at or past the stored length; never past its end.
        expect(plan.storedOffset, label).toBeLessThan(stored.length);
        const fetchEnd = plan.storedCount === undefined ? stored.length : plan.storedOffset + plan.storedCount;
        expect(fetchEnd, label).toBeLessThanOrEqual(stored.length);
        const fetched = stored.subarray(plan.storedOffset, fetchEnd);
        const out = await collectBytes(decryptPlanned(data, cek, plan, chunked(fetched, [4099, 13]), {}, padded));
        expect(out.length, label).toBe(r.expected.size);
        expect(sha256hex(out), label).toBe(r.expected.sha256);
        if (r.expected.b64 !== undefined) expect(out.toString("base64"), label).toBe(r.expected.b64);
        const end = r.count === null ? undefined : r.offset + r.count;
        expect(out.equals(plaintext.subarray(r.offset, end)), label).toBe(true);
      }
    });
  }
});

describe("Python SDK negative blob cases fail with a typed error, never plaintext", () => {
  const expectedCode: Record<string, "DECRYPTION_FAILED" | "KEY_NOT_FOUND"> = {
    integrity: "DECRYPTION_FAILED",
    padding: "DECRYPTION_FAILED",
    key_unwrap: "DECRYPTION_FAILED",
    unknown_kek: "KEY_NOT_FOUND",
  };
  for (const n of negatives) {
    it(`${n.id} (${n.error_category}) → ${expectedCode[n.error_category]}`, async () => {
      const code = expectedCode[n.error_category];
      if (!code || !n.stored) throw new Error(`unmapped negative case ${n.id}`);
      const { data, stored } = load({ stored: n.stored });
      const released: Buffer[] = [];
      const e = await expectCode(async () => {
        const cek = await unwrapContentKey(data, resolverPolicy());
        const plan = planRange(data, { offset: 0 }, stored.length, { padded: n.blob_type !== "PageBlob" });
        for await (const chunk of decryptPlanned(data, cek, plan, [stored])) released.push(chunk);
      }, code);
      if (code === "DECRYPTION_FAILED") expect(e.message).toBe(DECRYPTION_FAILED_MESSAGE);
      if (n.protocol !== "1.0") expect(Buffer.concat(released).length, "no plaintext of a failing GCM region").toBe(0);
    });
  }

  it("neg-blob-v1-unknown-kid with only a configured key (no resolver) → KID_MISMATCH naming both ids", async () => {
    const n = negatives.find((x) => x.error_category === "unknown_kek")!;
    const { data } = load({ stored: n.stored! });
    const e = await expectCode(() => unwrapContentKey(data, { keyEncryptionKey: manifestKeks()[0] }), "KID_MISMATCH");
    expect(e.message).toContain("local:no-such-kek");
    expect(e.message).toContain("local:shared-a256kw");
  });
});

describe("our writer reproduces Python's stored bytes where the format is deterministic", () => {
  for (const c of blobs) {
    it(`${c.id}: fixed debug CEK${c.protocol === "1.0" ? " + manifest IV" : ""} → identical body${c.kek_algorithm === "A256KW" ? " and EncryptedKey" : ""}`, async () => {
      const { data, stored } = load(c);
      const cek = Buffer.from(c.debug.cek_b64, "base64");
      const plaintext = plaintextOf(c.plaintext);
      const kek = manifestKeks().find((k) => k.keyId === c.kek_kid)!;
      const iv = c.protocol === "1.0" ? Buffer.from(c.debug.iv_b64!, "base64") : undefined;
      const policy: ClientSideEncryptionPolicy =
        c.protocol === "1.0"
          ? { keyEncryptionKey: kek, encryptionVersion: "1.0", allowDeprecatedV1Encryption: true, random: fixedRandom([cek, iv!]) }
          : { keyEncryptionKey: kek, encryptionVersion: "2.0", random: fixedRandom([cek]) };
      const enc = await createContentEncryption(policy);
      const ours =
        c.blob_type === "PageBlob"
          ? await collectBytes(encryptCbc([plaintext], cek, iv!, { pad: false }))
          : await collectBytes(enc.encrypt(chunked(plaintext, [1 << 16, 3])));
      expect(ours.length).toBe(stored.length);
      expect(ours.equals(stored)).toBe(true);
      if (c.blob_type !== "PageBlob") expect(enc.storedLength(plaintext.length)).toBe(stored.length);

      const mine = parseEncryptionData(enc.toJson(true));
      expect(mine.protocol).toBe(data.protocol);
      expect(mine.wrappedContentKey.keyId).toBe(data.wrappedContentKey.keyId);
      expect(mine.wrappedContentKey.algorithm).toBe(data.wrappedContentKey.algorithm);
      if (c.kek_algorithm === "A256KW") {
        expect(Buffer.from(mine.wrappedContentKey.encryptedKey).equals(Buffer.from(data.wrappedContentKey.encryptedKey))).toBe(true);
      } else {
        // RSA-OAEP is randomised: the wrap differs but unwraps to the same CEK.
        expect(await unwrapContentKey(mine, { keyEncryptionKey: kek })).toEqual(cek);
      }
      if (data.protocol === "1.0" && mine.protocol === "1.0") expect(Buffer.from(mine.contentEncryptionIV)).toEqual(Buffer.from(data.contentEncryptionIV));
      if (c.protocol === "2.0") {
        const nonces = c.debug.region_nonces_hex ?? [];
        nonces.forEach((hexNonce, i) => expect(regionNonce("python", i).toString("hex")).toBe(hexNonce));
      }
    });
  }
});
