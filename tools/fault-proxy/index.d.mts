import type { IncomingHttpHeaders } from "node:http";

/** The disruptive faults; at most one applies to a request (their probabilities add up to at most 1). */
export type FaultKind = "reset" | "resetAfterForward" | "status500" | "status503" | "truncate" | "corrupt";
export const FAULT_KINDS: readonly FaultKind[];

export interface FaultRequestInfo {
  method: string;
  /** Path and query as sent by the client, e.g. "/devstoreaccount1/container/blob?comp=block". */
  url: string;
  headers: IncomingHttpHeaders;
}

export interface FaultConfig {
  /** Drop the client connection before the request reaches storage. */
  reset?: number;
  /** Forward the request (storage applies it), then drop the connection instead of answering. */
  resetAfterForward?: number;
  /** Answer 500 InternalError without forwarding (Azure-shaped XML, or JSON for table requests). */
  status500?: number;
  /** Answer 503 ServerBusy without forwarding. */
  status503?: number;
  /** Forward, then send only a prefix of a non-empty response body and drop the connection. */
  truncate?: number;
  /** Forward, then flip one bit of a non-empty response body (length unchanged). */
  corrupt?: number;
  /** Independent of the above: wait before forwarding. */
  delay?: number;
  /** Delay range in ms, default [5, 50]. */
  delayMs?: [number, number];
  /** Only requests for which this returns true are eligible for faults (default: all). */
  match?: (request: FaultRequestInfo) => boolean;
  /**
   * Scripted faults: called for every eligible request with its 1-based sequence number (since the last
   * `resetStats`); a kind returned here replaces the drawn one for that request (`undefined`: draw as usual).
   * Lets a test guarantee that a run meets at least one fault whatever the seed.
   */
  force?: (request: FaultRequestInfo, seq: number) => FaultKind | undefined;
}

export interface FaultProxyStats {
  /** HTTP requests received (operations seen, retries included). */
  requests: number;
  /** Requests forwarded to the target. */
  forwarded: number;
  /** Responses relayed completely (corrupted ones included). */
  completed: number;
  /** Forwarded requests whose upstream connection failed (answered 502). */
  upstreamErrors: number;
  /** Client connections accepted. */
  connections: number;
  /** Faults actually injected, by kind (a truncate/corrupt on an empty body is not counted). */
  faults: Record<FaultKind | "delay", number>;
  /** Sum of `faults`. */
  faultsInjected: number;
}

export interface FaultEvent {
  seq: number;
  method: string;
  url: string;
  /** The fault applied ("none" when the request passed through). */
  fault: string;
  delayMs: number;
  /** Status returned by storage or by the proxy; undefined when the connection was reset first. */
  status: number | undefined;
}

export interface FaultProxyOptions {
  /** Where to forward, e.g. azurite.blobUrl ("http://127.0.0.1:PORT/devstoreaccount1"). */
  target: string;
  /** Seed of the PRNG driving every decision (default 1). Same seed + same request order = same faults. */
  seed?: number | string;
  faults?: FaultConfig;
  /** Listening port on 127.0.0.1 (default: a free port). */
  port?: number;
}

export interface FaultProxy {
  /** The target URL with the proxy's host and port (keeps the target's path, e.g. the account name). */
  readonly url: string;
  readonly port: number;
  readonly target: string;
  stats(): FaultProxyStats;
  /** One entry per request (first 10 000). */
  events(): FaultEvent[];
  resetStats(): void;
  /** Replaces the fault configuration; the PRNG sequence continues. */
  setFaults(faults: FaultConfig): void;
  /** Closes the listener and every connection. */
  stop(): Promise<void>;
}

export function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy>;

/** Seeded PRNG (sfc32 via splitmix32) returning floats in [0, 1). */
export function createPrng(seed: number | string): () => number;

/** Rewrites one endpoint (BlobEndpoint/QueueEndpoint/TableEndpoint) of a connection string to go through the proxy. */
export function proxiedConnectionString(connectionString: string, service: "blob" | "queue" | "table", proxyUrl: string): string;
