// Shared test/demo infrastructure (plain ESM so tests, tools and the demo use it without a build).
import { spawn, spawnSync } from "node:child_process";
import { createServer, connect } from "node:net";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const vectorsDir = path.join(repoRoot, "tools", "python-sdk-vectors");

export const AZURITE_ACCOUNT = "devstoreaccount1";
export const AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/**
 * `count` distinct free loopback ports: every probe server stays open until all are chosen, so the OS cannot hand
 * the same port out twice (sequential freePort() calls once gave Azurite two services on one port: EADDRINUSE).
 */
export async function freePorts(count) {
  const servers = [];
  try {
    for (let i = 0; i < count; i++) {
      const s = createServer();
      s.unref();
      await new Promise((resolve, reject) => {
        s.once("error", reject);
        s.listen(0, "127.0.0.1", resolve);
      });
      servers.push(s);
    }
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(() => r(undefined)))));
  }
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function waitForPort(port, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const sock = connect(port, "127.0.0.1");
      sock.once("connect", () => {
        sock.destroy();
        resolve();
      });
      sock.once("error", () => {
        sock.destroy();
        if (Date.now() > deadline) reject(new Error(`Azurite did not listen on port ${port} within ${timeoutMs} ms`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

/**
 * Starts Azurite (blob, queue and table) in memory on free loopback ports.
 * @returns {Promise<import("./index.d.mts").AzuriteHandle>}
 */
export async function startAzurite(options = {}) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startAzuriteOnce(options);
    } catch (e) {
      // Another process may take a probed port before Azurite binds it: try fresh ports (three attempts in all).
      if (attempt >= 3 || !/EADDRINUSE/.test(String(e?.message))) throw e;
    }
  }
}

async function startAzuriteOnce(options) {
  const require = createRequire(import.meta.url);
  // options.bin: another Azurite build's dist/src/azurite.js (benchmarks against other versions); the pinned one otherwise.
  const bin = options.bin ?? path.join(path.dirname(require.resolve("azurite/package.json", { paths: [repoRoot] })), "dist", "src", "azurite.js");
  const [blobPort, queuePort, tablePort] = await freePorts(3);
  const location = mkdtempSync(path.join(tmpdir(), "azcse-azurite-"));
  const args = [
    bin,
    "--blobHost", "127.0.0.1", "--blobPort", String(blobPort),
    "--queueHost", "127.0.0.1", "--queuePort", String(queuePort),
    "--tableHost", "127.0.0.1", "--tablePort", String(tablePort),
    "--skipApiVersionCheck", "--disableProductStyleUrl", "--loose",
    // In memory by default (tests); `persistence: "disk"` stores under a temp folder like a default Azurite.
    ...(options.persistence === "disk" ? ["--location", location] : ["--inMemoryPersistence"]),
  ];
  // options.https: serve HTTPS with the caller's certificate (trusted by clients via NODE_EXTRA_CA_CERTS);
  // options.oauth "basic": accept Entra ID bearer tokens (Azurite checks audience/issuer/expiry, not signatures).
  if (options.https) {
    writeFileSync(path.join(location, "cert.pem"), options.https.cert);
    writeFileSync(path.join(location, "key.pem"), options.https.key);
    args.push("--cert", path.join(location, "cert.pem"), "--key", path.join(location, "key.pem"));
  }
  if (options.oauth) args.push("--oauth", options.oauth);
  if (!options.debug) args.push("--silent");
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], cwd: location });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const exited = new Promise((resolve) => child.once("exit", resolve));
  try {
    await Promise.race([
      Promise.all([waitForPort(blobPort, 30000), waitForPort(queuePort, 30000), waitForPort(tablePort, 30000)]),
      exited.then((code) => {
        throw new Error(`Azurite exited early (code ${code}): ${output.slice(-2000)}`);
      }),
    ]);
  } catch (e) {
    child.kill("SIGKILL");
    rmSync(location, { recursive: true, force: true });
    throw e;
  }
  const host = "127.0.0.1";
  const scheme = options.https ? "https" : "http";
  const blobUrl = `${scheme}://${host}:${blobPort}/${AZURITE_ACCOUNT}`;
  const queueUrl = `${scheme}://${host}:${queuePort}/${AZURITE_ACCOUNT}`;
  const tableUrl = `${scheme}://${host}:${tablePort}/${AZURITE_ACCOUNT}`;
  const connectionString =
    `DefaultEndpointsProtocol=${scheme};AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};` +
    `BlobEndpoint=${blobUrl};QueueEndpoint=${queueUrl};TableEndpoint=${tableUrl};`;
  return {
    blobUrl, queueUrl, tableUrl, blobPort, queuePort, tablePort, connectionString,
    accountName: AZURITE_ACCOUNT, accountKey: AZURITE_KEY,
    pid: child.pid,
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(t);
      }
      rmSync(location, { recursive: true, force: true });
    },
  };
}

export const PYTHON = "/usr/bin/python3";
export const PYTHON_PACKAGES = ["python3-azure", "python3-azure-cosmosdb-table"];
export const PYTHON_INSTALL_COMMAND = `apt-get update && apt-get install -y ${PYTHON_PACKAGES.join(" ")}`;

/** Throws (never skips) when the Python SDK peer is missing, with the command that installs it. */
export function assertPythonPeer() {
  const r = spawnSync(PYTHON, ["-c", "import azure.storage.blob, azure.storage.queue, azure.cosmosdb.table, cryptography"], { encoding: "utf8" });
  if (r.status !== 0) {
    throw new Error(`The official Python SDK peer is missing (${(r.stderr || r.error?.message || "").trim().split("\n").pop()}). Install it with: ${PYTHON_INSTALL_COMMAND}`);
  }
}

/**
 * Runs a Python script with /usr/bin/python3, passing `input` as JSON on stdin; returns parsed JSON
 * printed on the last stdout line. Throws with stderr on failure.
 */
export function runPython(script, input = {}, options = {}) {
  assertPythonPeer();
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ["-c", script], { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, PYTHONWARNINGS: "ignore" } });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 120000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`python exited ${code}: ${err.slice(-4000)}`));
      const line = out.trim().split("\n").pop() ?? "null";
      try {
        resolve(JSON.parse(line));
      } catch {
        reject(new Error(`python printed no JSON: ${out.slice(-2000)} ${err.slice(-2000)}`));
      }
    });
    child.stdin.end(JSON.stringify(input));
  });
}

/** Python snippet defining `KEK` classes (A256KW via cryptography's keywrap, RSA-OAEP SHA-1) for the SDK. */
export const PYTHON_KEK_PRELUDE = `
import sys, json, base64, os
from cryptography.hazmat.primitives.keywrap import aes_key_wrap, aes_key_unwrap
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives import hashes, serialization
class AesKek:
    def __init__(self, kid, key): self.kid, self.key = kid, key
    def wrap_key(self, k): return aes_key_wrap(self.key, k)
    def unwrap_key(self, k, alg):
        assert alg == 'A256KW', alg
        return aes_key_unwrap(self.key, k)
    def get_kid(self): return self.kid
    def get_key_wrap_algorithm(self): return 'A256KW'
class RsaKek:
    def __init__(self, kid, pem): self.kid, self.priv = kid, serialization.load_pem_private_key(pem.encode(), None)
    def _pad(self): return padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    def wrap_key(self, k): return self.priv.public_key().encrypt(k, self._pad())
    def unwrap_key(self, k, alg):
        assert alg == 'RSA-OAEP', alg
        return self.priv.decrypt(k, self._pad())
    def get_kid(self): return self.kid
    def get_key_wrap_algorithm(self): return 'RSA-OAEP'
def kek_from_jwk(j):
    if j['kty'] == 'oct':
        return AesKek(j['kid'], base64.urlsafe_b64decode(j['k'] + '=' * (-len(j['k']) % 4)))
    raise ValueError('only oct JWKs in the prelude; pass RSA keys as PEM')
`;

/** Makes a temporary directory removed by the returned function. */
export function tempDir(prefix = "azcse-") {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
export * from "./dotnet.mjs";
