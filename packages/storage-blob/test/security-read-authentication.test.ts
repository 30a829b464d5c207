// Security hardening (issue 14) through Azurite: every read path of EncryptedBlobClient authenticates
// (stream, parallel buffer, file, zero-length and past-the-end ranges), malformed stored data is a
// decryption failure, region-size bounds hold, and nothing partial is left by a failed file download.
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createContentEncryption, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { EncryptedBlobClient } from "@azure-cse/storage-blob";
import { plaintext, rejection, startEnv, streamToBuffer, uniqueName, type Env } from "./helpers.js";

let env: Env;
let dir: string;
beforeAll(async () => {
  env = await startEnv();
  dir = mkdtempSync(path.join(tmpdir(), "azcse-blob-sec-"));
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await env?.stop();
});

/** Stores `body` under the EncryptionData a real encryption of this policy writes (the body is the attacker's). */
async function storeForged(body: Buffer, policy: ClientSideEncryptionPolicy = env.policy, edit?: (o: Record<string, Record<string, unknown>>) => void): Promise<EncryptedBlobClient> {
  const enc = await createContentEncryption(policy);
  const o = JSON.parse(enc.toJson(true)) as Record<string, Record<string, unknown>>;
  edit?.(o);
  enc.dispose();
  const name = uniqueName("forged");
  await env.container.getBlockBlobClient(name).upload(body, body.length, { metadata: { encryptiondata: JSON.stringify(o) } });
  return new EncryptedBlobClient(env.container.getBlobClient(name), env.policy);
}

/** Every way a caller can read the blob (whole, empty ranges, past the end, parallel, to a file). */
function everyRead(c: EncryptedBlobClient, target: string): Array<[string, () => Promise<unknown>]> {
  return [
    ["download()", async () => streamToBuffer((await c.download()).readableStreamBody)],
    ["download(0, 0)", async () => streamToBuffer((await c.download(0, 0)).readableStreamBody)],
    ["download(1e6) past the end", async () => streamToBuffer((await c.download(1_000_000)).readableStreamBody)],
    ["download(0, 1)", async () => streamToBuffer((await c.download(0, 1)).readableStreamBody)],
    ["downloadToBuffer()", () => c.downloadToBuffer()],
    ["downloadToBuffer(0, 0)", () => c.downloadToBuffer(0, 0)],
    ["downloadToFile()", () => c.downloadToFile(target)],
  ];
}

describe("class: every read authenticates (blob client, every read path)", () => {
  it("28 random bytes under 2.x metadata: every read path fails (DECRYPTION_FAILED / REGION_OUT_OF_ORDER), none returns empty plaintext", async () => {
    for (const body of [randomBytes(28), Buffer.concat([Buffer.alloc(12), randomBytes(16)])]) {
      const c = await storeForged(body);
      const target = path.join(dir, `${c.name}.out`);
      for (const [label, read] of everyRead(c, target)) {
        const e = await rejection(read());
        expect(["DECRYPTION_FAILED", "REGION_OUT_OF_ORDER"], label).toContain(e.code);
      }
      expect(existsSync(target)).toBe(false);
    }
  });

  it("a genuine empty 2.0 blob (0 bytes) reads as empty on every path, but a forged KeyId or EncryptedKey fails", async () => {
    const good = await storeForged(Buffer.alloc(0));
    for (const [label, read] of everyRead(good, path.join(dir, `${good.name}.out`))) {
      const r = await read();
      if (Buffer.isBuffer(r)) expect(r.length, label).toBe(0);
    }
    const kid = await storeForged(Buffer.alloc(0), env.policy, (o) => (o.WrappedContentKey!.KeyId = "local:someone-else"));
    const key = await storeForged(Buffer.alloc(0), env.policy, (o) => (o.WrappedContentKey!.EncryptedKey = randomBytes(40).toString("base64")));
    for (const [label, read] of everyRead(kid, path.join(dir, `${kid.name}.out`))) expect((await rejection(read())).code, label).toBe("KEY_NOT_FOUND");
    for (const [label, read] of everyRead(key, path.join(dir, `${key.name}.out`))) expect((await rejection(read())).code, label).toBe("DECRYPTION_FAILED");
  });

  it("a real 2.0 blob whose last region was tampered fails even for zero-length and past-the-end reads", async () => {
    const name = uniqueName("tamper");
    const c = new EncryptedBlobClient(env.container.getBlobClient(name), env.policy);
    await c.uploadData(plaintext(1000));
    const raw = env.container.getBlobClient(name);
    const stored = await raw.downloadToBuffer();
    const props = await raw.getProperties();
    stored[stored.length - 2]! ^= 1;
    await env.container.getBlockBlobClient(name).upload(stored, stored.length, { metadata: props.metadata });
    for (const [label, read] of everyRead(c, path.join(dir, `${name}.out`))) expect((await rejection(read())).code, label).toBe("DECRYPTION_FAILED");
  });

  it("1.0: a 0-byte body and a body whose length is not a multiple of 16 are decryption failures (malformed stored data)", async () => {
    const v1: ClientSideEncryptionPolicy = { ...env.policy, encryptionVersion: "1.0", allowDeprecatedV1Encryption: true };
    for (const body of [Buffer.alloc(0), randomBytes(17), randomBytes(33)]) {
      const c = await storeForged(body, v1);
      for (const [label, read] of everyRead(c, path.join(dir, `${c.name}.out`))) expect((await rejection(read())).code, `${body.length}: ${label}`).toBe("DECRYPTION_FAILED");
    }
  });
});

describe("class: region-size bounds on read", () => {
  it("2.0 metadata with DataLength ≠ 4 MiB is refused (INVALID_ENCRYPTION_DATA) on every path", async () => {
    const c = await storeForged(randomBytes(44), env.policy, (o) => (o.EncryptedRegionInfo!.DataLength = 16));
    for (const [label, read] of everyRead(c, path.join(dir, `${c.name}.out`))) expect((await rejection(read())).code, label).toBe("INVALID_ENCRYPTION_DATA");
  });

  it("a 2.1 DataLength edited to 1 GiB is refused by default (maxRegionSize 16 MiB) — no giant unverified buffer", async () => {
    const c = await storeForged(randomBytes(1000), { ...env.policy, encryptionVersion: "2.1", regionSize: 64 }, (o) => (o.EncryptedRegionInfo!.DataLength = 1024 * 1024 * 1024));
    expect((await rejection(c.download())).code).toBe("INVALID_ENCRYPTION_DATA");
    expect((await rejection(c.downloadToBuffer())).code).toBe("INVALID_ENCRYPTION_DATA");
    const props = await c.getProperties();
    expect(props.encryptionDataError?.code).toBe("INVALID_ENCRYPTION_DATA");
  });

  it("a policy that writes 2.1 with 32 MiB regions reads its own blobs (the bound follows its regionSize)", async () => {
    const big: ClientSideEncryptionPolicy = { ...env.policy, encryptionVersion: "2.1", regionSize: 32 * 1024 * 1024 };
    const c = new EncryptedBlobClient(env.container.getBlobClient(uniqueName("big")), big);
    const p = plaintext(100);
    await c.uploadData(p);
    expect((await c.downloadToBuffer()).equals(p)).toBe(true);
    const other = new EncryptedBlobClient(c.blobClient, env.policy);
    expect((await rejection(other.download())).code).toBe("INVALID_ENCRYPTION_DATA");
  });
});

describe("class: nothing left behind by a failed file download", () => {
  it("downloadToFile of a tampered blob leaves neither the file nor a hidden temp file", async () => {
    const c = await storeForged(Buffer.concat([Buffer.alloc(12), randomBytes(16 + 5000)]));
    const sub = mkdtempSync(path.join(dir, "dl-"));
    expect((await rejection(c.downloadToFile(path.join(sub, "out.bin")))).code).toMatch(/DECRYPTION_FAILED|REGION_OUT_OF_ORDER/);
    expect(readdirSync(sub)).toEqual([]);
  });
});
