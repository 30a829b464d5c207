// Class "allowedReadProtocols on every read path" (issue 14): `--allow-protocols` maps to the libraries'
// allowedReadProtocols on every read command (offline decrypt-file / decrypt-message / decrypt-entity, blob
// download / inspect / rotate-key, queue receive / peek, table get / query). A refused protocol is exit 2
// (UNSUPPORTED_PROTOCOL) with no output file; the default (no flag) reads every protocol, as before; bad values
// are exit 1 naming the flag.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QueueClient } from "@azure/storage-queue";
import { startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { azcse, snapshot } from "./security-helpers.js";

let azurite: AzuriteHandle;
let dir: string;
let key: string;
const f = (n: string): string => path.join(dir, n);
const STRICT = ["--allow-protocols", "2.0,2.1"];
const cs = (): string[] => ["--connection-string", azurite.connectionString];

beforeAll(async () => {
  azurite = await startAzurite();
  dir = mkdtempSync(path.join(tmpdir(), "azcse-sec-protocols-"));
  key = f("k.jwk");
  expect((await azcse("key", "generate", "--alg", "A256KW", "--kid", "proto-key", "--out", key)).code).toBe(0);
  writeFileSync(f("plain.bin"), "legacy plaintext ".repeat(100));
}, 120_000);
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await azurite?.stop();
});

function expectRefused(r: { code: number; err: string }, protocol = "1.0"): void {
  expect(r.code, r.err).toBe(2);
  expect(r.err).toContain("UNSUPPORTED_PROTOCOL");
  expect(r.err).toContain(`Protocol ${protocol}`);
}

describe("--allow-protocols on offline reads", () => {
  it("blob decrypt-file: a 1.0 file is refused with 2.0,2.1 (no output), read by default and with 1.0 listed", async () => {
    expect((await azcse("blob", "encrypt-file", "--in", f("plain.bin"), "--out", f("v1.stored"), "--metadata-out", f("v1.meta.json"), "--key", key, "--protocol", "1.0")).code).toBe(0);
    const before = snapshot(dir);
    expectRefused(await azcse("blob", "decrypt-file", "--in", f("v1.stored"), "--metadata", f("v1.meta.json"), "--out", f("v1.out"), "--key", key, ...STRICT));
    expect(snapshot(dir)).toEqual(before);
    for (const extra of [[], ["--allow-protocols", "1.0,2.0,2.1"], ["--allow-protocols", "1.0"]]) {
      rmSync(f("v1.out"), { force: true });
      const r = await azcse("blob", "decrypt-file", "--in", f("v1.stored"), "--metadata", f("v1.meta.json"), "--out", f("v1.out"), "--key", key, ...extra);
      expect(r.code, r.err).toBe(0);
      expect(readFileSync(f("v1.out")).equals(readFileSync(f("plain.bin")))).toBe(true);
    }
    // and the reverse: a 2.0 file under --allow-protocols 1.0
    expect((await azcse("blob", "encrypt-file", "--in", f("plain.bin"), "--out", f("v2.stored"), "--metadata-out", f("v2.meta.json"), "--key", key)).code).toBe(0);
    expectRefused(await azcse("blob", "decrypt-file", "--in", f("v2.stored"), "--metadata", f("v2.meta.json"), "--out", f("v2.out"), "--key", key, "--allow-protocols", "1.0"), "2.0");
    expect(existsSync(f("v2.out"))).toBe(false);
  });

  it("queue decrypt-message and table decrypt-entity honour it too", async () => {
    expect((await azcse("queue", "encrypt-message", "--in", f("plain.bin"), "--out", f("m1.txt"), "--key", key, "--protocol", "1.0")).code).toBe(0);
    expectRefused(await azcse("queue", "decrypt-message", "--in", f("m1.txt"), "--out", f("m1.out"), "--key", key, ...STRICT));
    expect(existsSync(f("m1.out"))).toBe(false);
    expect((await azcse("queue", "decrypt-message", "--in", f("m1.txt"), "--out", f("m1.out"), "--key", key)).code).toBe(0);

    writeFileSync(f("entity.json"), JSON.stringify({ PartitionKey: "p", RowKey: "r", Secret: "x" }));
    expect((await azcse("table", "encrypt-entity", "--in", f("entity.json"), "--out", f("wire.json"), "--key", key, "--encrypt", "Secret")).code).toBe(0);
    expectRefused(await azcse("table", "decrypt-entity", "--in", f("wire.json"), "--out", f("e.out.json"), "--key", key, ...STRICT));
    expect(existsSync(f("e.out.json"))).toBe(false);
    expect((await azcse("table", "decrypt-entity", "--in", f("wire.json"), "--out", f("e.out.json"), "--key", key, "--allow-protocols", "1.0")).code).toBe(0);
  });
});

describe("--allow-protocols on service reads (Azurite)", () => {
  it("blob download / inspect --key / rotate-key: a 1.0 blob is refused, nothing decrypted or written", async () => {
    expect((await azcse("blob", "upload", "proto", "v1", f("plain.bin"), "--key", key, "--protocol", "1.0", "--create-container", ...cs())).code).toBe(0);
    expectRefused(await azcse("blob", "download", "proto", "v1", f("b1.out"), "--key", key, ...STRICT, ...cs()));
    expect(existsSync(f("b1.out"))).toBe(false);
    const ok = await azcse("blob", "download", "proto", "v1", f("b1.out"), "--key", key, ...cs());
    expect(ok.code, ok.err).toBe(0);
    expect(readFileSync(f("b1.out")).equals(readFileSync(f("plain.bin")))).toBe(true);
    // inspect with --key computes the 1.0 plaintext length (a decryption) only when 1.0 is allowed
    const allowed = await azcse("blob", "inspect", "proto", "v1", "--key", key, ...cs());
    expect(JSON.parse(allowed.out).plaintextLength).toBe(readFileSync(f("plain.bin")).length);
    const strict = await azcse("blob", "inspect", "proto", "v1", "--key", key, ...STRICT, ...cs());
    expect(strict.code, strict.err).toBe(0);
    expect(JSON.parse(strict.out)).toMatchObject({ protocol: "1.0", plaintextLength: null });
    expect((await azcse("key", "generate", "--alg", "A256KW", "--kid", "proto-key-2", "--out", f("k2.jwk"))).code).toBe(0);
    expectRefused(await azcse("blob", "rotate-key", "proto", "v1", "--key", key, "--new-key", f("k2.jwk"), ...STRICT, ...cs()));
  });

  it("queue receive and --peek: a 1.0 message is a per-message UNSUPPORTED_PROTOCOL failure (exit 2) and stays queued", async () => {
    await new QueueClient(azurite.connectionString, "proto").create();
    expect((await azcse("queue", "send", "proto", "--text", "legacy", "--key", key, "--protocol", "1.0", ...cs())).code).toBe(0);
    expectRefused(await azcse("queue", "receive", "proto", "--key", key, "--peek", ...STRICT, ...cs()));
    const peek = await azcse("queue", "receive", "proto", "--key", key, "--peek", ...cs());
    expect(peek.code, peek.err).toBe(0);
    expect(JSON.parse(peek.out).text).toBe("legacy");
    const rcv = await azcse("queue", "receive", "proto", "--key", key, "--out", f("q.out"), ...STRICT, ...cs());
    expectRefused(rcv);
    expect(existsSync(f("q.out"))).toBe(false);
    // not deleted: still counted by the service (invisible until its visibility timeout ends)
    expect((await new QueueClient(azurite.connectionString, "proto").getProperties()).approximateMessagesCount).toBe(1);
  });

  it("table get (with --out) and query: entities (always 1.0) are refused under 2.0,2.1, read with 1.0 allowed", async () => {
    writeFileSync(f("entity.json"), JSON.stringify({ PartitionKey: "p", RowKey: "r", Secret: "x" }));
    expect((await azcse("table", "put", "proto", "--in", f("entity.json"), "--key", key, "--encrypt", "Secret", "--create-table", ...cs())).code).toBe(0);
    expectRefused(await azcse("table", "get", "proto", "p", "r", "--key", key, "--out", f("t.out"), ...STRICT, ...cs()));
    expect(existsSync(f("t.out"))).toBe(false);
    expectRefused(await azcse("table", "query", "proto", "--key", key, ...STRICT, ...cs()));
    const ok = await azcse("table", "get", "proto", "p", "r", "--key", key, "--allow-protocols", "1.0", ...cs());
    expect(ok.code, ok.err).toBe(0);
    expect(JSON.parse(ok.out).Secret).toBe("x");
    expect((await azcse("table", "query", "proto", "--key", key, ...cs())).code).toBe(0);
  });
});

describe("--allow-protocols: bad values are usage errors naming the flag", () => {
  for (const bad of ["", ",", "2.0,", "3.0", "2", "2.0;2.1", "v2.0", "1.0,,2.0", "all"]) {
    it(`--allow-protocols ${JSON.stringify(bad)} → exit 1`, async () => {
      for (const argv of [
        ["blob", "decrypt-file", "--in", f("v1.stored"), "--metadata", f("v1.meta.json"), "--out", f("never.out"), "--key", key],
        ["blob", "download", "proto", "v1", f("never.out"), "--key", key, ...cs()],
        ["queue", "receive", "proto", "--key", key, "--peek", ...cs()],
        ["table", "get", "proto", "p", "r", "--key", key, ...cs()],
      ]) {
        const r = await azcse(...argv, "--allow-protocols", bad);
        expect(r.code, r.err).toBe(1);
        expect(r.err).toContain("--allow-protocols");
      }
      expect(existsSync(f("never.out"))).toBe(false);
    });
  }
});
