#!/usr/bin/env node
// Entry point behind `npm run demo`, `npm test` and `npm run bench` on a fresh machine with only
// Node 20 and npm: installs the workspace with a pinned pnpm (corepack is not used), makes sure the
// Python SDK and .NET SDK interop peers are present for tests, builds, then runs the task.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
const pnpmSpec = pkg.packageManager; // e.g. pnpm@10.34.9
const env = { ...process.env, PATH: `${path.join(root, "node_modules", ".bin")}${path.delimiter}${process.env.PATH}` };
const task = process.argv[2] ?? "test";
const rest = process.argv.slice(3);

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit", env, ...opts });
  if (r.error) throw r.error;
  return r.status ?? 1;
}
function must(cmd, args, what) {
  const code = run(cmd, args);
  if (code !== 0) {
    console.error(`\n[azcse] ${what} failed (exit ${code}).`);
    process.exit(code);
  }
}
/**
 * Runs independent checks at once (their output is held and printed whole, one after the other, as each ends);
 * exits with the first failure's code after all have ended.
 */
async function mustAll(jobs) {
  const started = Date.now();
  const results = await Promise.all(
    jobs.map(
      ([cmd, args, what]) =>
        new Promise((resolve) => {
          const t = Date.now();
          const child = spawn(cmd, args, { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
          let out = "";
          child.stdout.on("data", (d) => (out += d));
          child.stderr.on("data", (d) => (out += d));
          child.on("error", (e) => resolve({ what, code: 1, out: `${out}${String(e)}\n`, ms: Date.now() - t }));
          child.on("close", (code) => {
            const r = { what, code: code ?? 1, out, ms: Date.now() - t };
            log(`${what}: ${r.code === 0 ? "passed" : `FAILED (exit ${r.code})`} in ${(r.ms / 1000).toFixed(0)} s`);
            process.stdout.write(out.endsWith("\n") || out === "" ? out : `${out}\n`);
            resolve(r);
          });
        }),
    ),
  );
  log(`${jobs.length} checks at once took ${((Date.now() - started) / 1000).toFixed(0)} s`);
  const failed = results.find((r) => r.code !== 0);
  if (failed) {
    console.error(`\n[azcse] ${failed.what} failed (exit ${failed.code}).`);
    process.exit(failed.code);
  }
}
function log(s) {
  console.log(`[azcse] ${s}`);
}

function install() {
  const stamp = path.join(root, "node_modules", ".modules.yaml");
  const lock = path.join(root, "pnpm-lock.yaml");
  const pnpmBin = path.join(root, "node_modules", ".bin", "pnpm");
  if (existsSync(stamp) && existsSync(pnpmBin) && process.env.CI !== "true") {
    // Re-install only when the lockfile is newer than the install.
    if (mtime(lock) <= mtime(stamp)) return;
  }
  log(`installing dependencies with ${pnpmSpec} (npx, no corepack)`);
  const frozen = process.env.CI === "true" ? ["--frozen-lockfile"] : [];
  must("npx", ["-y", pnpmSpec, "install", ...frozen], "dependency install");
}
function mtime(p) {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return 0;
  }
}

const PY = "/usr/bin/python3";
const PY_PKGS = ["python3-azure", "python3-azure-cosmosdb-table"];
const PY_CHECK = "import azure.storage.blob, azure.storage.queue, azure.cosmosdb.table, cryptography";
function ensurePythonPeer() {
  const ok = () => spawnSync(PY, ["-c", PY_CHECK], { stdio: "ignore" }).status === 0;
  if (ok()) return;
  const cmd = `apt-get update && apt-get install -y ${PY_PKGS.join(" ")}`;
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  if (isRoot) {
    log(`installing the Python SDK interop peer: ${cmd}`);
    const r = spawnSync("sh", ["-c", `DEBIAN_FRONTEND=noninteractive ${cmd}`], { stdio: "inherit" });
    if (r.status === 0 && ok()) return;
  }
  console.error(`[azcse] The official Python SDK (interop peer) is missing and could not be installed.\n[azcse] Run as root:  ${cmd}`);
  process.exit(1);
}

// The browser tests (examples/browser, issue 17) drive Debian's chromium through playwright-core: never a
// downloaded browser. Installed here as root with apt, else the exact command is printed; never skipped.
const CHROMIUM = "/usr/bin/chromium";
function ensureChromium() {
  if (existsSync(CHROMIUM)) return;
  const cmd = "apt-get update && apt-get install -y chromium";
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  if (isRoot) {
    log(`installing Chromium for the browser tests: ${cmd}`);
    const r = spawnSync("sh", ["-c", `DEBIAN_FRONTEND=noninteractive ${cmd}`], { stdio: "inherit" });
    if (r.status === 0 && existsSync(CHROMIUM)) return;
  }
  console.error(`[azcse] Chromium (for the browser tests, examples/browser) is missing at ${CHROMIUM} and could not be installed.\n[azcse] Run as root:  ${cmd}`);
  process.exit(1);
}

// The .NET interop peer (issue 13): the .NET 10 SDK must be present — the tests fail, never skip, without it.
const DOTNET_INSTALL =
  "wget -q https://packages.microsoft.com/config/debian/12/packages-microsoft-prod.deb -O /tmp/packages-microsoft-prod.deb && dpkg -i /tmp/packages-microsoft-prod.deb && apt-get update && apt-get install -y dotnet-sdk-10.0";
function ensureDotnetPeer() {
  const sdks = spawnSync("dotnet", ["--list-sdks"], { encoding: "utf8" });
  if (sdks.error || sdks.status !== 0 || !/^10\./m.test(sdks.stdout ?? "")) {
    console.error(`[azcse] The .NET 10 SDK (the .NET interop peer, tools/dotnet-peer) is missing${sdks.error ? "" : ` (dotnet --list-sdks: ${(sdks.stdout ?? "").trim() || "none"})`}.\n[azcse] Install it as root:  ${DOTNET_INSTALL}`);
    process.exit(1);
  }
  // Restore and build the peer once here (Release; the wrapper rebuilds only when its sources change).
  log("building the .NET interop peer (tools/dotnet-peer)");
  const code = run(path.join(root, "tools", "dotnet-peer", "run"), ["--help"], { stdio: ["ignore", "ignore", "inherit"] });
  if (code !== 0) {
    console.error(`\n[azcse] .NET interop peer build failed (exit ${code}); see tools/dotnet-peer/obj/peer-build.log.`);
    process.exit(code);
  }
}

install();
if (task === "test") {
  ensurePythonPeer();
  ensureChromium();
  ensureDotnetPeer();
  must("turbo", ["run", "build", "--output-logs=errors-only"], "build");
  must("turbo", ["run", "typecheck", "--output-logs=errors-only"], "typecheck");
  must("eslint", ["."], "lint");
  if (rest.length > 0) {
    // A caller's own turbo arguments (e.g. --filter): one package at a time, as asked.
    must("turbo", ["run", "test", "--concurrency=1", ...rest], "tests");
  } else {
    // Two package suites at a time: each starts its own Azurite on free ports, and most of their time is spent
    // waiting on child processes (Azurite, the CLI, Python, .NET, Chromium), so two overlap well on 2 cores.
    // The doc test runs alone afterwards: its "Use it today" example reinstalls and rebuilds the workspace, which
    // must not happen under another suite that loads the built packages.
    must("turbo", ["run", "test", "--concurrency=2", "--filter=!@azure-cse/doc-test"], "tests");
    must("turbo", ["run", "test", "--filter=@azure-cse/doc-test"], "doc test");
  }
  // Packaging (issue 9): API surface locked, every tarball installs alone, API docs build, release dry run.
  // Independent of each other (none writes what another reads), so they run at once.
  await mustAll([
    ["node", ["tools/api-report.mjs", "--check"], "API report check"],
    ["node", ["tools/check-packages.mjs"], "package check"],
    ["typedoc", [], "API reference build (docs/api)"],
    ["pnpm", ["run", "release:dry-run"], "release dry run"],
  ]);
  log("all tests passed");
} else if (task === "demo") {
  must("turbo", ["run", "build", "--output-logs=errors-only"], "build");
  process.exit(run("node", [path.join("tools", "demo", "demo.mjs"), ...rest]));
} else if (task === "bench") {
  must("turbo", ["run", "build", "--output-logs=errors-only"], "build");
  const core = run("node", [path.join("tools", "bench", "bench.mjs"), ...rest]);
  const service = run("node", [path.join("tools", "bench", "service-bench.mjs"), ...rest]);
  process.exit(core || service);
} else {
  console.error(`unknown task ${task}; use test, demo or bench`);
  process.exit(1);
}
