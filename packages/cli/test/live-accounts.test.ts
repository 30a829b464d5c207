// The CLI for real accounts, end to end through the real azcse process: Entra ID tokens from
// DefaultAzureCredential (its managed-identity source, pointed at a local token endpoint) accepted by Azurite in
// OAuth mode over HTTPS, and --key / --new-key as Key Vault key ids served by tools/local-keyvault through the
// real @azure/keyvault-keys client (versioned kid stored, unwrap by the stored kid through the caching resolver).
// The child trusts the test certificate through NODE_EXTRA_CA_CERTS; AZCSE_TEST_ONLY_KEYVAULT_LOOPBACK lets the
// loopback vault answer the bearer challenge for vault.azure.net.
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localCertificate, startLocalKeyVault, type LocalKeyVault } from "../../../tools/local-keyvault/index.mjs";
import { buildCli, runCli, type Run } from "./security-helpers.js";
import { startOAuthAzurite, startTokenServer, type OAuthAzurite, type TokenServer } from "./live-helpers.js";

let cli: { cli: string; dispose: () => void };
let kv: LocalKeyVault;
let azurite: OAuthAzurite;
let tokens: TokenServer;
let dir: string;
let env: NodeJS.ProcessEnv;
const f = (n: string): string => path.join(dir, n);

beforeAll(async () => {
  const certificate = localCertificate();
  [cli, kv, azurite, tokens] = await Promise.all([buildCli(), startLocalKeyVault({ certificate }), startOAuthAzurite(certificate), startTokenServer()]);
  dir = mkdtempSync(path.join(tmpdir(), "azcse-live-"));
  env = {
    ...tokens.env,
    NODE_EXTRA_CA_CERTS: kv.caFile,
    AZCSE_TEST_ONLY_KEYVAULT_LOOPBACK: "1",
    // Only the managed-identity source may answer: no connection string, no service principal from the environment.
    AZURE_STORAGE_CONNECTION_STRING: "",
    AZURE_CLIENT_ID: "",
    AZURE_TENANT_ID: "",
    AZURE_CLIENT_SECRET: "",
    AZURE_FEDERATED_TOKEN_FILE: "",
  };
  const r = await azcseRun("key", "generate", "--alg", "A256KW", "--kid", "local-kek", "--out", f("local.jwk"));
  expect(r.code, r.err).toBe(0);
}, 180_000);
afterAll(async () => {
  cli?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
  await Promise.all([kv?.stop(), azurite?.stop(), tokens?.stop()]);
});

function azcseRun(...args: string[]): Promise<Run> {
  return runCli(cli.cli, args, { env });
}

const json = (r: Run): Record<string, unknown> => JSON.parse(r.out) as Record<string, unknown>;

describe("Entra ID (DefaultAzureCredential) against Azurite in OAuth mode", () => {
  it("blob upload --create-container / inspect / download with --account-url https://…/ACCOUNT: a real token reaches Azurite and is accepted", async () => {
    const data = randomBytes(150_000);
    writeFileSync(f("p.bin"), data);
    const before = tokens.resources.length;
    const up = await azcseRun("blob", "upload", "oauth", "b1", f("p.bin"), "--key", f("local.jwk"), "--create-container", "--account-url", azurite.blobUrl);
    expect(up.code, up.err).toBe(0);
    expect(tokens.resources.slice(before)).toContain("https://storage.azure.com");
    const info = await azcseRun("blob", "inspect", "oauth", "b1", "--account-url", azurite.blobUrl);
    expect(info.code, info.err).toBe(0);
    expect(json(info)).toMatchObject({ encrypted: true, kid: "local-kek", plaintextLength: data.length });
    const down = await azcseRun("blob", "download", "oauth", "b1", f("b1.out"), "--key", f("local.jwk"), "--account-url", azurite.blobUrl);
    expect(down.code, down.err).toBe(0);
    expect(readFileSync(f("b1.out")).equals(data)).toBe(true);
  });

  it("Azurite checks the token: one for another audience is refused (exit 4), so the accepted one above was really checked", async () => {
    tokens.storageAudience = "https://management.azure.com";
    try {
      const r = await azcseRun("blob", "inspect", "oauth", "b1", "--account-url", azurite.blobUrl, "--max-tries", "1");
      expect(r.code).toBe(4);
      expect(r.err).toMatch(/SERVICE_ERROR: .*(401|403)/);
    } finally {
      tokens.storageAudience = "https://storage.azure.com";
    }
  });

  it("queue send --create-queue / receive and table put --create-table / get authenticate with the same credential (each with its service's endpoint URL)", async () => {
    const s = await azcseRun("queue", "send", "oauthq", "--text", "over Entra ID", "--key", f("local.jwk"), "--create-queue", "--account-url", azurite.queueUrl);
    expect(s.code, s.err).toBe(0);
    const r = await azcseRun("queue", "receive", "oauthq", "--key", f("local.jwk"), "--account-url", azurite.queueUrl);
    expect(r.code, r.err).toBe(0);
    expect(json(r).text).toBe("over Entra ID");
    writeFileSync(f("e.json"), JSON.stringify({ PartitionKey: "p", RowKey: "r", Secret: "s3cret" }));
    const put = await azcseRun("table", "put", "oauthtable", "--in", f("e.json"), "--key", f("local.jwk"), "--encrypt", "Secret", "--create-table", "--account-url", azurite.tableUrl);
    expect(put.code, put.err).toBe(0);
    const get = await azcseRun("table", "get", "oauthtable", "p", "r", "--key", f("local.jwk"), "--account-url", azurite.tableUrl);
    expect(get.code, get.err).toBe(0);
    expect(json(get)).toMatchObject({ Secret: "s3cret" });
  });
});

describe("--key as a Key Vault key id (local Key Vault, real @azure/keyvault-keys client)", () => {
  it("wraps in the vault and stores the versioned kid; reads unwrap by the stored kid; the key's rotation in the vault keeps old data readable", async () => {
    const v1 = kv.createKeyDirect("cli-kek");
    const versionless = kv.keyId("cli-kek");
    const data = randomBytes(40_000);
    writeFileSync(f("kv.bin"), data);
    kv.resetCounters();
    const up = await azcseRun("blob", "upload", "oauth", "kv1", f("kv.bin"), "--key", versionless, "--account-url", azurite.blobUrl);
    expect(up.code, up.err).toBe(0);
    expect(json(up).keyId).toBe(v1);
    expect(kv.count("wrapKey", { status: 200 }) + kv.count("getKey", { status: 200 })).toBeGreaterThanOrEqual(1);
    expect(tokens.resources).toContain("https://vault.azure.net");

    const v2 = kv.rotateKeyDirect("cli-kek");
    expect(v2).not.toBe(v1);
    kv.resetCounters();
    const down = await azcseRun("blob", "download", "oauth", "kv1", f("kv1.out"), "--key", versionless, "--account-url", azurite.blobUrl);
    expect(down.code, down.err).toBe(0);
    expect(readFileSync(f("kv1.out")).equals(data)).toBe(true);
    // The unwrap went to the version that wrapped (the stored kid), not to the current one.
    expect(kv.requests.filter((q) => q.route === "unwrapKey" && q.status === 200).map((q) => q.version)).toEqual([v1.split("/").at(-1)]);
    const up2 = await azcseRun("blob", "upload", "oauth", "kv2", f("kv.bin"), "--key", versionless, "--account-url", azurite.blobUrl);
    expect(json(up2).keyId).toBe(v2);
  });

  it("rotation from a local key to a vault key: blob rotate-key --key FILE --new-key VAULT-ID; --key repeats and mixes files and vault keys", async () => {
    const vaultKey = kv.keyId("rot-kek");
    const v1 = kv.createKeyDirect("rot-kek");
    const data = randomBytes(10_000);
    writeFileSync(f("rot.bin"), data);
    expect((await azcseRun("blob", "upload", "oauth", "rot", f("rot.bin"), "--key", f("local.jwk"), "--account-url", azurite.blobUrl)).code).toBe(0);
    expect((await azcseRun("blob", "upload", "oauth", "stay-local", f("rot.bin"), "--key", f("local.jwk"), "--account-url", azurite.blobUrl)).code).toBe(0);
    const rot = await azcseRun("blob", "rotate-key", "oauth", "rot", "--key", f("local.jwk"), "--new-key", vaultKey, "--account-url", azurite.blobUrl);
    expect(rot.code, rot.err).toBe(0);
    expect(json(rot)).toMatchObject({ previousKeyId: "local-kek", keyId: v1 });
    // Only the vault key now: the rotated blob opens, the local one does not (its kid is not offered).
    const onlyVault = await azcseRun("blob", "download", "oauth", "rot", f("rot.out"), "--key", vaultKey, "--account-url", azurite.blobUrl);
    expect(onlyVault.code, onlyVault.err).toBe(0);
    expect(readFileSync(f("rot.out")).equals(data)).toBe(true);
    const wrongKey = await azcseRun("blob", "download", "oauth", "stay-local", f("nope.out"), "--key", vaultKey, "--account-url", azurite.blobUrl);
    expect(wrongKey.code).toBe(2);
    expect(wrongKey.err).toContain("KEY_NOT_FOUND");
    // Mixed: both blobs open with a file and a vault key given together (in either order).
    for (const [blob, keys] of [["rot", [f("local.jwk"), vaultKey]], ["stay-local", [vaultKey, f("local.jwk")]]] as const) {
      const r = await azcseRun("blob", "download", "oauth", blob, f(`${blob}.mixed`), "--key", keys[0], "--key", keys[1], "--account-url", azurite.blobUrl);
      expect(r.code, r.err).toBe(0);
      expect(readFileSync(f(`${blob}.mixed`)).equals(data)).toBe(true);
    }
  });

  it("offline and queue/table commands take vault keys too; a stored kid of another vault key is not sent to the vault", async () => {
    const key = kv.keyId("offline-kek");
    kv.createKeyDirect("offline-kek");
    writeFileSync(f("plain.txt"), "offline with a vault key");
    const enc = await azcseRun("blob", "encrypt-file", "--in", f("plain.txt"), "--out", f("s.bin"), "--metadata-out", f("s.meta"), "--key", key);
    expect(enc.code, enc.err).toBe(0);
    const dec = await azcseRun("blob", "decrypt-file", "--in", f("s.bin"), "--metadata", f("s.meta"), "--out", f("s.plain"), "--key", f("local.jwk"), "--key", key);
    expect(dec.code, dec.err).toBe(0);
    expect(readFileSync(f("s.plain"), "utf8")).toBe("offline with a vault key");
    kv.createKeyDirect("other-kek");
    kv.resetCounters();
    const other = await azcseRun("blob", "decrypt-file", "--in", f("s.bin"), "--metadata", f("s.meta"), "--out", f("s2.plain"), "--key", kv.keyId("other-kek"));
    expect(other.code).toBe(2);
    expect(other.err).toContain("KEY_NOT_FOUND");
    expect(kv.count("unwrapKey")).toBe(0);

    const s = await azcseRun("queue", "send", "oauthq", "--text", "vault message", "--key", key, "--account-url", azurite.queueUrl);
    expect(s.code, s.err).toBe(0);
    const r = await azcseRun("queue", "receive", "oauthq", "--key", key, "--account-url", azurite.queueUrl);
    expect(json(r).text).toBe("vault message");
    writeFileSync(f("ek.json"), JSON.stringify({ PartitionKey: "p", RowKey: "vault", Secret: "vs" }));
    expect((await azcseRun("table", "put", "oauthtable", "--in", f("ek.json"), "--key", key, "--encrypt", "Secret", "--account-url", azurite.tableUrl)).code).toBe(0);
    const get = await azcseRun("table", "get", "oauthtable", "p", "vault", "--key", key, "--account-url", azurite.tableUrl);
    expect(json(get)).toMatchObject({ Secret: "vs" });
  });

  it("bulk rotate-key pins a versionless --new-key to its current version; a versionless old vault key is a usage error", async () => {
    const v1 = kv.createKeyDirect("bulk-kek");
    writeFileSync(f("bulk.bin"), "bulk");
    for (const b of ["x1", "x2"]) expect((await azcseRun("blob", "upload", "bulkc", b, f("bulk.bin"), "--key", f("local.jwk"), "--create-container", "--account-url", azurite.blobUrl)).code).toBe(0);
    const r = await azcseRun("rotate-key", "bulkc", "--key", f("local.jwk"), "--new-key", kv.keyId("bulk-kek"), "--verify", "--progress", "none", "--account-url", azurite.blobUrl);
    expect(r.code, r.err).toBe(0);
    const report = json(r) as { totals: { done: number }; settings: { newKeyId: string } };
    expect(report.totals.done).toBe(2);
    expect(report.settings.newKeyId).toBe(v1);
    // A second run finds everything current (the pinned kid equals the stored one).
    const again = await azcseRun("rotate-key", "bulkc", "--key", f("local.jwk"), "--new-key", kv.keyId("bulk-kek"), "--progress", "none", "--account-url", azurite.blobUrl);
    expect((json(again) as { totals: { done: number; skipped: number } }).totals).toMatchObject({ done: 0, skipped: 2 });
    const bad = await azcseRun("rotate-key", "bulkc", "--key", kv.keyId("bulk-kek"), "--new-key", f("local.jwk"), "--account-url", azurite.blobUrl);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain("versioned Key Vault key id");
  });

  it("a --key URL that is not a Key Vault key id is exit 1 naming the flag, before any request", async () => {
    for (const bad of ["https://vault.example/secrets/x", "http://127.0.0.1:1/keys/x", "https://v.vault.azure.net/keys/a/b/c"]) {
      const r = await azcseRun("blob", "encrypt-file", "--in", f("plain.txt"), "--out", f("never.bin"), "--metadata-out", f("never.meta"), "--key", bad);
      expect(r.code, bad).toBe(1);
      expect(r.err).toMatch(/^azcse: --key: .* is not a Key Vault key id/);
    }
  });
});
