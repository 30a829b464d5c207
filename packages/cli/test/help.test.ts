// Usage, --help and --version come from the one declaration of each command's flags (node:util parseArgs parses
// with the same declaration), and the messages a user acts on.
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COMMANDS, VERSION } from "../src/main.js";
import { parseArgs, usageOf } from "../src/framework.js";
import { KEY_GENERATE_ALGS } from "../src/commands/key.js";
import { azcse } from "./security-helpers.js";

let dir: string;
const f = (n: string): string => path.join(dir, n);
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "azcse-help-"));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("help and version", () => {
  it("--version prints the package version", async () => {
    const pkg = JSON.parse(readFileSync(path.join(__dirname, "..", "package.json"), "utf8")) as { version: string };
    expect(VERSION).toBe(pkg.version);
    for (const v of ["--version", "-V", "version"]) expect(await azcse(v)).toEqual({ code: 0, out: `${pkg.version}\n`, err: "" });
  });

  it("the main help lists every command and exit codes 0-5 (5: local I/O or resource limit); no arguments is exit 1 with the same help", async () => {
    const h = await azcse("--help");
    expect(h.code).toBe(0);
    for (const c of COMMANDS) expect(h.out).toContain(`  ${c.path.join(" ")} `);
    expect(h.out).toContain("Exit codes: 0 ok, 1 usage, 2 encryption/decryption failure, 3 not found, 4 service error, 5 local I/O or resource limit.");
    expect(h.out).toContain("--account-url");
    const none = await azcse();
    expect([none.code, none.out]).toEqual([1, h.out]);
  });

  it("every command's --help (and -h, anywhere before --) prints its generated usage and one line per declared flag, exit 0", async () => {
    for (const c of COMMANDS) {
      const r = await azcse(...c.path, "--help");
      expect(r.code, c.path.join(" ")).toBe(0);
      expect(r.out.startsWith(`Usage: azcse ${usageOf(c)}\n`)).toBe(true);
      expect(r.out).toContain(c.summary);
      expect(r.out).toContain("5 local I/O or resource limit");
      for (const [name, s] of Object.entries(c.flags)) {
        expect(r.out, `${c.path.join(" ")} --${name}`).toMatch(new RegExp(`\\n  --${name}${s.value ? ` ${(s.arg ?? "VALUE").replace(/[|.*+?^${}()[\]\\]/g, "\\$&")}` : ""}[ \\n]`));
        expect(c.usage).toContain(`--${name}`);
        expect(s.help, `${c.path.join(" ")} --${name} has help`).toBeTruthy();
      }
      expect((await azcse(...c.path, "-h")).out).toBe(r.out);
    }
    const blob = await azcse("blob", "upload", "c", "--key", "-h");
    expect(blob.code).toBe(0);
    expect(blob.out).toMatch(/^Usage: azcse blob upload CONTAINER BLOB FILE --key KEY\.\.\. /);
  });

  it("every flag in a usage line parses with the command's declaration (one place declares it)", () => {
    for (const c of COMMANDS) {
      for (const [name, s] of Object.entries(c.flags)) {
        const argv = s.value ? [`--${name}`, "v"] : [`--${name}`];
        // Required flags are checked too: give every required flag (and one of each required group).
        const required = Object.entries(c.flags).filter(([n, o]) => o.required && n !== name && (!o.oneOf || o.oneOf !== s.oneOf));
        const seenGroups = new Set<string>();
        for (const [n, o] of required) {
          if (o.oneOf) {
            if (seenGroups.has(o.oneOf)) continue;
            seenGroups.add(o.oneOf);
          }
          argv.push(`--${n}`, "v");
        }
        const a = parseArgs(argv, c.flags);
        expect(a.has(name), `${c.path.join(" ")} --${name}`).toBe(true);
      }
    }
  });

  it("parse errors name the flag: unknown, missing value, value of a boolean, repeated, one-of groups", async () => {
    expect((await azcse("key", "generate", "--nope")).err).toBe("azcse: unknown option --nope\n");
    expect((await azcse("key", "generate", "--alg")).err).toBe("azcse: --alg needs a value\n");
    const amb = await azcse("queue", "encrypt-message", "--in", "--out", "x");
    expect([amb.code, amb.err]).toEqual([1, 'azcse: --in needs a value (--out looks like an option; to give a value that starts with "-", write --in=VALUE)\n']);
    expect((await azcse("blob", "upload", "c", "b", "f", "--key", "k", "--create-container=yes")).err).toBe("azcse: --create-container takes no value\n");
    expect((await azcse("key", "generate", "--alg", "A256KW", "--alg", "A128KW", "--kid", "k", "--out", f("x"))).err).toBe("azcse: --alg given more than once\n");
    const both = await azcse("queue", "send", "q", "--text", "a", "--in", "b", "--key", "k");
    expect([both.code, both.err]).toEqual([1, "azcse: give exactly one of --text T or --in FILE\n"]);
    const neither = await azcse("queue", "send", "q", "--key", "k");
    expect([neither.code, neither.err]).toEqual([1, "azcse: give exactly one of --text T or --in FILE\n"]);
  });

  it("an unknown subcommand lists the group's commands", async () => {
    const r = await azcse("queue", "sned");
    expect(r.code).toBe(1);
    expect(r.err).toContain("queue commands: send, receive, encrypt-message, decrypt-message");
  });
});

describe("messages a user can act on", () => {
  it("key generate: the --alg list is the same in the usage, the help and the error", async () => {
    const list = KEY_GENERATE_ALGS.join("|");
    const gen = COMMANDS.find((c) => c.path.join(" ") === "key generate")!;
    expect(gen.usage).toContain(`--alg ${list}`);
    expect((await azcse("key", "generate", "--help")).out).toContain(`--alg ${list}`);
    const bad = await azcse("key", "generate", "--alg", "A512KW", "--kid", "k", "--out", f("never.jwk"));
    expect([bad.code, bad.err]).toEqual([1, `azcse: --alg must be one of ${KEY_GENERATE_ALGS.join(", ")}\n`]);
    for (const alg of KEY_GENERATE_ALGS.filter((a) => !a.startsWith("RSA"))) {
      expect((await azcse("key", "generate", "--alg", alg, "--kid", `k-${alg}`, "--out", f(`${alg}.jwk`))).code).toBe(0);
    }
  });

  it("a missing output folder is named (not a staging name), exit 1", async () => {
    expect((await azcse("key", "generate", "--alg", "A256KW", "--kid", "k", "--out", f("k.jwk"))).code).toBe(0);
    writeFileSync(f("p.txt"), "x");
    const r = await azcse("blob", "encrypt-file", "--in", f("p.txt"), "--out", f("no/such/dir/s.bin"), "--metadata-out", f("m.json"), "--key", f("k.jwk"));
    expect(r.code).toBe(1);
    expect(r.err).toBe(`azcse: --out: the folder ${f("no/such/dir")} does not exist (create it, or give a path in an existing folder)\n`);
    expect(r.err).not.toContain("azcse-tmp");
    const rep = await azcse("report", "merge", f("p.txt"), "--out", f("missing/merged.json"));
    expect(rep.code).toBe(1);
    expect(rep.err).toContain("--out: the folder");
    const mig = await azcse("migrate", "c0ntainer", "--key", f("k.jwk"), "--report", f("missing/r.json"), "--connection-string", "UseDevelopmentStorage=true");
    expect([mig.code, mig.err]).toEqual([1, `azcse: --report: the folder ${f("missing")} does not exist (create it, or give a path in an existing folder)\n`]);
    const res = await azcse("migrate", "c0ntainer", "--key", f("k.jwk"), "--resume", f("missing/state.json"), "--connection-string", "UseDevelopmentStorage=true");
    expect([res.code, res.err]).toEqual([1, `azcse: --resume: the folder ${f("missing")} does not exist (create it, or give a path in an existing folder)\n`]);
  });

  it("plaintext fed to the offline decrypt commands is 'not encrypted', with no advice to set a policy switch", async () => {
    writeFileSync(f("plain-msg.txt"), "just a plain message");
    const q = await azcse("queue", "decrypt-message", "--in", f("plain-msg.txt"), "--out", f("q.out"), "--key", f("k.jwk"));
    expect(q.code).toBe(2);
    expect(q.err).toMatch(/^azcse: ENCRYPTION_REQUIRED: The message is not encrypted .*; there is nothing to decrypt\n$/);
    writeFileSync(f("plain-entity.json"), JSON.stringify({ PartitionKey: "p", RowKey: "r", Name: "x" }));
    const t = await azcse("table", "decrypt-entity", "--in", f("plain-entity.json"), "--out", f("t.out"), "--key", f("k.jwk"));
    expect(t.code).toBe(2);
    expect(t.err).toBe("azcse: ENCRYPTION_REQUIRED: The entity has no client-side encryption metadata: it is not encrypted data, so there is nothing to decrypt\n");
    for (const r of [q, t]) expect(r.err).not.toMatch(/requireEncryption|set .*false/);
  });

  it("blob decrypt-file of a plaintext file: 'not encrypted data', without advice to set the misordered-regions switch; truly reordered regions name --allow-misordered-regions", async () => {
    expect((await azcse("key", "generate", "--alg", "A256KW", "--kid", "k-order", "--out", f("k-order.jwk"))).code).toBe(0);
    const plain = randomBytes(100_000);
    writeFileSync(f("doc.bin"), plain);
    expect((await azcse("blob", "encrypt-file", "--in", f("doc.bin"), "--out", f("doc.stored"), "--metadata-out", f("doc.meta"), "--key", f("k-order.jwk"))).code).toBe(0);
    // A plaintext file of exactly the stored length, fed with the real metadata.
    writeFileSync(f("not-encrypted.bin"), randomBytes(statSync(f("doc.stored")).size));
    const r = await azcse("blob", "decrypt-file", "--in", f("not-encrypted.bin"), "--metadata", f("doc.meta"), "--out", f("doc.out"), "--key", f("k-order.jwk"));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^azcse: DECRYPTION_FAILED: --in: .* is not encrypted data of this metadata .*nothing was written\.\n$/);
    expect(r.err).not.toMatch(/allowMisorderedRegions|AZURE_STORAGE_CSE|--allow-misordered-regions/);

    // Real ciphertext with two regions swapped: every region authenticates, so the flag is the way to read it.
    writeFileSync(f("small.bin"), randomBytes(64));
    expect((await azcse("blob", "encrypt-file", "--in", f("small.bin"), "--out", f("small.stored"), "--metadata-out", f("small.meta"), "--key", f("k-order.jwk"), "--protocol", "2.1", "--region-size", "16")).code).toBe(0);
    const stored = readFileSync(f("small.stored"));
    const region = 12 + 16 + 16;
    const swapped = Buffer.concat([stored.subarray(region, 2 * region), stored.subarray(0, region), stored.subarray(2 * region)]);
    writeFileSync(f("swapped.stored"), swapped);
    const m = await azcse("blob", "decrypt-file", "--in", f("swapped.stored"), "--metadata", f("small.meta"), "--out", f("swapped.out"), "--key", f("k-order.jwk"));
    expect(m.code).toBe(2);
    expect(m.err).toMatch(/^azcse: REGION_OUT_OF_ORDER: .*every region authenticates.*--allow-misordered-regions reads it\.\n$/);
    const ok = await azcse("blob", "decrypt-file", "--in", f("swapped.stored"), "--metadata", f("small.meta"), "--out", f("swapped.out"), "--key", f("k-order.jwk"), "--allow-misordered-regions");
    expect(ok.code, ok.err).toBe(0);
    const small = readFileSync(f("small.bin"));
    expect(readFileSync(f("swapped.out")).equals(Buffer.concat([small.subarray(16, 32), small.subarray(0, 16), small.subarray(32)]))).toBe(true);
  });
});
