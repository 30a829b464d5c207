// --account-url / --sas against Azurite (path-style http URLs with an account SAS), the endpoint derivation, the
// NOT_FOUND messages that name the create flag, --overwrite and the single-transfer progress bar.
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccountSASPermissions, AccountSASResourceTypes, AccountSASServices, BlobServiceClient, generateAccountSASQueryParameters, StorageSharedKeyCredential } from "@azure/storage-blob";
import { startAzurite, type AzuriteHandle } from "../../../tools/testkit/index.mjs";
import { parseArgs } from "../src/framework.js";
import { serviceEndpoint, SERVICE_FLAGS } from "../src/account.js";
import { azcse } from "./security-helpers.js";

let azurite: AzuriteHandle;
let dir: string;
let sas: string;
const f = (n: string): string => path.join(dir, n);
let savedCs: string | undefined;

beforeAll(async () => {
  savedCs = process.env.AZURE_STORAGE_CONNECTION_STRING;
  // Nothing may fall back to a connection string: every command below names the account by URL.
  delete process.env.AZURE_STORAGE_CONNECTION_STRING;
  azurite = await startAzurite();
  sas = generateAccountSASQueryParameters(
    {
      expiresOn: new Date(Date.now() + 3600_000),
      permissions: AccountSASPermissions.parse("rwdlacup"),
      services: AccountSASServices.parse("bqt").toString(),
      resourceTypes: AccountSASResourceTypes.parse("sco").toString(),
    },
    new StorageSharedKeyCredential(azurite.accountName, azurite.accountKey),
  ).toString();
  dir = mkdtempSync(path.join(tmpdir(), "azcse-account-url-"));
  expect((await azcse("key", "generate", "--alg", "A256KW", "--kid", "url-key", "--out", f("k.jwk"))).code).toBe(0);
});
afterAll(async () => {
  if (savedCs !== undefined) process.env.AZURE_STORAGE_CONNECTION_STRING = savedCs;
  if (dir) rmSync(dir, { recursive: true, force: true });
  await azurite?.stop();
});

const endpoint = (service: "blob" | "queue" | "table", ...argv: string[]) => serviceEndpoint(parseArgs(argv, SERVICE_FLAGS), service);

describe("endpoint derivation from --account-url", () => {
  it("maps ACCOUNT.blob|queue|table.SUFFIX to the service the command needs, keeping the suffix and port", () => {
    for (const given of ["https://acct.blob.core.windows.net", "https://acct.queue.core.windows.net/", "https://acct.table.core.windows.net"]) {
      expect(endpoint("blob", "--account-url", given)).toEqual({ url: "https://acct.blob.core.windows.net", sas: undefined });
      expect(endpoint("queue", "--account-url", given).url).toBe("https://acct.queue.core.windows.net");
      expect(endpoint("table", "--account-url", given).url).toBe("https://acct.table.core.windows.net");
    }
    expect(endpoint("queue", "--account-url", "https://acct.blob.core.chinacloudapi.cn:8443").url).toBe("https://acct.queue.core.chinacloudapi.cn:8443");
    // A custom domain cannot be mapped: it is used as given.
    expect(endpoint("table", "--account-url", "https://files.example.com").url).toBe("https://files.example.com");
  });

  it("path-style (Azurite) URLs keep their account; Azurite's default ports follow the service", () => {
    expect(endpoint("queue", "--account-url", "http://127.0.0.1:10000/devstoreaccount1").url).toBe("http://127.0.0.1:10001/devstoreaccount1");
    expect(endpoint("table", "--account-url", "http://localhost:10001/devstoreaccount1/").url).toBe("http://localhost:10002/devstoreaccount1");
    expect(endpoint("table", "--account-url", "http://127.0.0.1:41234/acct").url).toBe("http://127.0.0.1:41234/acct");
  });

  it("takes the SAS from the URL or --sas (a leading ? is dropped), never both, and only a SAS with sig=", () => {
    expect(endpoint("blob", "--account-url", "https://a.blob.core.windows.net/?sv=2024-01-01&sig=abc")).toEqual({ url: "https://a.blob.core.windows.net", sas: "sv=2024-01-01&sig=abc" });
    expect(endpoint("queue", "--account-url", "https://a.blob.core.windows.net", "--sas", "?sv=1&sig=x").sas).toBe("sv=1&sig=x");
    expect(() => endpoint("blob", "--account-url", "https://a.blob.core.windows.net/?sv=1&sig=x", "--sas", "sv=1&sig=y")).toThrow(/either in --account-url or with --sas/);
    expect(() => endpoint("blob", "--account-url", "https://a.blob.core.windows.net", "--sas", "sv=1")).toThrow(/no sig=/);
    expect(() => endpoint("blob", "--account-url", "https://a.blob.core.windows.net/container")).toThrow(/names the account, not a container/);
    expect(() => endpoint("blob", "--account-url", "ftp://a.blob.core.windows.net")).toThrow(/https:\/\//);
    expect(() => endpoint("blob", "--account-url", "not a url")).toThrow(/not a URL/);
  });

  it("usage errors (exit 1) before any request: --sas alone, both account flags, an http URL without a SAS (tokens need https)", async () => {
    const base = ["blob", "inspect", "cxx", "b", "--connection-string", "UseDevelopmentStorage=true"];
    let r = await azcse("blob", "inspect", "cxx", "b", "--sas", "sv=1&sig=x");
    expect([r.code, r.err]).toEqual([1, "azcse: --sas needs --account-url\n"]);
    r = await azcse(...base, "--account-url", azurite.blobUrl);
    expect(r.code).toBe(1);
    expect(r.err).toContain("either --account-url or --connection-string");
    r = await azcse("blob", "inspect", "cxx", "b", "--account-url", azurite.blobUrl);
    expect(r.code).toBe(1);
    expect(r.err).toContain("Entra ID tokens are only sent over https://");
  });
});

describe("--account-url with a SAS against Azurite", () => {
  it("blob upload --create-container / inspect / download through a SAS URL (the blob endpoint as given)", async () => {
    const data = randomBytes(70_000);
    writeFileSync(f("p.bin"), data);
    const url = `${azurite.blobUrl}?${sas}`;
    const up = await azcse("blob", "upload", "sasc", "b1", f("p.bin"), "--key", f("k.jwk"), "--create-container", "--account-url", url);
    expect(up.code, up.err).toBe(0);
    expect(JSON.parse(up.out)).toMatchObject({ keyId: "url-key", plaintextBytes: data.length });
    const info = await azcse("blob", "inspect", "sasc", "b1", "--account-url", url);
    expect(JSON.parse(info.out)).toMatchObject({ encrypted: true, kid: "url-key", plaintextLength: data.length });
    const down = await azcse("blob", "download", "sasc", "b1", f("b1.out"), "--key", f("k.jwk"), "--account-url", azurite.blobUrl, "--sas", sas);
    expect(down.code, down.err).toBe(0);
    expect(readFileSync(f("b1.out")).equals(data)).toBe(true);
    // The blob really is where a client of the account sees it.
    expect(await BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient("sasc").getBlobClient("b1").exists()).toBe(true);
    // The SAS never appears in the output.
    expect(up.out + up.err + info.out + down.out + down.err).not.toContain(sas.slice(sas.indexOf("sig=")));
  });

  it("queue send --create-queue / receive and table put --create-table / get with --account-url of the queue / table endpoint + --sas", async () => {
    const s = await azcse("queue", "send", "sasq", "--text", "hello over SAS", "--key", f("k.jwk"), "--create-queue", "--account-url", azurite.queueUrl, "--sas", sas);
    expect(s.code, s.err).toBe(0);
    const r = await azcse("queue", "receive", "sasq", "--key", f("k.jwk"), "--account-url", `${azurite.queueUrl}?${sas}`);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out).text).toBe("hello over SAS");

    writeFileSync(f("e.json"), JSON.stringify({ PartitionKey: "p", RowKey: "r", Secret: "s3cret", Plain: "x" }));
    const put = await azcse("table", "put", "sastable", "--in", f("e.json"), "--key", f("k.jwk"), "--encrypt", "Secret", "--create-table", "--account-url", azurite.tableUrl, "--sas", sas);
    expect(put.code, put.err).toBe(0);
    const get = await azcse("table", "get", "sastable", "p", "r", "--key", f("k.jwk"), "--account-url", azurite.tableUrl, "--sas", sas);
    expect(get.code, get.err).toBe(0);
    expect(JSON.parse(get.out)).toMatchObject({ PartitionKey: "p", RowKey: "r", Secret: "s3cret", Plain: "x" });
  });

  it("a missing container / queue / table is exit 3 naming the flag that creates it", async () => {
    writeFileSync(f("small.bin"), "x");
    const b = await azcse("blob", "upload", "nocontainer", "b", f("small.bin"), "--key", f("k.jwk"), "--account-url", `${azurite.blobUrl}?${sas}`);
    expect(b.code).toBe(3);
    expect(b.err).toContain("--create-container");
    const q = await azcse("queue", "send", "noqueue", "--text", "x", "--key", f("k.jwk"), "--account-url", azurite.queueUrl, "--sas", sas);
    expect(q.code).toBe(3);
    expect(q.err).toContain("--create-queue");
    writeFileSync(f("e2.json"), JSON.stringify({ PartitionKey: "p", RowKey: "r", Secret: "s" }));
    const t = await azcse("table", "put", "notable", "--in", f("e2.json"), "--key", f("k.jwk"), "--encrypt", "Secret", "--account-url", azurite.tableUrl, "--sas", sas);
    expect(t.code).toBe(3);
    expect(t.err).toContain("--create-table");
  });
});

describe("outputs and progress of single transfers", () => {
  it("an existing output file is refused (exit 1, unchanged) without --overwrite, replaced with it", async () => {
    const data = randomBytes(5000);
    writeFileSync(f("o.bin"), data);
    const url = `${azurite.blobUrl}?${sas}`;
    expect((await azcse("blob", "upload", "sasc", "o", f("o.bin"), "--key", f("k.jwk"), "--create-container", "--account-url", url)).code).toBe(0);
    writeFileSync(f("existing"), "keep me");
    const refused = await azcse("blob", "download", "sasc", "o", f("existing"), "--key", f("k.jwk"), "--account-url", url);
    expect(refused.code).toBe(1);
    expect(refused.err).toBe(`azcse: FILE: ${f("existing")} already exists; pass --overwrite to replace it\n`);
    expect(readFileSync(f("existing"), "utf8")).toBe("keep me");
    const replaced = await azcse("blob", "download", "sasc", "o", f("existing"), "--key", f("k.jwk"), "--account-url", url, "--overwrite");
    expect(replaced.code, replaced.err).toBe(0);
    expect(readFileSync(f("existing")).equals(data)).toBe(true);
    // Offline writers too: --out and --metadata-out.
    writeFileSync(f("stored"), "old");
    const enc = await azcse("blob", "encrypt-file", "--in", f("o.bin"), "--out", f("stored"), "--metadata-out", f("meta.json"), "--key", f("k.jwk"));
    expect(enc.code).toBe(1);
    expect(enc.err).toContain("--out:");
    expect(enc.err).toContain("pass --overwrite");
    expect(existsSync(f("meta.json"))).toBe(false);
    expect((await azcse("blob", "encrypt-file", "--in", f("o.bin"), "--out", f("stored"), "--metadata-out", f("meta.json"), "--key", f("k.jwk"), "--overwrite")).code).toBe(0);
  });

  it("--progress bar draws a bar for blob upload and download ending at 100%; auto draws nothing off a terminal", async () => {
    const data = randomBytes(9 * 1024 * 1024 + 17);
    writeFileSync(f("big.bin"), data);
    const url = `${azurite.blobUrl}?${sas}`;
    const up = await azcse("blob", "upload", "sasc", "big", f("big.bin"), "--key", f("k.jwk"), "--account-url", url, "--progress", "bar");
    expect(up.code, up.err).toBe(0);
    const frames = up.err.split("\x1b[K").filter((s) => s.startsWith("\r["));
    expect(frames.length).toBeGreaterThanOrEqual(1);
    expect(frames.at(-1)).toMatch(/^\r\[#{24}\] 100% 9\.00 MiB\/9\.00 MiB/);
    expect(up.err.endsWith("\n")).toBe(true);
    const down = await azcse("blob", "download", "sasc", "big", f("big.out"), "--key", f("k.jwk"), "--account-url", url, "--progress", "bar");
    expect(down.code, down.err).toBe(0);
    const dframes = down.err.split("\x1b[K").filter((s) => s.startsWith("\r["));
    expect(dframes.at(-1)).toMatch(/^\r\[#{24}\] 100% 9\.00 MiB\/9\.00 MiB/);
    expect(readFileSync(f("big.out")).equals(data)).toBe(true);
    const quiet = await azcse("blob", "download", "sasc", "big", f("big2.out"), "--key", f("k.jwk"), "--account-url", url);
    expect([quiet.code, quiet.err]).toEqual([0, ""]);
    const bad = await azcse("blob", "download", "sasc", "big", f("big3.out"), "--key", f("k.jwk"), "--account-url", url, "--progress", "fancy");
    expect([bad.code, bad.err]).toEqual([1, "azcse: --progress must be auto, bar or none\n"]);
  });
});
