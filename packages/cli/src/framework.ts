// Minimal, dependency-free command framework for azcse: flags, typed errors → exit codes.
import { createWriteStream, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  ClientSideEncryptionError,
  createLocalKeyResolver,
  keyFromJwk,
  type ClientSideEncryptionPolicy,
  type KeyEncryptionKey,
} from "@azure-cse/core-envelope";

/** Exit codes are a contract: scripts depend on them. */
export const EXIT = { ok: 0, usage: 1, crypto: 2, notFound: 3, service: 4 } as const;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export interface FlagSpec {
  /** Flag takes a value (otherwise boolean). */
  value?: boolean;
  /** May be given several times. */
  repeat?: boolean;
  required?: boolean;
}

export interface ParsedArgs {
  positionals: string[];
  flags: Map<string, string[]>;
  has(name: string): boolean;
  get(name: string): string | undefined;
  all(name: string): string[];
  int(name: string): number | undefined;
}

export function parseArgs(argv: readonly string[], spec: Record<string, FlagSpec>): ParsedArgs {
  const positionals: string[] = [];
  const flags = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      const s = spec[name];
      if (!s) throw new UsageError(`unknown option --${name}`);
      let v = "true";
      if (s.value) {
        if (eq > 0) v = a.slice(eq + 1);
        else {
          const next = argv[++i];
          if (next === undefined) throw new UsageError(`--${name} needs a value`);
          v = next;
        }
      } else if (eq > 0) throw new UsageError(`--${name} takes no value`);
      const list = flags.get(name) ?? [];
      if (list.length && !s.repeat) throw new UsageError(`--${name} given more than once`);
      list.push(v);
      flags.set(name, list);
    } else positionals.push(a);
  }
  for (const [name, s] of Object.entries(spec)) if (s.required && !flags.has(name)) throw new UsageError(`--${name} is required`);
  return {
    positionals,
    flags,
    has: (n) => flags.has(n),
    get: (n) => flags.get(n)?.[0],
    all: (n) => flags.get(n) ?? [],
    int(n) {
      const v = flags.get(n)?.[0];
      if (v === undefined) return undefined;
      if (!/^\d+$/.test(v)) throw new UsageError(`--${n} must be a non-negative integer`);
      const x = Number(v);
      if (!Number.isSafeInteger(x)) throw new UsageError(`--${n} is too large`);
      return x;
    },
  };
}

/** Loads private JWK files (`--key FILE`, repeatable). */
export function loadKeys(files: readonly string[]): KeyEncryptionKey[] {
  if (files.length === 0) throw new UsageError("--key FILE is required (a private JWK with kid and alg)");
  return files.map((f) => {
    let text: string;
    try {
      text = readFileSync(f, "utf8");
    } catch {
      throw new UsageError(`cannot read key file ${f}`);
    }
    let jwk: unknown;
    try {
      jwk = JSON.parse(text);
    } catch {
      throw new UsageError(`key file ${f} is not JSON (expected a private JWK)`);
    }
    return keyFromJwk(jwk as Record<string, unknown>);
  });
}

/** First key encrypts; every key is offered for decryption through a resolver by kid. */
export function policyFromKeyFiles(files: readonly string[], extra: ClientSideEncryptionPolicy = {}): ClientSideEncryptionPolicy {
  const keys = loadKeys(files);
  return { ...extra, keyEncryptionKey: keys[0], keyResolver: createLocalKeyResolver(keys) };
}

export interface Io {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

export type CommandHandler = (argv: string[], io: Io) => Promise<number>;

export interface CommandDef {
  /** e.g. ["blob", "encrypt-file"] */
  path: string[];
  usage: string;
  run: CommandHandler;
}

const NOT_FOUND_CODES = new Set(["NOT_FOUND"]);
const SERVICE_CODES = new Set(["SERVICE_ERROR", "CONDITION_NOT_MET"]);

/** Maps any error to an exit code and prints the typed code (never secrets) to stderr. */
export function reportError(e: unknown, io: Io): number {
  if (e instanceof UsageError) {
    io.stderr(`azcse: ${e.message}\n`);
    return EXIT.usage;
  }
  if (ClientSideEncryptionError.is(e)) {
    io.stderr(`azcse: ${e.code}: ${e.message}\n`);
    if (NOT_FOUND_CODES.has(e.code)) return EXIT.notFound;
    if (SERVICE_CODES.has(e.code)) return EXIT.service;
    if (e.code === "INVALID_ARGUMENT") return EXIT.usage;
    return EXIT.crypto;
  }
  const err = e as { statusCode?: number; code?: string; message?: string };
  if (err && typeof err.statusCode === "number") {
    if (err.statusCode === 404) {
      io.stderr(`azcse: NOT_FOUND: ${err.code ?? "the resource does not exist"}\n`);
      return EXIT.notFound;
    }
    io.stderr(`azcse: SERVICE_ERROR: HTTP ${err.statusCode} ${err.code ?? ""}\n`);
    return EXIT.service;
  }
  if (err && (err.code === "ENOENT" || err.code === "EISDIR")) {
    io.stderr(`azcse: NOT_FOUND: ${err.message ?? "file not found"}\n`);
    return EXIT.notFound;
  }
  if (err && typeof err.code === "string" && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN)$/.test(err.code)) {
    io.stderr(`azcse: SERVICE_ERROR: ${err.code}\n`);
    return EXIT.service;
  }
  io.stderr(`azcse: SERVICE_ERROR: ${err?.message ?? String(e)}\n`);
  return EXIT.service;
}

/** Storage connection: --connection-string or AZURE_STORAGE_CONNECTION_STRING. */
export function connectionString(args: ParsedArgs): string {
  const cs = args.get("connection-string") ?? process.env.AZURE_STORAGE_CONNECTION_STRING;
  if (!cs) throw new UsageError("set AZURE_STORAGE_CONNECTION_STRING or pass --connection-string");
  return cs;
}

/** Flags of every command that talks to a storage account: the connection and the SDK's request retries. */
export const SERVICE_FLAGS: Record<string, FlagSpec> = {
  "connection-string": { value: true },
  "max-tries": { value: true },
  "retry-delay-ms": { value: true },
};
export const SERVICE_USAGE = "[--connection-string CS] [--max-tries N] [--retry-delay-ms MS]";

/**
 * --max-tries N (1–50: attempts per request, 1 = no retry) and --retry-delay-ms MS (0–600000: base delay of the
 * SDK's exponential backoff); the SDK defaults when absent.
 */
export function retrySettings(args: ParsedArgs): { maxTries?: number; retryDelayInMs?: number } {
  const maxTries = args.int("max-tries");
  const retryDelayInMs = args.int("retry-delay-ms");
  if (maxTries !== undefined && (maxTries < 1 || maxTries > 50)) throw new UsageError("--max-tries must be from 1 to 50");
  if (retryDelayInMs !== undefined && retryDelayInMs > 600_000) throw new UsageError("--retry-delay-ms must be at most 600000");
  const out: { maxTries?: number; retryDelayInMs?: number } = {};
  if (maxTries !== undefined) out.maxTries = maxTries;
  if (retryDelayInMs !== undefined) out.retryDelayInMs = retryDelayInMs;
  return out;
}

/** Options of a blob or queue client (`StoragePipelineOptions`) for the retry flags. */
export function storageClientOptions(args: ParsedArgs): { retryOptions?: { maxTries?: number; retryDelayInMs?: number } } {
  const r = retrySettings(args);
  return Object.keys(r).length ? { retryOptions: r } : {};
}

/**
 * Options of a `TableClient` for a connection string: plain-HTTP endpoints (Azurite, development storage) must be
 * allowed explicitly by the SDK; the retry flags map onto its `maxRetries` (tries - 1).
 */
export function tableClientOptions(args: ParsedArgs, cs: string): { allowInsecureConnection: boolean; retryOptions?: { maxRetries?: number; retryDelayInMs?: number } } {
  const insecure = /(^|;)\s*(DefaultEndpointsProtocol=http|UseDevelopmentStorage=true)\s*(;|$)|TableEndpoint=http:/i.test(cs);
  const r = retrySettings(args);
  const retryOptions: { maxRetries?: number; retryDelayInMs?: number } = {};
  if (r.maxTries !== undefined) retryOptions.maxRetries = r.maxTries - 1;
  if (r.retryDelayInMs !== undefined) retryOptions.retryDelayInMs = r.retryDelayInMs;
  return Object.keys(retryOptions).length ? { allowInsecureConnection: insecure, retryOptions } : { allowInsecureConnection: insecure };
}

function partialPath(out: string): string {
  return path.join(path.dirname(path.resolve(out)), `.${path.basename(out)}.${randomBytes(6).toString("hex")}.partial`);
}

/** Writes through a temporary sibling renamed into place: a failure leaves no output, not even a partial one. */
export function writeFileAtomically(out: string, data: Uint8Array | string): void {
  const tmp = partialPath(out);
  try {
    writeFileSync(tmp, data, { mode: 0o600 });
    renameSync(tmp, out);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** Streaming twin of writeFileAtomically. */
export async function writeStreamAtomically(out: string, source: AsyncIterable<Uint8Array>): Promise<void> {
  const tmp = partialPath(out);
  try {
    await pipeline(Readable.from(source), createWriteStream(tmp, { mode: 0o600 }));
    renameSync(tmp, out);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
