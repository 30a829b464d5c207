// Class "paired outputs" (issue 14): `blob encrypt-file` never leaves ciphertext without its metadata file or the
// reverse, whichever write fails; and class "nothing left behind" on every error path: a failed command leaves no
// new directory entry (no output, no hidden staging file) and an existing output keeps its previous content.
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StagedOutputs, uncommittedOutputCount } from "../src/files.js";
import { azcse, snapshot } from "./security-helpers.js";

let dir: string;
let key: string;
const f = (n: string): string => path.join(dir, n);
const plain = randomBytes(100_000);

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "azcse-sec-outputs-"));
  key = f("k.jwk");
  expect((await azcse("key", "generate", "--alg", "A256KW", "--kid", "out-key", "--out", key)).code).toBe(0);
  writeFileSync(f("plain.bin"), plain);
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function freshDir(name: string): string {
  const d = f(name);
  mkdirSync(d);
  return d;
}

/** A directory nobody (not even root) can create entries in: /sys for root, a 0555 directory otherwise. */
function unwritableDir(): string {
  if (process.getuid?.() === 0) return "/sys";
  const d = f("readonly");
  mkdirSync(d, { recursive: true });
  chmodSync(d, 0o555);
  return d;
}

describe("blob encrypt-file: ciphertext and metadata appear together or not at all", () => {
  const cases: Array<[string, (d: string) => { out: string; meta: string }, string]> = [
    ["--metadata-out is an existing directory", (d) => (mkdirSync(path.join(d, "meta.json")), { out: path.join(d, "s.bin"), meta: path.join(d, "meta.json") }), "--metadata-out"],
    ["--out is an existing directory", (d) => (mkdirSync(path.join(d, "s.bin")), { out: path.join(d, "s.bin"), meta: path.join(d, "meta.json") }), "--out"],
    ["--metadata-out is in a missing directory", (d) => ({ out: path.join(d, "s.bin"), meta: path.join(d, "missing", "meta.json") }), "--metadata-out"],
    ["--metadata-out has a file as its directory", (d) => (writeFileSync(path.join(d, "file"), "x"), { out: path.join(d, "s.bin"), meta: path.join(d, "file", "meta.json") }), "--metadata-out"],
    ["--metadata-out is in an unwritable directory", (d) => ({ out: path.join(d, "s.bin"), meta: path.join(unwritableDir(), "azcse-meta.json") }), "--metadata-out"],
    ["--out is in an unwritable directory", (d) => ({ out: path.join(unwritableDir(), "azcse-s.bin"), meta: path.join(d, "meta.json") }), "--out"],
    ["--out and --metadata-out are the same file", (d) => ({ out: path.join(d, "same"), meta: path.join(d, "same") }), "--metadata-out"],
    ["--out is empty", (d) => ({ out: "", meta: path.join(d, "meta.json") }), "--out"],
    ["--out ends with a slash", (d) => ({ out: path.join(d, "newdir") + "/", meta: path.join(d, "meta.json") }), "--out"],
  ];
  for (const [name, setup, flag] of cases) {
    it(`${name}: exit 1 naming ${flag}, neither file written, no staging left`, async () => {
      const d = freshDir(`pair-${name.replace(/[^a-z]+/gi, "-")}`);
      const { out, meta } = setup(d);
      const before = snapshot(d);
      const r = await azcse("blob", "encrypt-file", "--in", f("plain.bin"), "--out", out, "--metadata-out", meta, "--key", key);
      expect(r.code, r.err).toBe(1);
      expect(r.err).toContain(flag);
      expect(snapshot(d)).toEqual(before);
      expect(uncommittedOutputCount()).toBe(0);
    });
  }

  it("an existing pair is replaced only by a complete new pair; a failed run keeps the old pair intact", async () => {
    const d = freshDir("pair-replace");
    const out = path.join(d, "s.bin");
    const meta = path.join(d, "meta.json");
    expect((await azcse("blob", "encrypt-file", "--in", f("plain.bin"), "--out", out, "--metadata-out", meta, "--key", key)).code).toBe(0);
    const [oldOut, oldMeta] = [readFileSync(out), readFileSync(meta)];
    // Same targets, but the input is a directory: refused, nothing replaced.
    const bad = await azcse("blob", "encrypt-file", "--in", d, "--out", out, "--metadata-out", meta, "--key", key, "--overwrite");
    expect(bad.code).toBe(1);
    expect(bad.err).toContain("--in");
    expect(readFileSync(out).equals(oldOut)).toBe(true);
    expect(readFileSync(meta).equals(oldMeta)).toBe(true);
    expect(snapshot(d)).toEqual(["meta.json", "s.bin"]);
    // Without --overwrite the existing pair is refused before anything is read (exit 1), both kept.
    const refused = await azcse("blob", "encrypt-file", "--in", f("plain.bin"), "--out", out, "--metadata-out", meta, "--key", key);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain("pass --overwrite");
    expect(snapshot(d)).toEqual(["meta.json", "s.bin"]);
    // A successful run with --overwrite replaces both, and the new pair decrypts.
    expect((await azcse("blob", "encrypt-file", "--in", f("plain.bin"), "--out", out, "--metadata-out", meta, "--key", key, "--overwrite")).code).toBe(0);
    expect(readFileSync(meta).equals(oldMeta)).toBe(false);
    expect((await azcse("blob", "decrypt-file", "--in", out, "--metadata", meta, "--out", path.join(d, "p"), "--key", key)).code).toBe(0);
    expect(readFileSync(path.join(d, "p")).equals(plain)).toBe(true);
  });

  it("a target that became a directory before commit: the outputs already renamed are undone (new file removed, replaced file restored)", () => {
    const d = freshDir("pair-commit");
    const a = path.join(d, "a.bin");
    const b = path.join(d, "b.json");
    writeFileSync(a, "previous a");
    const staged = new StagedOutputs([
      { label: "--out", path: a },
      { label: "--metadata-out", path: b },
    ]);
    staged.writeFile(0, "new a");
    staged.writeFile(1, "new b");
    // b becomes a non-empty directory after staging: its rename must fail, and a must go back to its old content.
    mkdirSync(b);
    writeFileSync(path.join(b, "x"), "x");
    expect(() => staged.commit()).toThrow(/--metadata-out/);
    expect(readFileSync(a, "utf8")).toBe("previous a");
    expect(snapshot(d)).toEqual(["a.bin", "b.json", "b.json/x"]);
    expect(uncommittedOutputCount()).toBe(0);

    const c = path.join(d, "c.bin");
    const e = path.join(d, "e.json");
    const staged2 = new StagedOutputs([
      { label: "--out", path: c },
      { label: "--metadata-out", path: e },
    ]);
    staged2.writeFile(0, "new c");
    staged2.writeFile(1, "new e");
    mkdirSync(e);
    expect(() => staged2.commit()).toThrow(/--metadata-out/);
    rmSync(e, { recursive: true });
    expect(snapshot(d)).toEqual(["a.bin", "b.json", "b.json/x"]); // c (new) removed again
  });
});

describe("failed commands leave nothing behind and keep an existing output", () => {
  let stored: string;
  let meta: string;
  beforeAll(async () => {
    stored = f("s21.bin");
    meta = f("s21.meta.json");
    expect((await azcse("blob", "encrypt-file", "--in", f("plain.bin"), "--out", stored, "--metadata-out", meta, "--key", key, "--protocol", "2.1", "--region-size", "4096")).code).toBe(0);
  });

  it("decrypt-file with the last region tampered: exit 2, no partial plaintext, the existing --out untouched", async () => {
    const d = freshDir("fail-decrypt");
    const bytes = readFileSync(stored);
    bytes[bytes.length - 1]! ^= 1;
    writeFileSync(path.join(d, "t.bin"), bytes);
    writeFileSync(path.join(d, "out.bin"), "previous");
    const before = snapshot(d);
    const r = await azcse("blob", "decrypt-file", "--in", path.join(d, "t.bin"), "--metadata", meta, "--out", path.join(d, "out.bin"), "--key", key, "--overwrite");
    expect(r.code).toBe(2);
    expect(r.err).toContain("DECRYPTION_FAILED");
    expect(snapshot(d)).toEqual(before);
    expect(readFileSync(path.join(d, "out.bin"), "utf8")).toBe("previous");
  });

  it("queue decrypt-message and table decrypt-entity of tampered data: exit 2, nothing written", async () => {
    const d = freshDir("fail-offline");
    writeFileSync(path.join(d, "msg.bin"), "hello");
    expect((await azcse("queue", "encrypt-message", "--in", path.join(d, "msg.bin"), "--out", path.join(d, "msg.txt"), "--key", key)).code).toBe(0);
    const envelope = JSON.parse(readFileSync(path.join(d, "msg.txt"), "utf8")) as { EncryptedMessageContents: string };
    const body = Buffer.from(envelope.EncryptedMessageContents, "base64");
    body[body.length - 1]! ^= 1;
    envelope.EncryptedMessageContents = body.toString("base64");
    writeFileSync(path.join(d, "msg.txt"), JSON.stringify(envelope));
    writeFileSync(path.join(d, "entity.json"), JSON.stringify({ PartitionKey: "p", RowKey: "r", Secret: "s" }));
    expect((await azcse("table", "encrypt-entity", "--in", path.join(d, "entity.json"), "--out", path.join(d, "wire.json"), "--key", key, "--encrypt", "Secret")).code).toBe(0);
    const wire = JSON.parse(readFileSync(path.join(d, "wire.json"), "utf8")) as Record<string, string>;
    const secret = Buffer.from(wire.Secret!, "base64");
    secret[0]! ^= 1;
    wire.Secret = secret.toString("base64");
    writeFileSync(path.join(d, "wire.json"), JSON.stringify(wire));
    const before = snapshot(d);
    const q = await azcse("queue", "decrypt-message", "--in", path.join(d, "msg.txt"), "--out", path.join(d, "plain.bin"), "--key", key);
    expect(q.code, q.err).toBe(2);
    const t = await azcse("table", "decrypt-entity", "--in", path.join(d, "wire.json"), "--out", path.join(d, "plain.json"), "--key", key);
    expect(t.code, t.err).toBe(2);
    expect(snapshot(d)).toEqual(before);
  });

  it("key generate never overwrites and leaves no staging when refused", async () => {
    const d = freshDir("fail-key");
    writeFileSync(path.join(d, "k.jwk"), "existing");
    const r = await azcse("key", "generate", "--alg", "A256KW", "--kid", "x", "--out", path.join(d, "k.jwk"));
    expect(r.code).toBe(1);
    expect(r.err).toContain("--out");
    expect(readFileSync(path.join(d, "k.jwk"), "utf8")).toBe("existing");
    expect(snapshot(d)).toEqual(["k.jwk"]);
  });
});
