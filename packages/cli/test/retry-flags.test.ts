// --max-tries / --retry-delay-ms on every live command: the SDK's request retries, checked through the fault
// proxy (the first matching request of a command is answered 503; the SDK retries unless --max-tries 1).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlobServiceClient } from "@azure/storage-blob";
import { QueueClient } from "@azure/storage-queue";
import { TableClient } from "@azure/data-tables";
import { startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { proxiedConnectionString, startFaultProxy, type FaultProxy } from "../../../tools/fault-proxy/index.mjs";
import { azcse } from "./ops-helpers.js";

let azurite: AzuriteHandle;
let proxies: FaultProxy[] = [];
let cs: string; // blob, queue and table endpoints all through their proxies
let dir: string;
const f = (n: string): string => path.join(dir, n);

/** The next request of `method` through `proxy` is answered 503 (once); returns how many such requests came. */
function failNext(proxy: FaultProxy, method: string): () => number {
  let seen = 0;
  proxy.setFaults({ status503: 1, match: (r) => r.method === method && ++seen === 1 });
  return () => seen;
}

beforeAll(async () => {
  azurite = await startAzurite();
  const [blobP, queueP, tableP] = await Promise.all([
    startFaultProxy({ target: azurite.blobUrl, seed: 1 }),
    startFaultProxy({ target: azurite.queueUrl, seed: 2 }),
    startFaultProxy({ target: azurite.tableUrl, seed: 3 }),
  ]);
  proxies = [blobP, queueP, tableP];
  cs = proxiedConnectionString(proxiedConnectionString(proxiedConnectionString(azurite.connectionString, "blob", blobP.url), "queue", queueP.url), "table", tableP.url);
  await BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient("retry").create();
  await new QueueClient(azurite.connectionString, "retry").create();
  await TableClient.fromConnectionString(azurite.connectionString, "retry", { allowInsecureConnection: true }).createTable();
  dir = mkdtempSync(path.join(tmpdir(), "azcse-cli-retry-"));
  expect((await azcse("key", "generate", "--alg", "A256KW", "--kid", "retry-key", "--out", f("k.jwk"))).code).toBe(0);
  writeFileSync(f("plain.bin"), Buffer.alloc(300_000, 7));
  writeFileSync(f("entity.json"), JSON.stringify({ PartitionKey: "p", RowKey: "r", Secret: "s3cret" }));
});
afterAll(async () => {
  for (const p of proxies) await p.stop();
  rmSync(dir, { recursive: true, force: true });
  await azurite?.stop();
});

describe("azcse --max-tries / --retry-delay-ms", () => {
  it("blob upload: a 503 is retried by default; with --max-tries 1 it is exit 4 and nothing is written", async () => {
    const [blobP] = proxies;
    let seen = failNext(blobP!, "PUT");
    const ok = await azcse("blob", "upload", "retry", "a", f("plain.bin"), "--key", f("k.jwk"), "--connection-string", cs, "--retry-delay-ms", "5");
    expect(ok.code, ok.err).toBe(0);
    expect(seen()).toBe(2);
    seen = failNext(blobP!, "PUT");
    const fail = await azcse("blob", "upload", "retry", "b", f("plain.bin"), "--key", f("k.jwk"), "--connection-string", cs, "--max-tries", "1");
    expect(fail.code).toBe(4);
    expect(fail.err).toMatch(/SERVICE_ERROR/);
    expect(seen()).toBe(1);
    expect(await BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient("retry").getBlobClient("b").exists()).toBe(false);
    blobP!.setFaults({});
  });

  it("queue send and table get honour the same flags", async () => {
    const [, queueP, tableP] = proxies;
    let seen = failNext(queueP!, "POST");
    expect((await azcse("queue", "send", "retry", "--text", "hello", "--key", f("k.jwk"), "--connection-string", cs, "--max-tries", "1")).code).toBe(4);
    expect(seen()).toBe(1);
    seen = failNext(queueP!, "POST");
    expect((await azcse("queue", "send", "retry", "--text", "hello", "--key", f("k.jwk"), "--connection-string", cs, "--retry-delay-ms", "5")).code).toBe(0);
    expect(seen()).toBe(2);
    queueP!.setFaults({});

    expect((await azcse("table", "put", "retry", "--in", f("entity.json"), "--key", f("k.jwk"), "--encrypt", "Secret", "--connection-string", cs)).code).toBe(0);
    seen = failNext(tableP!, "GET");
    expect((await azcse("table", "get", "retry", "p", "r", "--key", f("k.jwk"), "--connection-string", cs, "--max-tries", "1")).code).toBe(4);
    expect(seen()).toBe(1);
    seen = failNext(tableP!, "GET");
    const got = await azcse("table", "get", "retry", "p", "r", "--key", f("k.jwk"), "--connection-string", cs, "--max-tries", "3", "--retry-delay-ms", "5");
    expect(got.code, got.err).toBe(0);
    expect(JSON.parse(got.out).Secret).toBe("s3cret");
    expect(seen()).toBe(2);
    tableP!.setFaults({});
  });

  it("bad values are usage errors (exit 1)", async () => {
    for (const [flag, value] of [["--max-tries", "0"], ["--max-tries", "51"], ["--max-tries", "x"], ["--retry-delay-ms", "-1"], ["--retry-delay-ms", "600001"]] as const) {
      const r = await azcse("blob", "inspect", "retry", "a", "--connection-string", cs, flag, value);
      expect(r.code, `${flag} ${value}: ${r.err}`).toBe(1);
    }
  });
});
