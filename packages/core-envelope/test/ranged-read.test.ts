// The ranged-read façade (openRangedRead): the one read path of the blob client's download and the CLI's
// offline decrypt. Exact content lengths, every range, and "every read authenticates" (verify-only reads).
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { AesKeyWrapKey, collectBytes, createContentEncryption, openRangedRead, parseEncryptionData, type ClientSideEncryptionPolicy } from "../src/index.js";

const kek = AesKeyWrapKey.generate("local:ranged");

async function stored(protocol: "1.0" | "2.0" | "2.1", size: number) {
  const policy: ClientSideEncryptionPolicy = { keyEncryptionKey: kek, encryptionVersion: protocol, regionSize: protocol === "2.1" ? 64 : undefined, allowDeprecatedV1Encryption: true };
  const enc = await createContentEncryption(policy);
  const plain = randomBytes(size);
  const body = await collectBytes(enc.encrypt([plain]));
  const data = parseEncryptionData(enc.toJson(true));
  enc.dispose();
  return { plain, body, data, policy: { keyEncryptionKey: kek } as ClientSideEncryptionPolicy };
}

function fetcher(body: Buffer, log: string[] = []) {
  return (offset: number, count: number | undefined, purpose: "content" | "length") => {
    log.push(`${purpose}:${offset}+${count ?? "end"}`);
    return [body.subarray(offset, count === undefined ? undefined : offset + count)];
  };
}

describe("openRangedRead", () => {
  for (const protocol of ["1.0", "2.0", "2.1"] as const) {
    it(`protocol ${protocol}: every range gives exactly the plaintext slice and its exact length`, async () => {
      const { plain, body, data, policy } = await stored(protocol, 300);
      for (const [offset, count] of [[0, undefined], [0, 1], [17, 100], [250, undefined], [299, 5], [100, 0], [300, undefined], [400, 3]] as const) {
        const read = await openRangedRead(data, policy, body.length, fetcher(body), { range: { offset, count } });
        const want = plain.subarray(offset, count === undefined ? undefined : offset + count);
        expect(read.contentLength, `${offset}+${count}`).toBe(want.length);
        expect((await collectBytes(read.body)).equals(want)).toBe(true);
      }
    });

    it(`protocol ${protocol}: reads that return nothing still authenticate stored bytes (tampered → DECRYPTION_FAILED)`, async () => {
      const { body, data, policy } = await stored(protocol, 300);
      const bad = Buffer.from(body);
      // Every ciphertext and tag byte flipped; 2.x nonces kept (a changed nonce is REGION_OUT_OF_ORDER, also a refusal).
      const region = data.protocol === "1.0" ? 0 : data.encryptedRegionInfo.dataLength + 28;
      for (let i = 0; i < bad.length; i++) if (region === 0 || i % region >= 12) bad[i]! ^= 0xff;
      for (const range of [{ offset: 0, count: 0 }, { offset: 300 }, { offset: 1000, count: 3 }]) {
        await expect(openRangedRead(data, policy, bad.length, fetcher(bad), { range })).rejects.toMatchObject({ code: "DECRYPTION_FAILED" });
      }
    });
  }

  it("unwraps the key even when nothing is stored; a wrong key fails before any fetch", async () => {
    const { body, data } = await stored("2.0", 0);
    const log: string[] = [];
    const read = await openRangedRead(data, { keyEncryptionKey: kek }, body.length, fetcher(body, log));
    expect(read.contentLength).toBe(0);
    expect(await collectBytes(read.body)).toHaveLength(0);
    await expect(openRangedRead(data, { keyEncryptionKey: AesKeyWrapKey.generate("local:ranged") }, body.length, fetcher(body, log))).rejects.toMatchObject({ code: "DECRYPTION_FAILED" });
    await expect(openRangedRead(data, { keyEncryptionKey: AesKeyWrapKey.generate("local:other") }, body.length, fetcher(body, log))).rejects.toMatchObject({ code: "KID_MISMATCH" });
    expect(log.every((l) => l.startsWith("content"))).toBe(true);
  });

  it("1.0: the plaintext length comes from the last CBC blocks ('length' fetch) only when the range reaches the end", async () => {
    const { plain, body, data, policy } = await stored("1.0", 100);
    const log: string[] = [];
    const whole = await openRangedRead(data, policy, body.length, fetcher(body, log));
    expect((await collectBytes(whole.body)).equals(plain)).toBe(true);
    expect(log).toEqual([`length:${body.length - 32}+32`, `content:0+${body.length}`]);
    log.length = 0;
    const head = await openRangedRead(data, policy, body.length, fetcher(body, log), { range: { offset: 0, count: 10 } });
    expect(head.contentLength).toBe(10);
    expect(log.some((l) => l.startsWith("length"))).toBe(false);
    head.dispose();
  });

  it("a body shorter than planned ends with DECRYPTION_FAILED, never short plaintext", async () => {
    const { body, data, policy } = await stored("2.1", 300);
    const read = await openRangedRead(data, policy, body.length, (o, n, purpose) => (purpose === "content" ? [body.subarray(o, o + 92)] : fetcher(body)(o, n, purpose)));
    await expect(collectBytes(read.body)).rejects.toMatchObject({ code: "DECRYPTION_FAILED" });
  });
});
