// Types for tools/local-keyvault/index.mjs (TEST-ONLY local Azure Key Vault).
export const LOCAL_KEYVAULT_TOKEN: string;

export interface LocalCertificate {
  cert: string;
  key: string;
  source?: "openssl" | "committed" | string;
}
export function localCertificate(): LocalCertificate;

export interface StaticTokenCredential {
  calls: number;
  getToken(): Promise<{ token: string; expiresOnTimestamp: number; tokenType: "Bearer" }>;
}
export function staticTokenCredential(token?: string): StaticTokenCredential;

export type LocalKeyVaultRoute = "createKey" | "importKey" | "getKey" | "rotateKey" | "wrapKey" | "unwrapKey" | "unknown";
export type LocalKeyVaultPermission = "get" | "create" | "import" | "rotate" | "wrapKey" | "unwrapKey";

export interface LocalKeyVaultRequest {
  method: string;
  path: string;
  route: LocalKeyVaultRoute;
  key: string | undefined;
  version: string | undefined;
  authenticated: boolean;
  status: number;
  at: number;
}

export interface LocalKeyVault {
  /** https://127.0.0.1:{port} */
  vaultUrl: string;
  port: number;
  /** PEM of the self-signed certificate. */
  ca: string;
  certificateSource: string;
  /** A file holding `ca`, for NODE_EXTRA_CA_CERTS in child processes. */
  readonly caFile: string;
  /** Returns LOCAL_KEYVAULT_TOKEN; counts getToken calls. */
  credential: StaticTokenCredential;
  /** For KeyClient/CryptographyClient: trusts the certificate, skips the challenge resource check. */
  clientOptions: { tlsOptions: { ca: string }; disableChallengeResourceVerification: true };
  requests: LocalKeyVaultRequest[];
  count(route: LocalKeyVaultRoute | "*", filter?: { status?: number; key?: string; authenticated?: boolean }): number;
  counters(): Record<string, { total: number; byStatus: Record<string, number> }>;
  resetCounters(): void;
  injectFault(fault: { route: LocalKeyVaultRoute | "*"; status: number; times?: number; retryAfter?: number | string; keyName?: string }): void;
  clearFaults(): void;
  setPermissions(token: string, permissions: LocalKeyVaultPermission[]): void;
  /** Creates a key (or a new version) without HTTP; returns its versioned kid. */
  createKeyDirect(name: string, options?: { kty?: "RSA" | "RSA-HSM" | "oct-HSM"; size?: number; keyOps?: string[] }): string;
  /** Creates a new version without HTTP; returns its versioned kid. */
  rotateKeyDirect(name: string): string;
  deleteKeyDirect(name: string): void;
  /** `${vaultUrl}/keys/${name}` or with `/${version}`. */
  keyId(name: string, version?: string): string;
  stop(): Promise<void>;
}

export function startLocalKeyVault(options?: { port?: number; tokens?: string[]; certificate?: LocalCertificate }): Promise<LocalKeyVault>;
