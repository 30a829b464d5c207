// The end-to-end demo behind `npm run demo` (after a build): an embedded Azurite, a fresh key, the azcse
// CLI and the @azure-cse/storage-blob library, and — when installed — the official Python SDK as the peer.
// Every step is checked; the demo exits non-zero if any check fails and always stops Azurite.
import { spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { startAzurite, PYTHON, PYTHON_KEK_PRELUDE, runPython, runDotnetPeer } from "../testkit/index.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const cli = path.join(root, "packages", "cli", "dist", "cli.js");
const requireFromBlob = createRequire(path.join(root, "packages", "storage-blob", "package.json"));
const { BlobServiceClient } = requireFromBlob("@azure/storage-blob");
const dir = mkdtempSync(path.join(tmpdir(), "azcse-demo-"));
const f = (n) => path.join(dir, n);
const MiB = 1024 * 1024;
let failures = 0;
let env;

const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
function step(title) {
  console.log(`\n${bold(`▶ ${title}`)}`);
}
function check(ok, what) {
  console.log(`  ${ok ? "✔" : "✘"} ${what}`);
  if (!ok) failures++;
}
function short(s) {
  return s.replaceAll(dir + path.sep, "");
}
/** Runs the built azcse CLI (asynchronously, so the in-process Azurite keeps serving). */
function azcse(...args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, AZURE_STORAGE_CONNECTION_STRING: env.connectionString } });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("exit", (code) => {
      console.log(`  $ azcse ${short(args.join(" "))}`);
      for (const line of (out + err).trim().split("\n").filter(Boolean)) console.log(`    ${short(line)}`);
      console.log(`    [exit ${code}]`);
      resolve({ code, out, err });
    });
  });
}
const sha = (b) => createHash("sha256").update(b).digest("hex").slice(0, 16);

async function main() {
  if (!existsSync(cli)) throw new Error(`The CLI is not built (${cli}); run npm run build first.`);
  const t0 = Date.now();
  step("Start an embedded Azurite on free loopback ports (in memory)");
  env = await startAzurite();
  console.log(`  blob endpoint ${env.blobUrl}`);
  const service = BlobServiceClient.fromConnectionString(env.connectionString);
  const container = service.getContainerClient("demo");
  await container.create();

  step("Create a key-encryption key (A256KW, kept in a local private JWK file)");
  check((await azcse("key", "generate", "--alg", "A256KW", "--kid", "demo-key-1", "--out", f("kek1.jwk"))).code === 0, "key demo-key-1 created");

  step("Upload a 9 MiB file (3 GCM regions of 4 MiB) with client-side encryption, protocol 2.0");
  const plain = randomBytes(9 * MiB + 7);
  writeFileSync(f("report.bin"), plain);
  const up = await azcse("blob", "upload", "demo", "report.bin", f("report.bin"), "--key", f("kek1.jwk"), "--metadata", "department=finance");
  check(up.code === 0, "upload succeeded");

  step("What the service stores: ciphertext, plus the wrapped key in metadata");
  const raw = container.getBlobClient("report.bin");
  const props = await raw.getProperties();
  const stored = await raw.downloadToBuffer();
  console.log(`  plaintext ${plain.length} bytes, stored ${stored.length} bytes (= ${plain.length} + 3 regions × 28 bytes of nonce and tag)`);
  console.log(`  metadata department = ${props.metadata.department}`);
  console.log(`  metadata encryptiondata = ${props.metadata.encryptiondata}`);
  check(stored.length === plain.length + 3 * 28, "stored size follows the 2.0 format");
  check(!stored.includes(plain.subarray(0, 64)) && !stored.subarray(12, 76).equals(plain.subarray(0, 64)), "stored bytes are not the plaintext");
  const info = await azcse("blob", "inspect", "demo", "report.bin");
  check(info.code === 0 && JSON.parse(info.out).plaintextLength === plain.length, "inspect reports the plaintext length without downloading");

  step("Download the whole blob and a range that crosses a region boundary");
  check((await azcse("blob", "download", "demo", "report.bin", f("whole.bin"), "--key", f("kek1.jwk"))).code === 0, "whole download succeeded");
  check(readFileSync(f("whole.bin")).equals(plain), `whole download matches (sha256 ${sha(plain)}…)`);
  const offset = 4 * MiB - 500;
  check((await azcse("blob", "download", "demo", "report.bin", f("range.bin"), "--key", f("kek1.jwk"), "--offset", String(offset), "--count", "1000")).code === 0, "range download succeeded");
  check(readFileSync(f("range.bin")).equals(plain.subarray(offset, offset + 1000)), "range matches plaintext[4 MiB−500, +1000) (only regions 0 and 1 were fetched)");

  step("Tamper with one stored byte: decryption fails (exit 2), nothing is written");
  const tampered = Buffer.from(stored);
  tampered[5 * MiB] ^= 1;
  await container.getBlockBlobClient("tampered.bin").upload(tampered, tampered.length, { metadata: props.metadata });
  const t = await azcse("blob", "download", "demo", "tampered.bin", f("tampered.out"), "--key", f("kek1.jwk"));
  check(t.code === 2 && t.err.includes("DECRYPTION_FAILED"), "exit 2 with DECRYPTION_FAILED");
  check(!existsSync(f("tampered.out")), "no partial output file");

  step("requireEncryption (on by default) refuses a plaintext blob instead of returning it");
  await container.getBlockBlobClient("notes.txt").upload("not encrypted", 13);
  const p = await azcse("blob", "download", "demo", "notes.txt", f("notes.out"), "--key", f("kek1.jwk"));
  check(p.code === 2 && p.err.includes("ENCRYPTION_REQUIRED"), "exit 2 with ENCRYPTION_REQUIRED");

  step("Rotate the key: re-wrap the content key with a new KEK (metadata only, no data re-upload)");
  check((await azcse("key", "generate", "--alg", "A256KW", "--kid", "demo-key-2", "--out", f("kek2.jwk"))).code === 0, "key demo-key-2 created");
  const before = (await raw.getProperties()).etag;
  check((await azcse("blob", "rotate-key", "demo", "report.bin", "--key", f("kek1.jwk"), "--new-key", f("kek2.jwk"))).code === 0, "rotation succeeded");
  check((await raw.downloadToBuffer()).equals(stored), "stored ciphertext unchanged by the rotation");
  check((await raw.getProperties()).etag !== before, "metadata rewritten (new ETag)");
  check((await azcse("blob", "download", "demo", "report.bin", f("rotated.bin"), "--key", f("kek2.jwk"))).code === 0 && readFileSync(f("rotated.bin")).equals(plain), "the new key reads the blob");
  const old = await azcse("blob", "download", "demo", "report.bin", f("old.bin"), "--key", f("kek1.jwk"));
  check(old.code === 2, "the old key alone no longer reads it (exit 2)");

  step("Interop with the official Python SDK (azure-storage-blob), both ways");
  const hasPython = spawnSync(PYTHON, ["-c", "import azure.storage.blob, cryptography"], { stdio: "ignore" }).status === 0;
  if (!hasPython) {
    console.log("  (skipped: the Python SDK is not installed; `npm test` installs it or prints how)");
  } else {
    const peer = PYTHON_KEK_PRELUDE + readFileSync(path.join(root, "tools", "interop", "blob_peer.py"), "utf8");
    const kek2 = JSON.parse(readFileSync(f("kek2.jwk"), "utf8"));
    const base = { connection_string: env.connectionString, container: "demo", kek: kek2 };
    const py = await runPython(peer, { ...base, op: "download", blob: "report.bin", out_file: f("py-read.bin") });
    check(py.ok && readFileSync(f("py-read.bin")).equals(plain), `Python decrypted our blob (${py.size} bytes, require_encryption=True)`);
    const pyPlain = randomBytes(MiB + 3);
    writeFileSync(f("py-in.bin"), pyPlain);
    const w = await runPython(peer, { ...base, op: "upload", blob: "from-python.bin", protocol: "2.0", in_file: f("py-in.bin"), metadata: { writer: "python" } });
    check(w.ok, "Python uploaded an encrypted blob (protocol 2.0)");
    const r = await azcse("blob", "download", "demo", "from-python.bin", f("py-out.bin"), "--key", f("kek2.jwk"));
    check(r.code === 0 && readFileSync(f("py-out.bin")).equals(pyPlain), "we decrypted Python's blob");
  }

  step("Interop with the official .NET SDK (Azure.Storage.Blobs 12.30.1, tools/dotnet-peer), both ways");
  const sdks = spawnSync("dotnet", ["--list-sdks"], { encoding: "utf8" });
  if (sdks.status !== 0 || !/^10\./m.test(sdks.stdout ?? "")) {
    console.log("  (skipped: the .NET 10 SDK is not installed; `npm test` prints how to install it)");
  } else {
    const peer = (...args) => runDotnetPeer(args, { connectionString: env.connectionString });
    const whole = await peer("blob-get", "--container", "demo", "--blob", "report.bin", "--out", f("net-read.bin"), "--key", f("kek2.jwk"));
    check(whole.exit === 0 && readFileSync(f("net-read.bin")).equals(plain), `.NET decrypted our blob (${whole.result?.size ?? "?"} bytes)`);
    const range = await peer("blob-get", "--container", "demo", "--blob", "report.bin", "--out", f("net-range.bin"), "--key", f("kek2.jwk"), "--offset", String(4 * MiB - 10), "--count", "30");
    check(range.exit === 0 && readFileSync(f("net-range.bin")).equals(plain.subarray(4 * MiB - 10, 4 * MiB + 20)), ".NET read a range across the 4 MiB region boundary");
    const netPlain = randomBytes(MiB + 5);
    writeFileSync(f("net-in.bin"), netPlain);
    const w = await peer("blob-put", "--container", "demo", "--blob", "from-dotnet.bin", "--in", f("net-in.bin"), "--protocol", "2.0", "--key", f("kek2.jwk"));
    check(w.exit === 0, `.NET uploaded an encrypted blob (protocol 2.0, EncryptionLibrary "${String(JSON.parse(w.result?.metadata?.encryptiondata ?? "{}").KeyWrappingMetadata?.EncryptionLibrary ?? "?").split(" ")[0]}")`);
    const r = await azcse("blob", "download", "demo", "from-dotnet.bin", f("net-out.bin"), "--key", f("kek2.jwk"));
    check(r.code === 0 && readFileSync(f("net-out.bin")).equals(netPlain), "we decrypted .NET's blob");
  }
  console.log(`\n${failures === 0 ? bold("All checks passed") : bold(`${failures} check(s) FAILED`)} in ${((Date.now() - t0) / 1000).toFixed(1)} s.`);
}

/**
 * `--keyvault local`: the same storage, with the key-encryption key in the local Key Vault test server
 * (tools/local-keyvault, the Key Vault REST contract over HTTPS) through the real @azure/keyvault-keys client.
 */
async function mainKeyVault() {
  const { startLocalKeyVault } = await import("../local-keyvault/index.mjs");
  const { EncryptedBlobServiceClient } = await import(path.join(root, "packages", "storage-blob", "dist", "index.js"));
  const { createKeyVaultKeyResolver } = await import(path.join(root, "packages", "keyvault", "dist", "index.js"));
  const { parseEncryptionData } = await import(path.join(root, "packages", "core-envelope", "dist", "index.js"));
  const t0 = Date.now();
  step("Start an embedded Azurite and the local Key Vault test server (HTTPS, self-signed certificate)");
  env = await startAzurite();
  const kv = await startLocalKeyVault();
  try {
    console.log(`  blob endpoint ${env.blobUrl}`);
    console.log(`  vault ${kv.vaultUrl} (certificate from ${kv.certificateSource}; test-only)`);

    step("Create an RSA-2048 key in the vault; one policy: wrap with its current version, read any stored version");
    const v1 = kv.createKeyDirect("demo-kek");
    console.log(`  key version 1: ${v1}`);
    const resolver = createKeyVaultKeyResolver(kv.credential, { clientOptions: kv.clientOptions, allowedVaults: [kv.vaultUrl] });
    const policy = { keyEncryptionKey: resolver.getKeyEncryptionKey(kv.keyId("demo-kek")), keyResolver: resolver };
    const service = new EncryptedBlobServiceClient(BlobServiceClient.fromConnectionString(env.connectionString), policy);
    const container = await service.createContainerIfNotExists("demo-kv");
    const blob = container.getBlobClient("kv-report.bin");

    step("Upload 5 MiB with client-side encryption (protocol 2.0); the content key is wrapped by the vault key");
    const plain = randomBytes(5 * MiB + 11);
    await blob.uploadData(plain, { metadata: { department: "finance" } });
    const raw = blob.blobClient;
    const props = await raw.getProperties();
    const data = parseEncryptionData(props.metadata.encryptiondata);
    console.log(`  metadata encryptiondata = ${props.metadata.encryptiondata}`);
    console.log(`  WrappedContentKey.KeyId = ${data.wrappedContentKey.keyId}  (Algorithm ${data.wrappedContentKey.algorithm})`);
    check(data.wrappedContentKey.keyId === v1, "the stored kid is the versioned Key Vault key id (not the versionless one)");
    const stored = await raw.downloadToBuffer();
    check(stored.length === plain.length + 2 * 28 && !stored.subarray(12, 76).equals(plain.subarray(0, 64)), "the service stores ciphertext (2 regions × 28 bytes of nonce and tag)");

    step("Download through the vault: the stored kid is unwrapped by exactly that key version");
    kv.resetCounters();
    check((await blob.downloadToBuffer()).equals(plain), `whole download matches (sha256 ${sha(plain)}…)`);
    check((await blob.downloadToBuffer(4 * MiB - 100, 300)).equals(plain.subarray(4 * MiB - 100, 4 * MiB + 200)), "a range across the region boundary matches");
    const unwraps = kv.requests.filter((r) => r.route === "unwrapKey" && r.status === 200);
    check(unwraps.length === 2 && unwraps.every((r) => v1.endsWith(`/${r.version}`)), "each download made one unwrapKey call, to version 1");

    step("Rotate: a new key version in the vault, then re-wrap the blob's content key (metadata only)");
    const v2 = kv.rotateKeyDirect("demo-kek");
    console.log(`  key version 2: ${v2}`);
    const rotated = await blob.updateKeyEncryptionKey(resolver.getKeyEncryptionKey(v2));
    console.log(`  ${rotated.previousKeyId}\n    → ${rotated.keyId}`);
    check(rotated.keyId === v2 && parseEncryptionData((await raw.getProperties()).metadata.encryptiondata).wrappedContentKey.keyId === v2, "the metadata names version 2");
    check((await raw.downloadToBuffer()).equals(stored), "stored ciphertext unchanged");
    const fresh = new EncryptedBlobServiceClient(BlobServiceClient.fromConnectionString(env.connectionString), {
      keyResolver: createKeyVaultKeyResolver(kv.credential, { clientOptions: kv.clientOptions }),
    });
    kv.resetCounters();
    check((await fresh.getBlobClient("demo-kv", "kv-report.bin").downloadToBuffer()).equals(plain), "a fresh reader (resolver only) decrypts it");
    check(kv.requests.some((r) => r.route === "unwrapKey" && r.status === 200 && v2.endsWith(`/${r.version}`)), "…through version 2");
    console.log(`  Key Vault requests: ${JSON.stringify(kv.counters())}`);
  } finally {
    await kv.stop();
  }
  console.log(`\n${failures === 0 ? bold("All checks passed") : bold(`${failures} check(s) FAILED`)} in ${((Date.now() - t0) / 1000).toFixed(1)} s.`);
}

const kvFlag = process.argv.indexOf("--keyvault");
const keyvault = kvFlag >= 0 ? process.argv[kvFlag + 1] : undefined;
try {
  if (keyvault === undefined) await main();
  else if (keyvault === "local") await mainKeyVault();
  else throw new Error(`--keyvault ${keyvault ?? ""}: only "local" (the local Key Vault test server) is supported`);
} catch (e) {
  failures++;
  console.error(`\ndemo failed: ${e?.stack ?? e}`);
} finally {
  await env?.stop();
  rmSync(dir, { recursive: true, force: true });
}
process.exitCode = failures === 0 ? 0 : 1;
