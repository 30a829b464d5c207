// The storage account of the service commands: a connection string (--connection-string or
// AZURE_STORAGE_CONNECTION_STRING), or an account URL (--account-url) with a SAS (in the URL or --sas) or, without
// one, Entra ID through DefaultAzureCredential. Every command derives the endpoint of the service it needs (blob,
// queue or table) from the one URL.
import { BlobServiceClient } from "@azure/storage-blob";
import { QueueClient, QueueServiceClient } from "@azure/storage-queue";
import { TableClient } from "@azure/data-tables";
import { AzureSASCredential, type TokenCredential } from "@azure/core-auth";
import { ClientSideEncryptionError } from "@azure-cse/core-envelope";
import { UsageError, type FlagSpecs, type ParsedArgs } from "./framework.js";

/** Flags of every command that talks to a storage account: the account and the SDK's request retries. */
export const SERVICE_FLAGS: FlagSpecs = {
  "connection-string": { value: true, arg: "CS", help: "storage connection string (default: $AZURE_STORAGE_CONNECTION_STRING)" },
  "account-url": {
    value: true,
    arg: "URL",
    help: "https://ACCOUNT.blob|queue|table.core.windows.net, a SAS URL, or http://127.0.0.1:PORT/ACCOUNT (Azurite); without a SAS: Entra ID (DefaultAzureCredential)",
  },
  sas: { value: true, arg: "TOKEN", help: "shared access signature for --account-url (sv=...&sig=...)" },
  "max-tries": { value: true, arg: "N", help: "attempts per request, 1-50 (1 = no retry); default: the Azure SDK's" },
  "retry-delay-ms": { value: true, arg: "MS", help: "base delay of the SDK's exponential backoff, 0-600000" },
};

export type StorageService = "blob" | "queue" | "table";

/** Azurite's default ports (a path-style URL on one of them is mapped to the port of the service needed). */
const AZURITE_PORTS: Record<StorageService, string> = { blob: "10000", queue: "10001", table: "10002" };

let sharedCredential: TokenCredential | undefined;

/**
 * The Entra ID credential of the process (storage and Key Vault): DefaultAzureCredential — environment
 * (AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET or a certificate), workload identity, managed identity,
 * Azure CLI, Azure PowerShell, Azure Developer CLI.
 */
export function defaultCredential(): TokenCredential {
  sharedCredential ??= lazyDefaultCredential();
  return sharedCredential;
}

/** @azure/identity is loaded on the first token request only (it costs a noticeable start-up time otherwise). */
function lazyDefaultCredential(): TokenCredential {
  let inner: Promise<TokenCredential> | undefined;
  return {
    async getToken(scopes, options) {
      inner ??= import("@azure/identity").then((m) => new m.DefaultAzureCredential());
      return (await inner).getToken(scopes, options);
    },
  };
}

/** For tests: drops the cached credential (a new one reads the environment again). */
export function resetDefaultCredential(): void {
  sharedCredential = undefined;
}

/** Storage connection: --connection-string or AZURE_STORAGE_CONNECTION_STRING. */
export function connectionString(args: ParsedArgs): string {
  const fromFlag = args.get("connection-string");
  const cs = fromFlag ?? process.env.AZURE_STORAGE_CONNECTION_STRING;
  if (!cs) throw new UsageError("give the storage account: --account-url URL (Entra ID or a SAS), --connection-string CS, or set AZURE_STORAGE_CONNECTION_STRING");
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

/** The endpoint of one service of the account named by --account-url, with the SAS (if any) apart. */
export interface ServiceEndpoint {
  /** e.g. https://acct.queue.core.windows.net or http://127.0.0.1:10001/devstoreaccount1 (no query, no trailing slash). */
  url: string;
  /** The SAS query without "?", from the URL or --sas. */
  sas: string | undefined;
}

function isLoopbackOrIp(host: string): boolean {
  return /^(localhost|\d{1,3}(\.\d{1,3}){3}|\[[0-9a-f:.]+\])$/i.test(host);
}

/**
 * Derives the endpoint of `service` from --account-url: `ACCOUNT.blob|queue|table|dfs|file.SUFFIX` hosts get the
 * service's host; a path-style URL (`http://127.0.0.1:PORT/ACCOUNT`, Azurite) is used as given, except that
 * Azurite's default ports 10000/10001/10002 are mapped to the service's; other hosts (custom domains) are used as
 * given. The SAS comes from the URL's query or --sas, never both.
 */
export function serviceEndpoint(args: ParsedArgs, service: StorageService): ServiceEndpoint {
  const raw = args.get("account-url");
  if (raw === undefined) throw new UsageError("--account-url is required");
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UsageError("--account-url is not a URL (expected https://ACCOUNT.blob.core.windows.net)");
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") throw new UsageError("--account-url must be an https:// (or, for an emulator, http://) URL");
  if (u.username || u.password || u.hash) throw new UsageError("--account-url must not carry a user name, password or #fragment");
  const fromUrl = u.search.length > 1 ? u.search.slice(1) : undefined;
  const fromFlag = args.get("sas");
  if (fromUrl !== undefined && fromFlag !== undefined) throw new UsageError("give the SAS either in --account-url or with --sas, not both");
  let sas = fromFlag ?? fromUrl;
  if (sas !== undefined) {
    sas = sas.replace(/^\?/, "");
    if (!/(^|&)sig=/.test(sas)) throw new UsageError(`${fromFlag !== undefined ? "--sas" : "--account-url"}: the SAS has no sig= parameter (expected sv=...&sig=...)`);
  }
  const segments = u.pathname.split("/").filter((p) => p.length > 0);
  const service_ = /^([a-z0-9]+)\.(blob|queue|table|dfs|file|web)\.(.+)$/i.exec(u.hostname);
  let host = u.host;
  let path = "";
  if (isLoopbackOrIp(u.hostname)) {
    if (segments.length !== 1) throw new UsageError("--account-url: a path-style URL names the account and nothing else (http://127.0.0.1:PORT/ACCOUNT)");
    path = `/${segments[0]}`;
    const mapped = Object.values(AZURITE_PORTS).includes(u.port) ? AZURITE_PORTS[service] : u.port;
    host = `${u.hostname}${mapped ? `:${mapped}` : ""}`;
  } else {
    if (segments.length > 0) throw new UsageError("--account-url names the account, not a container, queue, table or blob (https://ACCOUNT.blob.core.windows.net)");
    if (service_) host = `${service_[1]}.${service}.${service_[3]}${u.port ? `:${u.port}` : ""}`;
  }
  return { url: `${u.protocol}//${host}${path}`, sas };
}

/** Whether the command names the account by URL (otherwise: a connection string). */
export function usesAccountUrl(args: ParsedArgs): boolean {
  if (args.has("sas") && !args.has("account-url")) throw new UsageError("--sas needs --account-url");
  if (args.has("account-url") && args.has("connection-string")) throw new UsageError("give either --account-url or --connection-string, not both");
  return args.has("account-url");
}

/** The credential of an account URL without a SAS; Entra ID tokens only travel over HTTPS. */
function tokenCredential(ep: ServiceEndpoint): TokenCredential {
  if (ep.url.startsWith("http:")) {
    throw new UsageError("--account-url: an http:// endpoint needs a SAS (--sas or in the URL); Entra ID tokens are only sent over https://");
  }
  return defaultCredential();
}

/** A blob service client for the retry options `options`. */
export function blobService(args: ParsedArgs, options: object): BlobServiceClient {
  if (!usesAccountUrl(args)) return fromConnection(args, (cs) => BlobServiceClient.fromConnectionString(cs, options));
  const ep = serviceEndpoint(args, "blob");
  return ep.sas !== undefined ? new BlobServiceClient(`${ep.url}?${ep.sas}`, undefined, options) : new BlobServiceClient(ep.url, tokenCredential(ep), options);
}

/** A queue client for the retry options `options`. */
export function queueClient(args: ParsedArgs, name: string, options: object): QueueClient {
  if (!usesAccountUrl(args)) return fromConnection(args, (cs) => new QueueClient(cs, name, options));
  const ep = serviceEndpoint(args, "queue");
  const service = ep.sas !== undefined ? new QueueServiceClient(`${ep.url}?${ep.sas}`, undefined, options) : new QueueServiceClient(ep.url, tokenCredential(ep), options);
  return service.getQueueClient(name);
}

/** A table client; `options(insecure)` gives the SDK options (plain-HTTP endpoints must be allowed explicitly). */
export function tableClient(args: ParsedArgs, name: string, options: (insecure: boolean) => object): TableClient {
  if (!usesAccountUrl(args)) {
    return fromConnection(args, (cs) => {
      const insecure = /(^|;)\s*(DefaultEndpointsProtocol=http|UseDevelopmentStorage=true)\s*(;|$)|TableEndpoint=http:/i.test(cs);
      return TableClient.fromConnectionString(cs, name, options(insecure));
    });
  }
  const ep = serviceEndpoint(args, "table");
  const insecure = ep.url.startsWith("http:");
  return ep.sas !== undefined ? new TableClient(ep.url, name, new AzureSASCredential(ep.sas), options(insecure)) : new TableClient(ep.url, name, tokenCredential(ep), options(insecure));
}

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

/** Options of a `TableClient`: the retry flags map onto its `maxRetries` (tries - 1). */
export function tableClientOptions(args: ParsedArgs, insecure: boolean): { allowInsecureConnection: boolean; retryOptions?: { maxRetries?: number; retryDelayInMs?: number } } {
  const r = retrySettings(args);
  const retryOptions: { maxRetries?: number; retryDelayInMs?: number } = {};
  if (r.maxTries !== undefined) retryOptions.maxRetries = r.maxTries - 1;
  if (r.retryDelayInMs !== undefined) retryOptions.retryDelayInMs = r.retryDelayInMs;
  return Object.keys(retryOptions).length ? { allowInsecureConnection: insecure, retryOptions } : { allowInsecureConnection: insecure };
}

/** The blob service of the command's account with the retry flags. */
export function blobServiceOf(args: ParsedArgs): BlobServiceClient {
  return blobService(args, storageClientOptions(args));
}

/** A queue of the command's account with the retry flags. */
export function queueOf(args: ParsedArgs, name: string): QueueClient {
  return queueClient(args, name, storageClientOptions(args));
}

/** A table of the command's account with the retry flags. */
export function tableOf(args: ParsedArgs, name: string): TableClient {
  return tableClient(args, name, (insecure) => tableClientOptions(args, insecure));
}
