// Minimal, dependency-free command framework for azcse: flags, typed errors → exit codes.
import { readFileSync } from "node:fs";
import {
  ClientSideEncryptionError,
  createLocalKeyResolver,
  DECRYPTION_FAILED_MESSAGE,
  keyFromJwk,
  MAX_REGION_SIZE,
  MIN_REGION_SIZE,
  toTypedError,
  type ClientSideEncryptionPolicy,
  type EncryptionProtocol,
  type KeyEncryptionKey,
} from "@azure-cse/core-envelope";
import { isNetworkErrorCode } from "@azure-cse/core-envelope/internal";
import { UsageError } from "./errors.js";
import { StagedOutputs } from "./files.js";
import { escapeMessage } from "./terminal.js";

export { UsageError };

/** Exit codes are a contract: scripts depend on them. */
export const EXIT = { ok: 0, usage: 1, crypto: 2, notFound: 3, service: 4 } as const;

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

/** Loads private JWK files (`--key FILE`, repeatable); every problem with a file names the flag. */
export function loadKeys(files: readonly string[], flag = "--key"): KeyEncryptionKey[] {
  if (files.length === 0) throw new UsageError(`${flag} FILE is required (a private JWK with kid and alg)`);
  return files.map((f) => {
    if (f.length === 0) throw new UsageError(`${flag} needs a file path`);
    let text: string;
    try {
      text = readFileSync(f, "utf8");
    } catch (e) {
      const code = (e as { code?: string }).code;
      throw new UsageError(`${flag}: cannot read key file ${f}${code ? ` (${code})` : ""}`);
    }
    let jwk: unknown;
    try {
      jwk = JSON.parse(text);
    } catch {
      throw new UsageError(`${flag}: key file ${f} is not JSON (expected a private JWK)`);
    }
    if (typeof jwk !== "object" || jwk === null || Array.isArray(jwk)) throw new UsageError(`${flag}: key file ${f} must hold one JWK object`);
    try {
      return keyFromJwk(jwk as Record<string, unknown>);
    } catch (e) {
      if (ClientSideEncryptionError.is(e)) throw new UsageError(`${flag}: key file ${f}: ${e.message}`);
      throw new UsageError(`${flag}: key file ${f} is not a usable private JWK`);
    }
  });
}

/** First key encrypts; every key is offered for decryption through a resolver by kid. */
export function policyFromKeyFiles(files: readonly string[], extra: ClientSideEncryptionPolicy = {}): ClientSideEncryptionPolicy {
  const keys = loadKeys(files);
  const seen = new Map<string, string>();
  keys.forEach((k, i) => {
    const other = seen.get(k.keyId);
    if (other !== undefined) throw new UsageError(`--key: ${other} and ${files[i]} hold the same key id ${JSON.stringify(k.keyId)}; give each key once`);
    seen.set(k.keyId, files[i]!);
  });
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
  /** Offline commands (no service): untyped failures are encryption/decryption failures (see reportError). */
  offline?: "decrypt" | "encrypt";
}

const NOT_FOUND_CODES = new Set(["NOT_FOUND"]);
const SERVICE_CODES = new Set(["SERVICE_ERROR", "CONDITION_NOT_MET"]);
const LOCAL_FILE_CODES = /^(EACCES|EPERM|EROFS|ENOTDIR|ENAMETOOLONG|ELOOP|EEXIST|EBUSY|ETXTBSY|EINVAL)$/;

/** How reportError treats errors that carry no typed code. */
export interface ReportContext {
  /**
   * The command decodes stored data without any service (offline decrypt): an untyped failure while it runs is a
   * decryption failure (exit 2), never a service error or a caller error.
   */
  offline?: "decrypt" | "encrypt";
}

/**
 * Maps any error to an exit code and prints the typed code (never secrets) to stderr. The message is escaped at
 * this boundary: error messages may embed stored values (key ids, protocols, names), which must not reach a
 * terminal raw.
 */
export function reportError(e: unknown, io: Io, context: ReportContext = {}): number {
  const say = (text: string): void => io.stderr(escapeMessage(`azcse: ${text}\n`));
  if (e instanceof UsageError) {
    say(e.message);
    return EXIT.usage;
  }
  if (ClientSideEncryptionError.is(e)) {
    const cause = (e as { cause?: { code?: unknown; message?: unknown } }).cause;
    const because = e.code === "SOURCE_ERROR" && cause && typeof cause.message === "string" ? ` (${cause.message})` : "";
    say(`${e.code}: ${e.message}${because}`);
    if (NOT_FOUND_CODES.has(e.code)) return EXIT.notFound;
    if (SERVICE_CODES.has(e.code)) return EXIT.service;
    if (e.code === "INVALID_ARGUMENT") return EXIT.usage;
    // The caller's own input failed while it was read: gone (3) or otherwise unreadable (1), never exit 2 or 4.
    if (e.code === "SOURCE_ERROR") return cause?.code === "ENOENT" ? EXIT.notFound : EXIT.usage;
    return EXIT.crypto;
  }
  const err = e as { statusCode?: number; code?: string; message?: string } | null | undefined;
  // A service answer or a socket failure: the same typed code the libraries throw (core's toTypedError:
  // 404 → NOT_FOUND, 412 → CONDITION_NOT_MET, others SERVICE_ERROR).
  if (err && (typeof err.statusCode === "number" || isNetworkErrorCode(err.code))) return reportError(toTypedError(e), io, context);
  if (err && (err.code === "ENOENT" || err.code === "EISDIR")) {
    say(`NOT_FOUND: ${err.message ?? "file not found"}`);
    return EXIT.notFound;
  }
  if (err && typeof err.code === "string" && LOCAL_FILE_CODES.test(err.code)) {
    say(`${err.message ?? err.code}`);
    return EXIT.usage;
  }
  if (context.offline === "decrypt") {
    // Offline there is no service: whatever the stored bytes did to the decoder, it is a decryption failure.
    say(`DECRYPTION_FAILED: ${DECRYPTION_FAILED_MESSAGE}`);
    return EXIT.crypto;
  }
  if (context.offline === "encrypt") {
    say(`ENCRYPTION_FAILED: ${err?.message ?? String(e)}`);
    return EXIT.crypto;
  }
  say(`SERVICE_ERROR: ${err?.message ?? String(e)}`);
  return EXIT.service;
}

/**
 * Runs the part of a read command that decodes stored data, after the command checked every caller value itself:
 * whatever the stored bytes make the decoders throw is a decryption failure (exit 2) — an INVALID_ARGUMENT becomes
 * INVALID_ENCRYPTION_DATA and an untyped error DECRYPTION_FAILED — while usage errors, service and file-system
 * errors keep their own codes.
 */
export async function decodingStoredData<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw asStoredDataFailure(e);
  }
}

export function asStoredDataFailure(e: unknown): unknown {
  if (e instanceof UsageError) return e;
  if (ClientSideEncryptionError.is(e)) {
    return e.code === "INVALID_ARGUMENT" ? new ClientSideEncryptionError("INVALID_ENCRYPTION_DATA", e.message, { cause: e }) : e;
  }
  const err = e as { statusCode?: unknown; code?: unknown; name?: unknown } | null | undefined;
  // Service answers, network and file-system errors keep their meaning; Node's own ERR_* codes (e.g. OpenSSL's
  // ERR_OSSL_BAD_DECRYPT) and anything untyped came from decoding the stored bytes.
  const systemCode = typeof err?.code === "string" && /^(E[A-Z0-9]+|REQUEST_SEND_ERROR)$/.test(err.code);
  if (err && (typeof err.statusCode === "number" || systemCode || err.name === "RestError" || err.name === "AbortError")) return e;
  return new ClientSideEncryptionError("DECRYPTION_FAILED", DECRYPTION_FAILED_MESSAGE, { cause: e });
}

// ------------------------------------------------------------------ read flags

/**
 * Flags of every command that reads (decrypts) stored data. `--allow-protocols 2.0,2.1` maps to the libraries'
 * `allowedReadProtocols`: data in any other protocol is refused (UNSUPPORTED_PROTOCOL, exit 2) before a key is
 * used. Without it every protocol is read (the libraries' default).
 */
export const READ_FLAGS: Record<string, FlagSpec> = {
  "allow-protocols": { value: true },
};
export const READ_USAGE = "[--allow-protocols 1.0,2.0,2.1]";
const PROTOCOLS: readonly EncryptionProtocol[] = ["1.0", "2.0", "2.1"];

/** `--allow-protocols P[,P...]` (each of 1.0, 2.0, 2.1), or undefined when not given. */
export function allowedReadProtocols(args: ParsedArgs): EncryptionProtocol[] | undefined {
  const v = args.get("allow-protocols");
  if (v === undefined) return undefined;
  const list = v.split(",").map((s) => s.trim());
  if (list.length === 0 || list.some((p) => p.length === 0)) throw new UsageError("--allow-protocols needs a comma-separated list of 1.0, 2.0, 2.1 (e.g. 2.0,2.1)");
  const bad = list.filter((p) => !(PROTOCOLS as readonly string[]).includes(p));
  if (bad.length) throw new UsageError(`--allow-protocols: unknown protocol ${bad.map((b) => JSON.stringify(b)).join(", ")} (allowed: 1.0, 2.0, 2.1)`);
  return [...new Set(list)] as EncryptionProtocol[];
}

/** The read-policy options of the read flags (spread into a ClientSideEncryptionPolicy). */
export function readPolicyOptions(args: ParsedArgs): Pick<ClientSideEncryptionPolicy, "allowedReadProtocols"> {
  const allowed = allowedReadProtocols(args);
  return allowed ? { allowedReadProtocols: allowed } : {};
}

/** Positional arguments: exactly `names`, none empty (the message names the missing or empty one). */
export function positionals(a: ParsedArgs, names: readonly string[]): string[] {
  if (a.positionals.length !== names.length) {
    throw new UsageError(`expected ${names.join(" ")} (got ${a.positionals.length} argument${a.positionals.length === 1 ? "" : "s"})`);
  }
  a.positionals.forEach((v, i) => {
    if (v.length === 0) throw new UsageError(`${names[i]} must not be empty`);
  });
  return a.positionals;
}

/** `--protocol 2.0|2.1|1.0` and `--region-size BYTES` (2.1 only, 16 B … 1 GiB) of the blob writers. */
export function blobWriteFlags(a: ParsedArgs): { protocol: "2.0" | "2.1" | "1.0"; regionSize: number | undefined } {
  const protocol = a.get("protocol") ?? "2.0";
  if (protocol !== "2.0" && protocol !== "2.1" && protocol !== "1.0") throw new UsageError("--protocol must be 2.0, 2.1 or 1.0");
  const regionSize = a.int("region-size");
  if (regionSize !== undefined && protocol !== "2.1") throw new UsageError("--region-size needs --protocol 2.1");
  if (regionSize !== undefined && (regionSize < MIN_REGION_SIZE || regionSize > MAX_REGION_SIZE)) {
    throw new UsageError(`--region-size must be from ${MIN_REGION_SIZE} to ${MAX_REGION_SIZE} bytes`);
  }
  return { protocol, regionSize };
}

/** Storage connection: --connection-string or AZURE_STORAGE_CONNECTION_STRING. */
export function connectionString(args: ParsedArgs): string {
  const fromFlag = args.get("connection-string");
  const cs = fromFlag ?? process.env.AZURE_STORAGE_CONNECTION_STRING;
  if (!cs) throw new UsageError("set AZURE_STORAGE_CONNECTION_STRING or pass --connection-string");
  const source = fromFlag !== undefined ? "--connection-string" : "AZURE_STORAGE_CONNECTION_STRING";
  const parts = cs.split(";").filter((p) => p.trim().length > 0);
  const keys = new Set<string>();
  for (const p of parts) {
    const eq = p.indexOf("=");
    if (eq <= 0) throw new UsageError(`${source} is not a storage connection string (expected KEY=VALUE;... parts)`);
    keys.add(p.slice(0, eq).trim().toLowerCase());
  }
  const usable = keys.has("usedevelopmentstorage") || keys.has("accountname") || keys.has("sharedaccesssignature") || [...keys].some((k) => k.endsWith("endpoint"));
  if (!usable) throw new UsageError(`${source} names no account or endpoint (AccountName=…;AccountKey=… or BlobEndpoint=…;SharedAccessSignature=…)`);
  return cs;
}

/**
 * Creates a service client from the connection string; the SDK's own refusal of a malformed string is a usage
 * error naming where the string came from.
 */
export function fromConnection<T>(args: ParsedArgs, create: (cs: string) => T): T {
  const cs = connectionString(args);
  try {
    return create(cs);
  } catch (e) {
    if (ClientSideEncryptionError.is(e) || e instanceof UsageError) throw e;
    const source = args.has("connection-string") ? "--connection-string" : "AZURE_STORAGE_CONNECTION_STRING";
    throw new UsageError(`${source} is not a usable storage connection string (${(e as Error)?.message ?? String(e)})`);
  }
}

/** Service resource names, checked before any request (the service would answer 400). */
export function checkResourceName(kind: "CONTAINER" | "BLOB" | "QUEUE" | "TABLE", name: string): string {
  const ok =
    kind === "CONTAINER"
      ? /^(\$root|\$logs|\$web|[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9])$/.test(name)
      : kind === "QUEUE"
        ? /^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/.test(name)
        : kind === "TABLE"
          ? /^[A-Za-z][A-Za-z0-9]{2,62}$/.test(name)
          : name.length >= 1 && name.length <= 1024;
  if (!ok) {
    const rule = {
      CONTAINER: "3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit",
      QUEUE: "3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit",
      TABLE: "3-63 letters and digits, starting with a letter",
      BLOB: "1-1024 characters",
    }[kind];
    throw new UsageError(`${kind} ${JSON.stringify(name)} is not a valid name (${rule})`);
  }
  return name;
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

/**
 * Writes `out` complete or not at all: staged in a private hidden directory next to it, renamed into place on
 * success; a failure or an interrupting signal leaves no entry behind. `label` names the flag in errors.
 */
export function writeFileAtomically(out: string, data: Uint8Array | string, label = "--out"): void {
  const staged = new StagedOutputs([{ label, path: out }]);
  try {
    staged.writeFile(0, data);
    staged.commit();
  } catch (e) {
    staged.abort();
    throw e;
  }
}

/** Streaming twin of writeFileAtomically; returns the number of bytes written. */
export async function writeStreamAtomically(out: string, source: AsyncIterable<Uint8Array>, label = "--out"): Promise<number> {
  return new StagedOutputs([{ label, path: out }]).run((o) => o.writeStream(0, source));
}
