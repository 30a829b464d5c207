// Class "nothing left behind" (issue 14): SIGINT, SIGTERM or SIGHUP delivered to the real azcse process while it
// writes an output — plaintext (decrypt-file, blob download, queue receive --out, table get --out) or ciphertext
// (encrypt-file from a FIFO) — leaves no new directory entry at all, not even a hidden staging file, and the
// process exits with 128 + the signal number. Each case first proves the command really was mid-write (its
// staged file held bytes, or the service response it waits for was being held by a proxy).
import { randomBytes } from "node:crypto";
import { execFileSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { constants as osConstants, tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QueueClient } from "@azure/storage-queue";
import { TableClient } from "@azure/data-tables";
import { startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { azcse, buildCli, snapshot, spawnCli, stagedBytes, stagingEntries, stallProxy, waitFor, withEndpoint, type Run } from "./security-helpers.js";

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
const MiB = 1024 * 1024;

let cli: string;
let disposeCli: () => void;
let azurite: AzuriteHandle;
let dir: string;
let key: string;
const f = (n: string): string => path.join(dir, n);

beforeAll(async () => {
  ({ cli, dispose: disposeCli } = await buildCli());
  azurite = await startAzurite();
  dir = mkdtempSync(path.join(tmpdir(), "azcse-sec-signals-"));
  key = f("k.jwk");
  expect((await azcse("key", "generate", "--alg", "A256KW", "--kid", "sig-key", "--out", key)).code).toBe(0);
}, 120_000);
afterAll(async () => {
  disposeCli?.();
  rmSync(dir, { recursive: true, force: true });
  await azurite?.stop();
});

/** A fresh, empty output directory for one case. */
function outDir(name: string): string {
  const d = f(name);
  mkdirSync(d);
  return d;
}

async function expectCleanExit(run: Promise<Run>, sig: (typeof SIGNALS)[number], out: string, before: string[]): Promise<void> {
  const r = await run;
  expect(r.code, r.err).toBe(128 + osConstants.signals[sig]);
  expect(snapshot(out)).toEqual(before);
}

describe("signals during writes leave nothing behind", () => {
  let stored: string;
  let meta: string;
  beforeAll(async () => {
    // 16 MiB in 256-byte 2.1 regions: decrypting takes long enough to be interrupted mid-write.
    writeFileSync(f("big.bin"), randomBytes(16 * MiB));
    stored = f("big.stored");
    meta = f("big.meta.json");
    const r = await azcse("blob", "encrypt-file", "--in", f("big.bin"), "--out", stored, "--metadata-out", meta, "--key", key, "--protocol", "2.1", "--region-size", "256");
    expect(r.code, r.err).toBe(0);
  }, 120_000);

  for (const sig of SIGNALS) {
    it(`blob decrypt-file: ${sig} mid-write removes the staged plaintext, exit ${128 + osConstants.signals[sig]}`, async () => {
      const out = outDir(`decrypt-${sig}`);
      const before = snapshot(out);
      const s = spawnCli(cli, ["blob", "decrypt-file", "--in", stored, "--metadata", meta, "--out", path.join(out, "plain.bin"), "--key", key]);
      await waitFor(() => stagedBytes(out) > 0, "plaintext in the staging file");
      s.child.kill(sig);
      await expectCleanExit(s.done, sig, out, before);
    });
  }

  for (const sig of SIGNALS) {
    it(`blob encrypt-file from a FIFO: ${sig} mid-write leaves neither ciphertext nor metadata`, async () => {
      const out = outDir(`encrypt-${sig}`);
      const fifo = f(`in-${sig}.fifo`);
      execFileSync("mkfifo", [fifo]);
      const before = snapshot(out);
      const s = spawnCli(cli, ["blob", "encrypt-file", "--in", fifo, "--out", path.join(out, "s.bin"), "--metadata-out", path.join(out, "m.json"), "--key", key]);
      // The writer end blocks until azcse opens the FIFO; 5 MiB lets one 4 MiB region through, then the stream idles.
      const fd = openSync(fifo, "w");
      try {
        writeSync(fd, randomBytes(5 * MiB));
        await waitFor(() => stagedBytes(out) > 0, "ciphertext in the staging file");
        expect(stagingEntries(out)).toHaveLength(2);
        s.child.kill(sig);
        await expectCleanExit(s.done, sig, out, before);
      } finally {
        try {
          closeSync(fd);
        } catch {
          // reader gone
        }
      }
    });
  }
});

describe("signals while a stream input is still arriving leave nothing behind", () => {
  for (const sig of SIGNALS) {
    it(`blob decrypt-file --in FIFO: ${sig} while the ciphertext is being copied removes the scratch copy`, async () => {
      writeFileSync(f("fifo-src.bin"), randomBytes(3 * MiB));
      const enc = await azcse("blob", "encrypt-file", "--in", f("fifo-src.bin"), "--out", f("fifo.stored"), "--metadata-out", f("fifo.meta.json"), "--key", key, "--overwrite");
      expect(enc.code, enc.err).toBe(0);
      const out = outDir(`decrypt-fifo-${sig}`);
      const fifo = f(`dec-${sig}.fifo`);
      execFileSync("mkfifo", [fifo]);
      const before = snapshot(out);
      const s = spawnCli(cli, ["blob", "decrypt-file", "--in", fifo, "--metadata", f("fifo.meta.json"), "--out", path.join(out, "plain.bin"), "--key", key]);
      const fd = openSync(fifo, "w");
      try {
        writeSync(fd, readFileSync(f("fifo.stored")).subarray(0, 2 * MiB));
        const scratch = (): number => {
          for (const d of stagingEntries(out)) {
            try {
              return statSync(path.join(out, d, "scratch-input")).size;
            } catch {
              // not yet
            }
          }
          return 0;
        };
        await waitFor(() => scratch() > 0, "the scratch copy of the FIFO");
        s.child.kill(sig);
        await expectCleanExit(s.done, sig, out, before);
      } finally {
        try {
          closeSync(fd);
        } catch {
          // reader gone
        }
      }
    });
  }
});

describe("signals while waiting for the service leave nothing behind", () => {
  let blobCs: string;
  let queueCs: string;
  let tableCs: string;
  let closeProxies: () => Promise<void>;

  beforeAll(async () => {
    // blob: 12 MiB 2.0 (three regions); the proxy holds the GET body after 9 MiB (plaintext is being written).
    writeFileSync(f("twelve.bin"), randomBytes(12 * MiB));
    process.env.AZURE_STORAGE_CONNECTION_STRING = azurite.connectionString;
    try {
      const up = await azcse("blob", "upload", "sig", "twelve", f("twelve.bin"), "--key", key, "--create-container");
      expect(up.code, up.err).toBe(0);
      await new QueueClient(azurite.connectionString, "sigq").create();
      for (let i = 0; i < SIGNALS.length; i++) expect((await azcse("queue", "send", "sigq", "--text", `secret ${i}`, "--key", key)).code).toBe(0);
      await TableClient.fromConnectionString(azurite.connectionString, "sigtable", { allowInsecureConnection: true }).createTable();
      writeFileSync(f("entity.json"), JSON.stringify({ PartitionKey: "p", RowKey: "r", Secret: "plaintext value" }));
      const put = await azcse("table", "put", "sigtable", "--in", f("entity.json"), "--key", key, "--encrypt", "Secret");
      expect(put.code, put.err).toBe(0);
    } finally {
      delete process.env.AZURE_STORAGE_CONNECTION_STRING;
    }
    const blob = await stallProxy(azurite.blobUrl, (m, u) => (m === "GET" && /\/sig\/twelve(\?|$)/.test(u) && !u.includes("comp=") ? 9 * MiB : undefined));
    const queue = await stallProxy(azurite.queueUrl, (m, u) => (m === "GET" && u.includes("/sigq/messages") ? 0 : undefined));
    const table = await stallProxy(azurite.tableUrl, (m, u) => (m === "GET" && u.includes("sigtable(") ? 0 : undefined));
    blobCs = withEndpoint(azurite.connectionString, "blob", blob.url);
    queueCs = withEndpoint(azurite.connectionString, "queue", queue.url);
    tableCs = withEndpoint(azurite.connectionString, "table", table.url);
    closeProxies = async () => {
      await Promise.all([blob.close(), queue.close(), table.close()]);
    };
  }, 120_000);
  afterAll(async () => {
    await closeProxies?.();
  });

  for (const sig of SIGNALS) {
    it(`blob download: ${sig} with plaintext written and the body stalled removes the staged plaintext`, async () => {
      const out = outDir(`download-${sig}`);
      const before = snapshot(out);
      const s = spawnCli(cli, ["blob", "download", "sig", "twelve", path.join(out, "plain.bin"), "--key", key, "--connection-string", blobCs, "--max-tries", "1"]);
      await waitFor(() => stagedBytes(out) > 0, "plaintext in the staging file");
      s.child.kill(sig);
      await expectCleanExit(s.done, sig, out, before);
    });

    it(`queue receive --out: ${sig} while the response is held removes the staged output`, async () => {
      const out = outDir(`queue-${sig}`);
      const before = snapshot(out);
      const s = spawnCli(cli, ["queue", "receive", "sigq", "--key", key, "--out", path.join(out, "msg.bin"), "--connection-string", queueCs, "--max-tries", "1"]);
      await waitFor(() => stagingEntries(out).length === 1, "the staged --out");
      await new Promise((r) => setTimeout(r, 300)); // the receive request is now in flight and held
      s.child.kill(sig);
      await expectCleanExit(s.done, sig, out, before);
    });

    it(`table get --out: ${sig} while the response is held removes the staged output`, async () => {
      const out = outDir(`table-${sig}`);
      const before = snapshot(out);
      const s = spawnCli(cli, ["table", "get", "sigtable", "p", "r", "--key", key, "--out", path.join(out, "entity.json"), "--connection-string", tableCs, "--max-tries", "1"]);
      await waitFor(() => stagingEntries(out).length === 1, "the staged --out");
      await new Promise((r) => setTimeout(r, 300));
      s.child.kill(sig);
      await expectCleanExit(s.done, sig, out, before);
    });
  }

  it("the same commands without a signal still write their outputs (the proxies relay everything else)", async () => {
    const out = outDir("direct");
    const env = { AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString };
    const d = await spawnCli(cli, ["blob", "download", "sig", "twelve", path.join(out, "plain.bin"), "--key", key], { env }).done;
    expect(d.code, d.err).toBe(0);
    // (the held receives above dequeued their messages: they stay invisible for 30 s) — send a fresh one
    expect((await spawnCli(cli, ["queue", "send", "sigq", "--text", "direct", "--key", key], { env }).done).code).toBe(0);
    const q = await spawnCli(cli, ["queue", "receive", "sigq", "--key", key, "--out", path.join(out, "msg.bin")], { env }).done;
    expect(q.code, q.err).toBe(0);
    const t = await spawnCli(cli, ["table", "get", "sigtable", "p", "r", "--key", key, "--out", path.join(out, "entity.json")], { env }).done;
    expect(t.code, t.err).toBe(0);
    expect(snapshot(out)).toEqual(["entity.json", "msg.bin", "plain.bin"]);
  });
});
