// Class "non-regular inputs" (issue 14): FIFOs, /dev/stdin and pipes are read as streams to their end, never
// judged by their `stat` size (which is 0 for them). The real azcse process is spawned so its stdin can be a pipe.
import { randomBytes } from "node:crypto";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QueueClient } from "@azure/storage-queue";
import { startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { ClientSideEncryptionError } from "@azure-cse/core-envelope";
import { reportError } from "../src/framework.js";
import { azcse, buildCli, runCli } from "./security-helpers.js";

let cli: string;
let disposeCli: () => void;
let dir: string;
let key: string;
let fifoCount = 0;
const f = (n: string): string => path.join(dir, n);
const plain = randomBytes(5 * 1024 * 1024 + 123); // more than one 4 MiB region and more than a pipe buffer

beforeAll(async () => {
  ({ cli, dispose: disposeCli } = await buildCli());
  dir = mkdtempSync(path.join(tmpdir(), "azcse-sec-inputs-"));
  key = f("k.jwk");
  expect((await azcse("key", "generate", "--alg", "A256KW", "--kid", "in-key", "--out", key)).code).toBe(0);
  writeFileSync(f("plain.bin"), plain);
}, 60_000);
afterAll(() => {
  disposeCli?.();
  rmSync(dir, { recursive: true, force: true });
});

/** A FIFO fed with `data` by a separate `cat` process (so neither side blocks this test). */
function fifoWith(file: string): string {
  const fifo = f(`in-${++fifoCount}.fifo`);
  execFileSync("mkfifo", [fifo]);
  const writer = spawn("sh", ["-c", 'cat "$1" > "$2"', "sh", file, fifo], { stdio: "ignore" });
  writer.unref();
  return fifo;
}

describe("non-regular inputs are streamed, not sized by stat", () => {
  it("blob encrypt-file --in FIFO and --in /dev/stdin: exact sizes, and the ciphertext decrypts to the input", async () => {
    for (const [name, args, input] of [
      ["fifo", ["--in", fifoWith(f("plain.bin"))], undefined],
      ["stdin", ["--in", "/dev/stdin"], plain],
    ] as const) {
      const r = await runCli(cli, ["blob", "encrypt-file", ...args, "--out", f(`${name}.stored`), "--metadata-out", f(`${name}.meta.json`), "--key", key], { input });
      expect(r.code, r.err).toBe(0);
      expect(JSON.parse(r.out)).toMatchObject({ plaintextBytes: plain.length, storedBytes: plain.length + 2 * 28 });
      expect(readFileSync(f(`${name}.stored`)).length).toBe(plain.length + 2 * 28);
      const d = await azcse("blob", "decrypt-file", "--in", f(`${name}.stored`), "--metadata", f(`${name}.meta.json`), "--out", f(`${name}.plain`), "--key", key);
      expect(d.code, d.err).toBe(0);
      expect(readFileSync(f(`${name}.plain`)).equals(plain)).toBe(true);
    }
  });

  it("blob decrypt-file --in FIFO / /dev/stdin (whole and --offset/--count) and --metadata FIFO", async () => {
    const enc = await azcse("blob", "encrypt-file", "--in", f("plain.bin"), "--out", f("d.stored"), "--metadata-out", f("d.meta.json"), "--key", key);
    expect(enc.code).toBe(0);
    const stored = readFileSync(f("d.stored"));
    const whole = await runCli(cli, ["blob", "decrypt-file", "--in", fifoWith(f("d.stored")), "--metadata", fifoWith(f("d.meta.json")), "--out", f("d1.plain"), "--key", key]);
    expect(whole.code, whole.err).toBe(0);
    expect(readFileSync(f("d1.plain")).equals(plain)).toBe(true);
    const range = await runCli(cli, ["blob", "decrypt-file", "--in", "/dev/stdin", "--metadata", f("d.meta.json"), "--out", f("d2.plain"), "--key", key, "--offset", "4194000", "--count", "1000"], { input: stored });
    expect(range.code, range.err).toBe(0);
    expect(readFileSync(f("d2.plain")).equals(plain.subarray(4194000, 4195000))).toBe(true);
  });

  it('"-" is standard input, like /dev/stdin', async () => {
    const r = await runCli(cli, ["blob", "encrypt-file", "--in", "-", "--out", f("dash.stored"), "--metadata-out", f("dash.meta.json"), "--key", key], { input: plain });
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ plaintextBytes: plain.length });
    const d = await runCli(cli, ["blob", "decrypt-file", "--in", "-", "--metadata", f("dash.meta.json"), "--out", f("dash.plain"), "--key", key], { input: readFileSync(f("dash.stored")) });
    expect(d.code, d.err).toBe(0);
    expect(readFileSync(f("dash.plain")).equals(plain)).toBe(true);
  });

  it("a source that fails while it is read (SOURCE_ERROR) is the caller's input: exit 3 when it is gone, else 1, with its cause", () => {
    const io = { out: "", err: "" };
    const sink = { stdout: (s: string) => void (io.out += s), stderr: (s: string) => void (io.err += s) };
    const gone = new ClientSideEncryptionError("SOURCE_ERROR", "The data source failed.", { cause: Object.assign(new Error("ENOENT: no such file"), { code: "ENOENT" }) });
    expect(reportError(gone, sink)).toBe(3);
    const broken = new ClientSideEncryptionError("SOURCE_ERROR", "The data source failed.", { cause: Object.assign(new Error("EIO: i/o error"), { code: "EIO" }) });
    expect(reportError(broken, sink)).toBe(1);
    expect(io.err).toContain("SOURCE_ERROR: The data source failed. (EIO: i/o error)");
  });

  it("an empty pipe is an empty input (0 plaintext bytes), not a missing or sized file", async () => {
    const r = await runCli(cli, ["blob", "encrypt-file", "--in", "/dev/stdin", "--out", f("e.stored"), "--metadata-out", f("e.meta.json"), "--key", key], { input: Buffer.alloc(0) });
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ plaintextBytes: 0, storedBytes: 0 });
  });

  it("queue encrypt-message / decrypt-message and table encrypt-entity / decrypt-entity read FIFOs and stdin", async () => {
    const msg = randomBytes(40_000); // near the 48 KiB queue limit, over a 16 KiB read chunk
    writeFileSync(f("msg.bin"), msg);
    const e = await runCli(cli, ["queue", "encrypt-message", "--in", "/dev/stdin", "--out", f("msg.txt"), "--key", key], { input: msg });
    expect(e.code, e.err).toBe(0);
    const d = await runCli(cli, ["queue", "decrypt-message", "--in", fifoWith(f("msg.txt")), "--out", f("msg.out"), "--key", key]);
    expect(d.code, d.err).toBe(0);
    expect(readFileSync(f("msg.out")).equals(msg)).toBe(true);

    const entity = JSON.stringify({ PartitionKey: "p", RowKey: "r", Secret: "s3cret", Plain: 1 });
    const te = await runCli(cli, ["table", "encrypt-entity", "--in", "/dev/stdin", "--out", f("wire.json"), "--key", key, "--encrypt", "Secret"], { input: entity });
    expect(te.code, te.err).toBe(0);
    const td = await runCli(cli, ["table", "decrypt-entity", "--in", fifoWith(f("wire.json")), "--out", f("entity.out.json"), "--key", key]);
    expect(td.code, td.err).toBe(0);
    expect(JSON.parse(readFileSync(f("entity.out.json"), "utf8"))).toMatchObject({ PartitionKey: "p", RowKey: "r", Secret: "s3cret" });
  });

  describe("service commands (Azurite)", () => {
    let azurite: AzuriteHandle;
    beforeAll(async () => {
      azurite = await startAzurite();
    }, 120_000);
    afterAll(async () => {
      await azurite?.stop();
    });

    it("blob upload FILE=/dev/stdin or a FIFO uploads the whole stream; queue send --in /dev/stdin sends it all", async () => {
      const env = { AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString };
      const up = await runCli(cli, ["blob", "upload", "inputs", "from-stdin", "/dev/stdin", "--key", key, "--create-container"], { input: plain, env });
      expect(up.code, up.err).toBe(0);
      expect(JSON.parse(up.out)).toMatchObject({ plaintextBytes: plain.length });
      const up2 = await runCli(cli, ["blob", "upload", "inputs", "from-fifo", fifoWith(f("plain.bin")), "--key", key], { env });
      expect(up2.code, up2.err).toBe(0);
      for (const name of ["from-stdin", "from-fifo"]) {
        const down = await runCli(cli, ["blob", "download", "inputs", name, f(`${name}.out`), "--key", key], { env });
        expect(down.code, down.err).toBe(0);
        expect(readFileSync(f(`${name}.out`)).equals(plain)).toBe(true);
      }
      await new QueueClient(azurite.connectionString, "inputs").create();
      const q = await runCli(cli, ["queue", "send", "inputs", "--in", "/dev/stdin", "--key", key], { input: "piped message", env });
      expect(q.code, q.err).toBe(0);
      expect(JSON.parse(q.out)).toMatchObject({ plaintextBytes: "piped message".length });
      const rcv = await runCli(cli, ["queue", "receive", "inputs", "--key", key, "--out", f("q.out")], { env });
      expect(rcv.code, rcv.err).toBe(0);
      expect(readFileSync(f("q.out"), "utf8")).toBe("piped message");
    });
  });
});
