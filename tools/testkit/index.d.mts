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
export function startAzurite(options?: { debug?: boolean; persistence?: "memory" | "disk"; bin?: string }): Promise<AzuriteHandle>;
export const PYTHON: string;
export const PYTHON_PACKAGES: string[];
export const PYTHON_INSTALL_COMMAND: string;
export function assertPythonPeer(): void;
export function runPython<T = unknown>(script: string, input?: unknown, options?: { timeoutMs?: number }): Promise<T>;
export const PYTHON_KEK_PRELUDE: string;
export function tempDir(prefix?: string): { dir: string; cleanup: () => void };
