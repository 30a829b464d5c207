// The .NET SDK interop peer (tools/dotnet-peer): one place that finds dotnet, builds the peer once and runs it.
// Tests never skip: assertDotnetPeer() throws with the command that installs the .NET 10 SDK.
import { spawn, spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const DOTNET_PEER = path.join(root, "tools", "dotnet-peer", "run");
/** Debian's own archive has no .NET SDK; it comes from Microsoft's package repository for Debian 12. */
export const DOTNET_INSTALL_COMMAND =
  "wget -q https://packages.microsoft.com/config/debian/12/packages-microsoft-prod.deb -O /tmp/packages-microsoft-prod.deb && dpkg -i /tmp/packages-microsoft-prod.deb && apt-get update && apt-get install -y dotnet-sdk-10.0";
export const DOTNET_PEER_VERSIONS = Object.freeze({
  "Azure.Storage.Blobs": "12.30.1",
  "Azure.Storage.Queues": "12.28.1",
  "WindowsAzure.Storage": "9.3.3",
  "Microsoft.Azure.KeyVault.Core": "2.0.4",
});
/** Exit codes of the peer (as azcse). */
export const DOTNET_EXIT = Object.freeze({ ok: 0, usage: 1, crypto: 2, notFound: 3, service: 4 });

const ENV = { DOTNET_NOLOGO: "1", DOTNET_CLI_TELEMETRY_OPTOUT: "1", DOTNET_SKIP_FIRST_TIME_EXPERIENCE: "1" };
let checked = false;

/** Throws (never skips) when the .NET 10 SDK is missing; builds the peer once (the wrapper rebuilds only on change). */
export function assertDotnetPeer() {
  if (checked) return;
  const v = spawnSync("dotnet", ["--list-sdks"], { encoding: "utf8", env: { ...process.env, ...ENV } });
  if (v.error || v.status !== 0 || !/^10\./m.test(v.stdout ?? "")) {
    const found = v.error ? "dotnet is not on PATH" : `dotnet --list-sdks shows no 10.x SDK: ${(v.stdout ?? "").trim() || v.stderr?.trim()}`;
    throw new Error(`The .NET 10 SDK (interop peer) is missing (${found}). Install it as root with: ${DOTNET_INSTALL_COMMAND}`);
  }
  const b = spawnSync(DOTNET_PEER, ["--help"], { encoding: "utf8", env: { ...process.env, ...ENV }, timeout: 600_000 });
  if (b.status !== 0) throw new Error(`tools/dotnet-peer did not build: ${(b.stderr || b.error?.message || "").slice(-3000)}`);
  checked = true;
}

function spawnPeer(args, { connectionString, input, timeoutMs = 300_000 } = {}) {
  assertDotnetPeer();
  return new Promise((resolve, reject) => {
    const env = { ...process.env, ...ENV };
    if (connectionString) env.AZURE_STORAGE_CONNECTION_STRING = connectionString;
    const child = spawn(DOTNET_PEER, args, { stdio: ["pipe", "pipe", "pipe"], env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (signal) return reject(new Error(`dotnet-peer ${args[0]} killed by ${signal} after ${timeoutMs} ms: ${stderr.slice(-2000)}`));
      resolve({ exit: code ?? 1, stdout, stderr });
    });
    child.stdin.end(input ?? "");
  });
}

/** Runs one peer command; `result` is the JSON line printed on success, `error` the one-line stderr otherwise. */
export async function runDotnetPeer(args, options = {}) {
  const { exit, stdout, stderr } = await spawnPeer(args, options);
  let result = null;
  if (exit === 0) {
    const line = stdout.trim().split("\n").pop() ?? "";
    try {
      result = JSON.parse(line);
    } catch {
      throw new Error(`dotnet-peer ${args[0]} printed no JSON: ${stdout.slice(-1000)}`);
    }
  }
  return { exit, result, error: exit === 0 ? null : stderr.trim() };
}

/** Runs many peer commands in one .NET process (`run batch`); one `{ exit, result, error }` per command, in order. */
export async function runDotnetBatch(commands, options = {}) {
  if (commands.length === 0) return [];
  const input = commands.map((c) => JSON.stringify(c)).join("\n") + "\n";
  const { exit, stdout, stderr } = await spawnPeer(["batch"], { ...options, input, timeoutMs: options.timeoutMs ?? 600_000 });
  if (exit !== 0) throw new Error(`dotnet-peer batch exited ${exit}: ${stderr.slice(-3000)}`);
  const lines = stdout.trim().split("\n").filter((l) => l.length > 0);
  if (lines.length !== commands.length) throw new Error(`dotnet-peer batch answered ${lines.length} of ${commands.length} commands: ${stderr.slice(-3000)}`);
  return lines.map((l) => JSON.parse(l));
}
