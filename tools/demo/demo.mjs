// Offline demo (until the blob package lands): generate a key, encrypt a file into the exact bytes
// and metadata an encrypted blob would have, decrypt a range back, and show what tampering does.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const cli = path.join(root, "packages", "cli", "dist", "cli.js");
const dir = mkdtempSync(path.join(tmpdir(), "azcse-demo-"));
const f = (n) => path.join(dir, n);
function azcse(...args) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
  console.log(`$ azcse ${args.map((a) => (a.startsWith(dir) ? path.relative(dir, a) : a)).join(" ")}\n${(r.stdout + r.stderr).trim()}  [exit ${r.status}]`);
  return r.status;
}
try {
  writeFileSync(f("plain.bin"), randomBytes(9 * 1024 * 1024 + 7));
  azcse("key", "generate", "--alg", "A256KW", "--kid", "demo-key-1", "--out", f("kek.jwk"));
  azcse("blob", "encrypt-file", "--in", f("plain.bin"), "--out", f("stored.bin"), "--metadata-out", f("meta.json"), "--key", f("kek.jwk"));
  console.log(`encryptiondata = ${JSON.parse(readFileSync(f("meta.json"), "utf8")).encryptiondata}`);
  azcse("blob", "decrypt-file", "--in", f("stored.bin"), "--metadata", f("meta.json"), "--out", f("range.bin"), "--key", f("kek.jwk"), "--offset", "4194000", "--count", "1000");
  const same = readFileSync(f("range.bin")).equals(readFileSync(f("plain.bin")).subarray(4194000, 4195000));
  console.log(`range matches the plaintext: ${same}`);
  const stored = readFileSync(f("stored.bin"));
  stored[5000] ^= 1;
  writeFileSync(f("tampered.bin"), stored);
  const code = azcse("blob", "decrypt-file", "--in", f("tampered.bin"), "--metadata", f("meta.json"), "--out", f("never.bin"), "--key", f("kek.jwk"));
  process.exitCode = same && code === 2 ? 0 : 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
