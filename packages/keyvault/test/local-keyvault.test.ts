// The local Key Vault speaks the REST contract the real @azure/keyvault-keys client uses.
import { execFile } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CryptographyClient, KeyClient } from "@azure/keyvault-keys";
import { startLocalKeyVault, type LocalKeyVault } from "../../../tools/local-keyvault/index.mjs";

let kv: LocalKeyVault;
let keys: KeyClient;
beforeAll(async () => {
  kv = await startLocalKeyVault();
  keys = new KeyClient(kv.vaultUrl, kv.credential, kv.clientOptions);
});
afterAll(async () => {
  await kv?.stop();
});

function raw(method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; headers: Record<string, unknown>; json: { error?: { code?: string; message?: string } } }> {
  return new Promise((resolve, reject) => {
    const req = request(`${kv.vaultUrl}${path}`, { method, headers, ca: kv.ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, json: JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("local Key Vault: REST contract", () => {
  it("answers an unauthenticated request with 401 and a bearer challenge naming authorization and resource", async () => {
    const r = await raw("GET", "/keys/anything?api-version=7.6");
    expect(r.status).toBe(401);
    expect(String(r.headers["www-authenticate"])).toMatch(/^Bearer authorization="https:\/\/login\.microsoftonline\.com\/[^"]+", resource="https:\/\/vault\.azure\.net"$/);
  });

  it("requires a known api-version on authenticated requests", async () => {
    const auth = { authorization: "Bearer local-keyvault-test-token" };
    expect((await raw("GET", "/keys/anything", auth)).json.error?.message).toMatch(/api-version/);
    expect((await raw("GET", "/keys/anything?api-version=1.0", auth)).status).toBe(400);
    expect((await raw("GET", "/keys/anything?api-version=7.4", auth)).status).toBe(404);
  });

  it("rejects an unknown bearer token with 401", async () => {
    const r = await raw("GET", "/keys/anything?api-version=7.6", { authorization: "Bearer wrong" });
    expect(r.status).toBe(401);
  });

  it("creates, gets (versioned and versionless) and rotates keys through the real KeyClient, with the challenge flow", async () => {
    const created = await keys.createRsaKey("contract-rsa", { keySize: 2048 });
    expect(created.id).toMatch(new RegExp(`^${kv.vaultUrl}/keys/contract-rsa/[0-9a-f]{32}$`));
    expect(created.key?.n?.length).toBe(256);
    const latest = await keys.getKey("contract-rsa");
    expect(latest.id).toBe(created.id);
    const rotated = await keys.rotateKey("contract-rsa");
    expect(rotated.properties.version).not.toBe(created.properties.version);
    expect((await keys.getKey("contract-rsa")).id).toBe(rotated.id);
    expect((await keys.getKey("contract-rsa", { version: created.properties.version! })).id).toBe(created.id);
    // A new version through create, too.
    const again = await keys.createKey("contract-rsa", "RSA");
    expect((await keys.getKey("contract-rsa")).id).toBe(again.id);
    expect(kv.count("createKey", { status: 401 }) + kv.count("getKey", { status: 401 })).toBeGreaterThanOrEqual(1);
  });

  it("imports an RSA JWK and unwraps what node:crypto wrapped with its public key (RSA-OAEP)", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const jwk = privateKey.export({ format: "jwk" });
    const b = (s: string | undefined) => Buffer.from(s!, "base64url");
    const imported = await keys.importKey("contract-imported", { kty: "RSA", n: b(jwk.n), e: b(jwk.e), d: b(jwk.d), p: b(jwk.p), q: b(jwk.q), dp: b(jwk.dp), dq: b(jwk.dq), qi: b(jwk.qi) });
    const { publicEncrypt, constants } = await import("node:crypto");
    const cek = randomBytes(40);
    const wrapped = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha1" }, cek);
    const crypto = new CryptographyClient(imported.id!, kv.credential, kv.clientOptions);
    const out = await crypto.unwrapKey("RSA-OAEP", wrapped);
    expect(Buffer.from(out.result).equals(cek)).toBe(true);
  });

  it("imports an oct key (Managed HSM style) that releases no key material on get", async () => {
    const imported = await keys.importKey("contract-oct", { kty: "oct-HSM", k: randomBytes(32) });
    expect(imported.keyType).toBe("oct-HSM");
    const got = await keys.getKey("contract-oct");
    expect(got.key?.k).toBeUndefined();
  });

  it("counts requests per route and injects faults N times per route", async () => {
    const kid = kv.createKeyDirect("contract-faults");
    const crypto = new CryptographyClient(kid, kv.credential, { ...kv.clientOptions, retryOptions: { maxRetries: 0 } });
    kv.resetCounters();
    kv.injectFault({ route: "getKey", status: 500, times: 1 });
    await expect(crypto.wrapKey("RSA-OAEP-256", randomBytes(32))).rejects.toMatchObject({ statusCode: 500 });
    const w = await crypto.wrapKey("RSA-OAEP-256", randomBytes(32));
    expect(w.keyID).toBe(kid);
    expect(kv.counters().getKey?.byStatus).toEqual({ 401: 1, 500: 1, 200: 1 });
    expect(kv.count("wrapKey", { status: 200 })).toBe(1);
  });

  it("the committed test-only certificate (fallback when openssl is missing) serves the real client", async () => {
    const dir = new URL("../../../tools/local-keyvault/test-cert/", import.meta.url);
    const committed = { cert: readFileSync(new URL("cert.pem", dir), "utf8"), key: readFileSync(new URL("key.pem", dir), "utf8") };
    const other = await startLocalKeyVault({ certificate: committed });
    try {
      const client = new KeyClient(other.vaultUrl, other.credential, other.clientOptions);
      expect((await client.createKey("fallback", "RSA")).id).toMatch(/\/keys\/fallback\/[0-9a-f]{32}$/);
    } finally {
      await other.stop();
    }
  });

  it("child processes trust the server through NODE_EXTRA_CA_CERTS=caFile, and not without it", async () => {
    const script = `require("https").get(process.argv[1] + "/keys/x?api-version=7.6", (r) => { console.log(r.statusCode); r.resume(); }).on("error", (e) => { console.log(e.code); });`;
    const run = (env: NodeJS.ProcessEnv) =>
      new Promise<string>((resolve, reject) => execFile(process.execPath, ["-e", script, kv.vaultUrl], { env, encoding: "utf8" }, (err, stdout) => (err ? reject(new Error(err.message)) : resolve(stdout.trim()))));
    const { NODE_EXTRA_CA_CERTS: _ignored, ...base } = process.env;
    expect(await run({ ...base, NODE_EXTRA_CA_CERTS: kv.caFile })).toBe("401");
    expect(await run(base)).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
  });
});
