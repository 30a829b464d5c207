// Throttling and transient faults on wrap/unwrap: what the Azure pipeline retries (429/503 with
// Retry-After, 408/5xx with backoff) plus our retry of a 429 without Retry-After, verified against
// injected faults. Delays here are the service's Retry-After, not performance measurements.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ClientSideEncryptionError } from "@azure-cse/core-envelope";
import { KeyVaultKeyEncryptionKey } from "@azure-cse/keyvault";
import { startLocalKeyVault, type LocalKeyVault } from "../../../tools/local-keyvault/index.mjs";

let kv: LocalKeyVault;
let kid: string;
let wrapped: Uint8Array;
const cek = randomBytes(40);
beforeAll(async () => {
  kv = await startLocalKeyVault();
  kid = kv.createKeyDirect("retry-key");
  wrapped = (await kek().wrapKey("RSA-OAEP-256", cek)).encryptedKey;
});
afterAll(async () => {
  await kv?.stop();
});
beforeEach(() => {
  kv.clearFaults();
});

function kek(retryOptions: { maxRetries?: number; retryDelayInMs?: number; maxRetryDelayInMs?: number } = { retryDelayInMs: 20, maxRetryDelayInMs: 100 }) {
  return new KeyVaultKeyEncryptionKey(kid, kv.credential, { clientOptions: { ...kv.clientOptions, retryOptions } });
}
/** A key whose first use (challenge + lookup) is already done, so counters see only the operation. */
async function warm(k: KeyVaultKeyEncryptionKey) {
  await k.unwrapKey("RSA-OAEP-256", wrapped);
  kv.resetCounters();
  return k;
}
const attempts = (route: "wrapKey" | "unwrapKey") => kv.requests.filter((r) => r.route === route && r.authenticated);

describe("Key Vault throttling and transient faults", () => {
  it("unwrap: 429 with Retry-After is retried after the advertised delay, then succeeds", async () => {
    const k = await warm(kek());
    kv.injectFault({ route: "unwrapKey", status: 429, times: 2, retryAfter: 1 });
    expect(Buffer.from(await k.unwrapKey("RSA-OAEP-256", wrapped)).equals(cek)).toBe(true);
    const a = attempts("unwrapKey");
    expect(a.map((r) => r.status)).toEqual([429, 429, 200]);
    expect(a[1]!.at - a[0]!.at).toBeGreaterThanOrEqual(950);
    expect(a[2]!.at - a[1]!.at).toBeGreaterThanOrEqual(950);
  });

  it("wrap: 429 with Retry-After is retried, then succeeds with the versioned kid", async () => {
    const k = await warm(kek());
    kv.injectFault({ route: "wrapKey", status: 429, times: 1, retryAfter: 0 });
    const w = await k.wrapKey("RSA-OAEP-256", cek);
    expect(w.keyId).toBe(kid);
    expect(attempts("wrapKey").map((r) => r.status)).toEqual([429, 200]);
  });

  for (const status of [500, 503]) {
    it(`unwrap and wrap: ${status} is retried with backoff, then succeeds`, async () => {
      const k = await warm(kek());
      kv.injectFault({ route: "unwrapKey", status, times: 2 });
      kv.injectFault({ route: "wrapKey", status, times: 2 });
      expect(Buffer.from(await k.unwrapKey("RSA-OAEP-256", wrapped)).equals(cek)).toBe(true);
      expect((await k.wrapKey("RSA-OAEP-256", cek)).keyId).toBe(kid);
      expect(attempts("unwrapKey").map((r) => r.status)).toEqual([status, status, 200]);
      expect(attempts("wrapKey").map((r) => r.status)).toEqual([status, status, 200]);
    });
  }

  it("a 429 without Retry-After (not retried by the Azure pipeline) is retried by the key, then succeeds", async () => {
    const k = await warm(kek());
    kv.injectFault({ route: "unwrapKey", status: 429, times: 2 });
    expect(Buffer.from(await k.unwrapKey("RSA-OAEP-256", wrapped)).equals(cek)).toBe(true);
    expect(attempts("unwrapKey").map((r) => r.status)).toEqual([429, 429, 200]);
  });

  it("throttling on the first use (key lookup) is retried too", async () => {
    kv.resetCounters();
    kv.injectFault({ route: "getKey", status: 429, times: 1, retryAfter: 0 });
    expect(Buffer.from(await kek().unwrapKey("RSA-OAEP-256", wrapped)).equals(cek)).toBe(true);
    expect(kv.requests.filter((r) => r.route === "getKey" && r.authenticated).map((r) => r.status)).toEqual([429, 200]);
  });

  it("when retries run out, the error is KEY_OPERATION_FAILED (THROTTLED) naming the kid, after maxRetries + 1 attempts", async () => {
    const k = await warm(kek({ maxRetries: 2, retryDelayInMs: 10 }));
    kv.injectFault({ route: "unwrapKey", status: 429, times: 10, retryAfter: 0 });
    const e = await k.unwrapKey("RSA-OAEP-256", wrapped).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(ClientSideEncryptionError.hasCode(e, "KEY_OPERATION_FAILED")).toBe(true);
    const err = e as ClientSideEncryptionError;
    expect(err.details).toMatchObject({ keyId: kid, statusCode: 429, reason: "THROTTLED" });
    expect(err.message).toContain(`"${kid}"`);
    expect(attempts("unwrapKey")).toHaveLength(3);
  });

  it("5xx that are not transient (501) are not retried", async () => {
    const k = await warm(kek());
    kv.injectFault({ route: "unwrapKey", status: 501, times: 1 });
    await expect(k.unwrapKey("RSA-OAEP-256", wrapped)).rejects.toMatchObject({ code: "KEY_OPERATION_FAILED", details: { statusCode: 501 } });
    expect(attempts("unwrapKey")).toHaveLength(1);
  });

  it("an abort during a Retry-After wait ends the operation with ABORTED", async () => {
    const k = await warm(kek());
    kv.injectFault({ route: "unwrapKey", status: 429, times: 5, retryAfter: 30 });
    const ac = new AbortController();
    const p = k.unwrapKey("RSA-OAEP-256", wrapped, { abortSignal: ac.signal });
    setTimeout(() => ac.abort(), 200);
    await expect(p).rejects.toMatchObject({ code: "ABORTED" });
    expect(attempts("unwrapKey")).toHaveLength(1);
  });

  it("a caller waiting behind a key's stalled first use can abort", async () => {
    const k = kek();
    kv.injectFault({ route: "getKey", status: 429, times: 5, retryAfter: 30 });
    const first = new AbortController();
    const second = new AbortController();
    const p1 = k.unwrapKey("RSA-OAEP-256", wrapped, { abortSignal: first.signal });
    const p2 = k.unwrapKey("RSA-OAEP-256", wrapped, { abortSignal: second.signal });
    setTimeout(() => second.abort(), 100);
    await expect(p2).rejects.toMatchObject({ code: "ABORTED" });
    first.abort();
    await expect(p1).rejects.toMatchObject({ code: "ABORTED" });
  });
});
