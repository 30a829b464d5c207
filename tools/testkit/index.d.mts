export interface AzuriteHandle {
  blobUrl: string;
  queueUrl: string;
  tableUrl: string;
  blobPort: number;
  queuePort: number;
  tablePort: number;
  connectionString: string;
  accountName: string;
  accountKey: string;
  /** The Azurite process id (benchmarks read its CPU time from /proc). */
  pid: number | undefined;
  stop(): Promise<void>;
}
export const repoRoot: string;
export const vectorsDir: string;
export const AZURITE_ACCOUNT: string;
export const AZURITE_KEY: string;
export function freePort(): Promise<number>;
/** `count` distinct free loopback ports (all probed at once). */
export function freePorts(count: number): Promise<number[]>;
export interface StartAzuriteOptions {
  debug?: boolean;
  persistence?: "memory" | "disk";
  /** Another Azurite build's dist/src/azurite.js (benchmarks); the pinned one otherwise. */
  bin?: string;
  /** Serve HTTPS with this PEM certificate and key (clients trust it through NODE_EXTRA_CA_CERTS). */
  https?: { cert: string; key: string };
  /** "basic": accept Entra ID bearer tokens (audience, issuer and expiry checked; signatures not). */
  oauth?: "basic";
}
export function startAzurite(options?: StartAzuriteOptions): Promise<AzuriteHandle>;
export const PYTHON: string;
export const PYTHON_PACKAGES: string[];
export const PYTHON_INSTALL_COMMAND: string;
export function assertPythonPeer(): void;
export function runPython<T = unknown>(script: string, input?: unknown, options?: { timeoutMs?: number }): Promise<T>;
export const PYTHON_KEK_PRELUDE: string;
export function tempDir(prefix?: string): { dir: string; cleanup: () => void };
export interface DotnetPeerResult<T = Record<string, unknown>> {
  /** 0 ok, 1 usage or "this library cannot do that", 2 decryption/encryption failure, 3 not found, 4 service error. */
  exit: number;
  result: T | null;
  error: string | null;
}
export const DOTNET_PEER: string;
export const DOTNET_INSTALL_COMMAND: string;
export const DOTNET_PEER_VERSIONS: Readonly<Record<string, string>>;
export const DOTNET_EXIT: Readonly<{ ok: 0; usage: 1; crypto: 2; notFound: 3; service: 4 }>;
export function assertDotnetPeer(): void;
export function runDotnetPeer<T = Record<string, unknown>>(args: string[], options?: { connectionString?: string; timeoutMs?: number }): Promise<DotnetPeerResult<T>>;
export function runDotnetBatch<T = Record<string, unknown>>(commands: string[][], options?: { connectionString?: string; timeoutMs?: number }): Promise<DotnetPeerResult<T>[]>;
