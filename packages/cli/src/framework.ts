// Command framework for azcse: flags declared once per command (parsed with node:util parseArgs, usage and
// --help generated from the same declaration), typed errors → exit codes.
import { parseArgs as nodeParseArgs } from "node:util";
import {
  ClientSideEncryptionError,
  DECRYPTION_FAILED_MESSAGE,
  MAX_REGION_SIZE,
  MIN_REGION_SIZE,
  toTypedError,
  type ClientSideEncryptionPolicy,
  type EncryptionProtocol,
} from "@azure-cse/core-envelope";
import { isNetworkErrorCode } from "@azure-cse/core-envelope/internal";
import { UsageError } from "./errors.js";
import { StagedOutputs } from "./files.js";
import { escapeMessage } from "./terminal.js";

export { UsageError };

/** Exit codes are a contract: scripts depend on them. */
export const EXIT = { ok: 0, usage: 1, crypto: 2, notFound: 3, service: 4, local: 5 } as const;

/** The exit codes as the help prints them. */
export const EXIT_CODES_HELP =
  "Exit codes: 0 ok, 1 usage, 2 encryption/decryption failure, 3 not found, 4 service error, 5 local I/O or resource limit.";

export interface FlagSpec {
  /** Flag takes a value (otherwise boolean). */
  value?: boolean;
  /** May be given several times. */
  repeat?: boolean;
  required?: boolean;
  /** Placeholder of the value in usage and help, e.g. "FILE" or "2.0|2.1|1.0" (default VALUE). */
  arg?: string;
  /** One line of help. */
  help?: string;
  /**
   * Flags with the same `oneOf` name are alternatives: shown as `(--a A | --b B)` and exactly one of them must be
   * given (at most one when none of them is `required`).
   */
  oneOf?: string;
}

export type FlagSpecs = Record<string, FlagSpec>;

export interface ParsedArgs {
  positionals: string[];
  flags: Map<string, string[]>;
  has(name: string): boolean;
  get(name: string): string | undefined;
  all(name: string): string[];
  int(name: string): number | undefined;
}

/** Node's parse errors, reworded to name the flag the way the rest of azcse does. */
function usageFromNode(e: unknown, argv: readonly string[], spec: FlagSpecs): UsageError {
  const err = e as { code?: string; message?: string };
  const m = /'(-{1,2}[^' <]+)/.exec(err.message ?? "");
  const flag = m?.[1] ?? "";
  switch (err.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return new UsageError(`unknown option ${flag}${flag === "-h" ? " (use --help)" : ""}`);
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE": {
      const name = flag.replace(/^-+/, "");
      if (spec[name] && !spec[name].value) return new UsageError(`${flag} takes no value`);
      const i = argv.indexOf(flag);
      if (i >= 0 && i + 1 < argv.length) return new UsageError(`${flag} needs a value (${argv[i + 1]} looks like an option; to give a value that starts with "-", write ${flag}=VALUE)`);
      return new UsageError(`${flag} needs a value`);
    }
    default:
      return new UsageError(err.message ?? String(e));
  }
}

/** Parses a command line with node:util parseArgs (strict: unknown flags and missing values are usage errors). */
export function parseArgs(argv: readonly string[], spec: FlagSpecs): ParsedArgs {
  const options: Record<string, { type: "string" | "boolean"; multiple: true }> = {};
  for (const [name, s] of Object.entries(spec)) options[name] = { type: s.value ? "string" : "boolean", multiple: true };
  let parsed: { values: Record<string, Array<string | boolean> | undefined>; positionals: string[] };
  try {
    parsed = nodeParseArgs({ args: [...argv], options, strict: true, allowPositionals: true }) as typeof parsed;
  } catch (e) {
    throw usageFromNode(e, argv, spec);
  }
  const flags = new Map<string, string[]>();
  for (const [name, values] of Object.entries(parsed.values)) {
    if (!values || values.length === 0) continue;
    if (values.length > 1 && !spec[name]!.repeat) throw new UsageError(`--${name} given more than once`);
    flags.set(name, values.map((v) => (typeof v === "boolean" ? "true" : v)));
  }
  for (const [name, s] of Object.entries(spec)) if (s.required && !s.oneOf && !flags.has(name)) throw new UsageError(`--${name} is required`);
  const groups = new Map<string, string[]>();
  for (const [name, s] of Object.entries(spec)) if (s.oneOf) groups.set(s.oneOf, [...(groups.get(s.oneOf) ?? []), name]);
  for (const names of groups.values()) {
    const given = names.filter((n) => flags.has(n));
    const required = names.some((n) => spec[n]!.required);
    if (given.length > 1 || (required && given.length === 0)) {
      throw new UsageError(`give ${required ? "exactly" : "at most"} one of ${names.map((n) => `--${n}${spec[n]!.value ? ` ${spec[n]!.arg ?? "VALUE"}` : ""}`).join(" or ")}`);
    }
  }
  return {
    positionals: parsed.positionals,
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

// ------------------------------------------------------------------ commands, usage and help

export interface Io {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

/** Runs a command with its parsed command line. */
export type CommandHandler = (args: ParsedArgs, io: Io) => Promise<number>;

export interface CommandSpec {
  /** e.g. ["blob", "encrypt-file"] */
  path: string[];
  /** Positional arguments as shown in the usage, e.g. "CONTAINER BLOB FILE". */
  args?: string;
  /** What the command does (one line; `azcse CMD --help` and the command list). */
  summary: string;
  /** Every flag of the command: the one declaration parsing, usage and help are made from. */
  flags: FlagSpecs;
  run: CommandHandler;
  /** Offline commands (no service): untyped failures are encryption/decryption failures (see reportError). */
  offline?: "decrypt" | "encrypt";
}

export interface CommandDef extends CommandSpec {
  /** The usage line (without "azcse "), generated from `path`, `args` and `flags`. */
  readonly usage: string;
}

function flagUsage(name: string, s: FlagSpec): string {
  return s.value ? `--${name} ${s.arg ?? "VALUE"}` : `--${name}`;
}

/** The usage line of a command, generated from its declaration. */
export function usageOf(spec: Pick<CommandSpec, "path" | "args" | "flags">): string {
  const parts = [...spec.path];
  if (spec.args) parts.push(spec.args);
  const done = new Set<string>();
  const entries = Object.entries(spec.flags);
  // Required flags first (in declaration order), then the optional ones.
  const ordered = [...entries.filter(([, s]) => s.required), ...entries.filter(([, s]) => !s.required)];
  for (const [name, s] of ordered) {
    if (done.has(name)) continue;
    if (s.oneOf) {
      const group = entries.filter(([, o]) => o.oneOf === s.oneOf);
      group.forEach(([n]) => done.add(n));
      const text = group.map(([n, o]) => flagUsage(n, o)).join(" | ");
      parts.push(group.some(([, o]) => o.required) ? `(${text})` : `[${text}]`);
      continue;
    }
    done.add(name);
    const text = flagUsage(name, s) + (s.repeat ? "..." : "");
    parts.push(s.required ? text : `[${text}]`);
  }
  return parts.join(" ");
}

/** Declares a command; its usage line is generated from the declaration. */
export function defineCommand(spec: CommandSpec): CommandDef {
  return { ...spec, usage: usageOf(spec) };
}

/** `azcse CMD --help`: usage, summary and one line per flag, all from the declaration. */
export function commandHelp(cmd: CommandDef): string {
  const rows = Object.entries(cmd.flags).map(([name, s]) => {
    const group = s.oneOf ? Object.entries(cmd.flags).filter(([, o]) => o.oneOf === s.oneOf).map(([n]) => `--${n}`) : [];
    const need = s.oneOf ? ` (${s.required ? "one of" : "at most one of"} ${group.join(", ")})` : s.required ? " (required)" : "";
    const left = flagUsage(name, s) + (s.repeat ? " (repeatable)" : "") + need;
    return [left, s.help ?? ""] as const;
  });
  const width = Math.min(44, Math.max(0, ...rows.map(([l]) => l.length)));
  const lines = [`Usage: azcse ${cmd.usage}`, "", cmd.summary, ""];
  if (rows.length) {
    lines.push("Flags:");
    for (const [l, h] of rows) lines.push(l.length > width ? `  ${l}\n  ${" ".repeat(width)}  ${h}` : `  ${l.padEnd(width)}  ${h}`);
    lines.push("");
  }
  lines.push(EXIT_CODES_HELP, "");
  return lines.join("\n");
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
 * A library message as the CLI user can act on it. ENCRYPTION_REQUIRED messages of the libraries advise a policy
 * option (requireEncryption: false) that azcse does not have and that would not decrypt anything: the CLI says
 * that the input is not encrypted data instead.
 */
export function actionableMessage(e: { code: string; message: string }): string {
  // The libraries name their option and environment variable; the CLI's switch is a flag.
  if (e.code === "REGION_OUT_OF_ORDER") return e.message.replace(/To recover data written with non-standard nonces, set \S+ or allowMisorderedRegions\./, "Data written with non-standard nonces is read with --allow-misordered-regions (it does not help for data that is not encrypted).");
  if (e.code !== "ENCRYPTION_REQUIRED") return e.message;
  const cut = e.message.search(/,? and requireEncryption is on|\.?\s*It was not returned because requireEncryption|\.?\s*Set requireEncryption|; set requireEncryption|; with requireEncryption/);
  if (cut < 0) return e.message;
  const head = e.message.slice(0, cut).replace(/[\s.,;:]+$/, "");
  return /not (client-side )?encrypted/.test(head) ? `${head}; there is nothing to decrypt` : `${head}: it is not encrypted data, so there is nothing to decrypt`;
}

/** What a 404 of the service means, naming the flag that creates a missing container, queue or table. */
const NOT_FOUND_TEXT: Record<string, string> = {
  ContainerNotFound: "the container does not exist (blob upload --create-container creates it)",
  QueueNotFound: "the queue does not exist (queue send --create-queue creates it)",
  TableNotFound: "the table does not exist (table put --create-table creates it)",
  BlobNotFound: "the blob does not exist",
  ResourceNotFound: "the resource does not exist",
};

/** The service's error code (ContainerNotFound, QueueNotFound, TableNotFound, …) of an error or its causes. */
function serviceErrorCode(e: unknown): string | undefined {
  for (let x: unknown = e, i = 0; x && typeof x === "object" && i < 5; x = (x as { cause?: unknown }).cause, i++) {
    const o = x as { code?: unknown; details?: { errorCode?: unknown; odataError?: { code?: unknown } } };
    for (const c of [o.details?.errorCode, o.details?.odataError?.code, o.code]) if (typeof c === "string" && /NotFound$/.test(c)) return c;
  }
  return undefined;
}

/** " (… --create-… creates it)" for a typed NOT_FOUND of a missing container, queue or table. */
function createHint(e: unknown): string {
  const code = serviceErrorCode(e);
  const text = code !== undefined && code !== "BlobNotFound" && code !== "ResourceNotFound" ? NOT_FOUND_TEXT[code] : undefined;
  return text ? `; ${text}` : "";
}

export function notFoundText(code: string | undefined): string {
  if (!code) return "the resource does not exist";
  return `${code}: ${NOT_FOUND_TEXT[code] ?? "the resource does not exist"}`;
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
    const hint = e.code === "NOT_FOUND" ? createHint(e) : "";
    say(`${e.code}: ${actionableMessage(e)}${because}${hint}`);
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
export const READ_FLAGS: FlagSpecs = {
  "allow-protocols": { value: true, arg: "P,...", help: "read only these protocols (of 1.0, 2.0, 2.1; e.g. 2.0,2.1 refuses 1.0); default: all" },
};
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

/** Flags of the blob writers. */
export const BLOB_WRITE_FLAGS: FlagSpecs = {
  protocol: { value: true, arg: "2.0|2.1|1.0", help: "encryption protocol (default 2.0; 1.0 is deprecated and unauthenticated, CVE-2022-30187)" },
  "region-size": { value: true, arg: "BYTES", help: `region size of protocol 2.1 (${MIN_REGION_SIZE} to ${MAX_REGION_SIZE}; default 4 MiB)` },
};

/** `--overwrite`: without it an existing output file is refused (exit 1) before anything is read or sent. */
export const OVERWRITE_FLAG: FlagSpecs = {
  overwrite: { help: "replace existing output files (without it an existing file is refused, exit 1)" },
};

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

/**
 * Writes `out` complete or not at all: staged in a private hidden directory next to it, renamed into place on
 * success; a failure or an interrupting signal leaves no entry behind. `label` names the flag in errors.
 */
export function writeFileAtomically(out: string, data: Uint8Array | string, label = "--out", overwrite = true): void {
  const staged = new StagedOutputs([{ label, path: out }], { overwrite });
  try {
    staged.writeFile(0, data);
    staged.commit();
  } catch (e) {
    staged.abort();
    throw e;
  }
}

/** Streaming twin of writeFileAtomically; returns the number of bytes written. */
export async function writeStreamAtomically(out: string, source: AsyncIterable<Uint8Array>, label = "--out", overwrite = true): Promise<number> {
  return new StagedOutputs([{ label, path: out }], { overwrite }).run((o) => o.writeStream(0, source));
}
