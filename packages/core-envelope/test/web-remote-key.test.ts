// RemoteKeyEncryptionKey (@azure-cse/core-envelope/web): the wire format (Key Vault's wrapkey/unwrapkey shape,
// base64url values), how backend answers map to typed errors (422 → the one DECRYPTION_FAILED; anything else →
// KEY_OPERATION_FAILED with the status only), response validation, headers and aborts. The real round trip
// through the reference backend runs in Chromium (examples/browser).
import { describe, expect, it } from "vitest";
import { AesKeyWrapKey, DECRYPTION_FAILED_MESSAGE } from "@azure-cse/core-envelope";
import { RemoteKeyEncryptionKey, createWebContentEncryption, collectWebBytes, decryptWebRange, parseEncryptionData, type FetchLike } from "../src/web/index.js";
import { expectCode, expectNoSecrets, patternBytes } from "./helpers.js";

interface Call {
  url: string;
  headers: Record<string, string>;
  body: { alg: string; value: string };
  signal?: unknown;
  credentials?: string;
}

/** A backend in a function: wraps with a local key, or answers with the given status/body. */
function backend(key: AesKeyWrapKey, override?: (op: string) => { status: number; body?: unknown } | undefined) {
  const calls: Call[] = [];
  const fetch: FetchLike = async (url, init) => {
    const body = JSON.parse(init.body) as Call["body"];
    calls.push({ url, headers: init.headers, body, signal: init.signal, credentials: init.credentials });
    const op = url.endsWith("/wrapkey") ? "wrapkey" : "unwrapkey";
    const o = override?.(op);
    const reply = (status: number, json?: unknown) => ({ status, ok: status >= 200 && status < 300, json: () => (json === undefined ? Promise.reject(new Error("no json")) : Promise.resolve(json)) });
    if (o) return reply(o.status, o.body);
    try {
      const value = Buffer.from(body.value, "base64url");
      if (op === "wrapkey") {
        const r = await key.wrapKey(body.alg, value);
        return reply(200, { kid: `${r.keyId}/v1`, value: Buffer.from(r.encryptedKey).toString("base64url") });
      }
      return reply(200, { value: Buffer.from(await key.unwrapKey(body.alg, value)).toString("base64url") });
    } catch {
      return reply(422, { error: "cannot unwrap" });
    }
  };
  return { fetch, calls };
}

const local = new AesKeyWrapKey("kv:key", patternBytes(32, 77));

describe("RemoteKeyEncryptionKey wire format and round trip", () => {
  it("wraps and unwraps through the backend: POST {base}/wrapkey|unwrapkey, JSON {alg, value: base64url}, headers per request, same-origin cookies; the returned kid is stored", async () => {
    const b = backend(local);
    let n = 0;
    const remote = new RemoteKeyEncryptionKey({ keyId: "kv:key/v1", baseUrl: "https://app.example/api/kek/", defaultWrapAlgorithm: "A256KW", fetch: b.fetch, headers: () => ({ "x-csrf": `t${++n}` }) });
    const ce = await createWebContentEncryption({ keyEncryptionKey: remote });
    const body = await collectWebBytes(ce.encrypt(patternBytes(1000, 1)));
    expect(ce.encryptionData.wrappedContentKey.keyId).toBe("kv:key/v1");
    const out = await collectWebBytes(await decryptWebRange(parseEncryptionData(ce.toJson(true)), { keyEncryptionKey: remote }, body.length, () => [body]));
    expect(Buffer.from(out).equals(patternBytes(1000, 1))).toBe(true);
    expect(b.calls.map((c) => c.url)).toEqual(["https://app.example/api/kek/wrapkey", "https://app.example/api/kek/unwrapkey"]);
    expect(b.calls.map((c) => c.headers)).toEqual([
      { "x-csrf": "t1", "content-type": "application/json" },
      { "x-csrf": "t2", "content-type": "application/json" },
    ]);
    expect(b.calls[0]!.body.alg).toBe("A256KW");
    expect(b.calls[0]!.body.value).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(Buffer.from(b.calls[0]!.body.value, "base64url").length).toBe(40); // "2.0" prefix + CEK
    expect(b.calls.every((c) => c.credentials === "same-origin")).toBe(true);
  });
});

describe("RemoteKeyEncryptionKey error mapping", () => {
  const wrapped = patternBytes(40, 3);
  it("unwrap refused as undecryptable (422), or a 200 without a usable value: the one DECRYPTION_FAILED", async () => {
    for (const o of [{ status: 422, body: { error: "x" } }, { status: 200, body: { value: "not base64url!" } }, { status: 200, body: {} }]) {
      const remote = new RemoteKeyEncryptionKey({ keyId: "k", baseUrl: "/kek", fetch: backend(local, () => o).fetch });
      const e = await expectCode(() => remote.unwrapKey("A256KW", wrapped), "DECRYPTION_FAILED");
      expect(e.message).toBe(DECRYPTION_FAILED_MESSAGE);
    }
  });
  it("401, 403, 500, 503, a non-JSON body and an unreachable backend: KEY_OPERATION_FAILED with the status only, never the values", async () => {
    for (const status of [401, 403, 500, 503]) {
      const remote = new RemoteKeyEncryptionKey({ keyId: "k", baseUrl: "/kek", fetch: backend(local, () => ({ status, body: { secret: "backend detail" } })).fetch });
      const e1 = await expectCode(() => remote.wrapKey("A256KW", wrapped), "KEY_OPERATION_FAILED");
      const e2 = await expectCode(() => remote.unwrapKey("A256KW", wrapped), "KEY_OPERATION_FAILED");
      for (const e of [e1, e2]) {
        expect(e.details.status).toBe(status);
        expect(e.message).not.toContain("backend detail");
        expectNoSecrets(e, [wrapped]);
      }
    }
    const noJson = new RemoteKeyEncryptionKey({ keyId: "k", baseUrl: "/kek", fetch: backend(local, () => ({ status: 200 })).fetch });
    await expectCode(() => noJson.wrapKey("A256KW", wrapped), "KEY_OPERATION_FAILED");
    const down = new RemoteKeyEncryptionKey({ keyId: "k", baseUrl: "/kek", fetch: () => Promise.reject(new TypeError("Failed to fetch")) });
    const e = await expectCode(() => down.unwrapKey("A256KW", wrapped), "KEY_OPERATION_FAILED");
    expect(e.cause).toBeInstanceOf(TypeError);
  });
  it("a wrap response without a value or with a bad kid is KEY_OPERATION_FAILED; bad arguments are INVALID_ARGUMENT; an aborted signal is ABORTED and reaches fetch", async () => {
    for (const body of [{ kid: "k" }, { kid: 5, value: "AAAA" }, { value: "" }]) {
      const remote = new RemoteKeyEncryptionKey({ keyId: "k", baseUrl: "/kek", fetch: backend(local, () => ({ status: 200, body })).fetch });
      await expectCode(() => remote.wrapKey("A256KW", wrapped), "KEY_OPERATION_FAILED");
    }
    expect(() => new RemoteKeyEncryptionKey({ keyId: "", baseUrl: "/kek" })).toThrow(/key id/);
    expect(() => new RemoteKeyEncryptionKey({ keyId: "k", baseUrl: "" })).toThrow(/baseUrl/);
    const b = backend(local);
    const remote = new RemoteKeyEncryptionKey({ keyId: "k", baseUrl: "/kek", fetch: b.fetch });
    await expectCode(() => remote.wrapKey("A256KW", "text" as unknown as Uint8Array), "INVALID_ARGUMENT");
    const ac = new AbortController();
    ac.abort();
    await expectCode(() => remote.wrapKey("A256KW", wrapped, { abortSignal: ac.signal }), "ABORTED");
    const live = new AbortController();
    await remote.wrapKey("A256KW", wrapped, { abortSignal: live.signal });
    expect(b.calls.at(-1)!.signal).toBe(live.signal);
    expect(JSON.stringify(remote)).toBe('{"keyId":"k","algorithm":"RSA-OAEP-256","baseUrl":"/kek"}');
  });
});
