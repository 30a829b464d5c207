// Shared helpers of the security-*.test.ts suites: the real azcse process (bundled from the TypeScript sources,
// so no stale dist/ is involved), an in-process runner, keys, directory snapshots and a stalling HTTP proxy.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import http from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { main } from "../src/main.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..", "..");

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
}

/** In-process azcse (same code as the binary, without the process-level signal handlers). */
export async function azcse(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(argv, { stdout: (s) => (out += s), stderr: (s) => (err += s) });
  return { code, out, err };
}

/**
 * Bundles packages/cli/src/cli.ts (workspace packages from their sources) into one CommonJS file with the esbuild
 * that vitest already ships (through vite), so the real process can be spawned and signalled.
 */
export async function buildCli(): Promise<{ cli: string; dispose: () => void }> {
  const fromCli = createRequire(path.join(root, "packages", "cli", "package.json"));
  const fromVitest = createRequire(fromCli.resolve("vitest/package.json"));
  const fromVite = createRequire(fromVitest.resolve("vite/package.json"));
  const esbuild = fromVite("esbuild") as EsbuildLike;
  const dir = mkdtempSync(path.join(tmpdir(), "azcse-bundle-"));
  const cli = path.join(dir, "azcse.cjs");
  await esbuild.build({
    entryPoints: [path.join(root, "packages", "cli", "src", "cli.ts")],
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    outfile: cli,
    logLevel: "error",
    plugins: [
      {
        name: "workspace-sources",
        setup(b) {
          b.onResolve({ filter: /^@azure-cse\/[a-z-]+$/ }, (a) => ({ path: path.join(root, "packages", a.path.slice("@azure-cse/".length), "src", "index.ts") }));
        },
      },
    ],
  });
  return { cli, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The part of esbuild's API used here (esbuild is vite's dependency, not ours: no type import). */
interface EsbuildLike {
  build(options: {
    entryPoints: string[];
    bundle: boolean;
    platform: "node";
    format: "cjs";
    target: string;
    outfile: string;
    logLevel: "error";
    plugins: Array<{ name: string; setup(b: { onResolve(o: { filter: RegExp }, cb: (a: { path: string }) => { path: string }): void }): void }>;
  }): Promise<unknown>;
}

export interface Spawned {
  child: ChildProcess;
  done: Promise<Run>;
}

/** Spawns the bundled CLI. `stdin` is piped (write to child.stdin) unless "ignore". */
export function spawnCli(cli: string, args: string[], options: { env?: NodeJS.ProcessEnv; stdin?: "pipe" | "ignore"; cwd?: string } = {}): Spawned {
  const child = spawn(process.execPath, [cli, ...args], {
    env: { ...process.env, ...options.env },
    stdio: [options.stdin ?? "ignore", "pipe", "pipe"],
    cwd: options.cwd,
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (err += d));
  const done = new Promise<Run>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, out, err }));
  });
  return { child, done };
}

export function runCli(cli: string, args: string[], options: { env?: NodeJS.ProcessEnv; input?: Buffer | string } = {}): Promise<Run> {
  const s = spawnCli(cli, args, { env: options.env, stdin: options.input === undefined ? "ignore" : "pipe" });
  if (options.input !== undefined) s.child.stdin!.end(options.input);
  return s.done;
}

/** Every entry of a directory, recursively, including hidden ones. */
export function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string): void => {
    for (const name of readdirSync(d)) {
      const r = rel ? `${rel}/${name}` : name;
      out.push(r);
      if (statSync(path.join(d, name)).isDirectory()) walk(path.join(d, name), r);
    }
  };
  walk(dir, "");
  return out.sort();
}

/** Entries of `dir` that are staging directories of azcse (`.NAME.<hex>.azcse-tmp`). */
export function stagingEntries(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.endsWith(".azcse-tmp"));
}

/** Size of the staged data file of the first staging directory (0 when there is none yet). */
export function stagedBytes(dir: string): number {
  for (const s of stagingEntries(dir)) {
    try {
      return statSync(path.join(dir, s, "data")).size;
    } catch {
      // not created yet
    }
  }
  return 0;
}

export async function waitFor(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export interface StallProxy {
  url: string;
  /** Requests whose response was held. */
  stalled: () => number;
  close: () => Promise<void>;
}

/**
 * An HTTP proxy to `target` (e.g. azurite.queueUrl) that relays every response, except that for requests where
 * `holdAfter(method, url)` returns a number it sends the headers and only that many body bytes, then holds the
 * connection open until closed: the client is stuck mid-download for as long as the test wants.
 */
export async function stallProxy(target: string, holdAfter: (method: string, url: string) => number | undefined): Promise<StallProxy> {
  const t = new URL(target);
  let stalled = 0;
  const server = http.createServer((req, res) => {
    const up = http.request(
      { host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers },
      (ur) => {
        const limit = holdAfter(req.method ?? "GET", req.url ?? "");
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        if (limit === undefined) {
          ur.pipe(res);
          return;
        }
        stalled++;
        let sent = 0;
        ur.on("data", (c: Buffer) => {
          if (sent >= limit) return;
          const part = c.subarray(0, limit - sent);
          sent += part.length;
          res.write(part);
        });
      },
    );
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${t.protocol}//127.0.0.1:${port}${t.pathname}`.replace(/\/$/, ""),
    stalled: () => stalled,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** The connection string with one service's endpoint replaced (keeps the account path). */
export function withEndpoint(connectionString: string, service: "blob" | "queue" | "table", url: string): string {
  const key = { blob: "BlobEndpoint", queue: "QueueEndpoint", table: "TableEndpoint" }[service];
  return connectionString
    .split(";")
    .filter(Boolean)
    .map((p) => (p.toLowerCase().startsWith(key.toLowerCase() + "=") ? `${key}=${url}` : p))
    .join(";");
}

/** True when the text holds a raw control character a terminal could act on (C0 except \n, DEL, C1, bidi). */
export function hasRawControl(s: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/.test(s);
}
