// Helpers of live-accounts.test.ts: Azurite in OAuth mode (HTTPS with a self-signed certificate, bearer tokens
// checked for issuer, audience and lifetime) and a local managed-identity token endpoint (the App Service
// IDENTITY_ENDPOINT / IDENTITY_HEADER contract) that DefaultAzureCredential's ManagedIdentityCredential uses, so
// that a real token reaches Azurite and the local Key Vault through the code path of a real account.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { startAzurite, type AzuriteHandle } from "../../../tools/testkit/index.mjs";
import { LOCAL_KEYVAULT_TOKEN } from "../../../tools/local-keyvault/index.mjs";

const b64u = (v: unknown): string => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

/**
 * An Entra-ID-shaped access token for storage (Azurite's "basic" OAuth checks issuer, audience, nbf/iat/exp; it does
 * not check the signature).
 */
export function storageToken(audience = "https://storage.azure.com"): string {
  const now = Math.floor(Date.now() / 1000);
  const payload = {
    aud: audience,
    iss: "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/",
    iat: now - 60,
    nbf: now - 60,
    exp: now + 3600,
    oid: "00000000-0000-0000-0000-000000000001",
    tid: "72f988bf-86f1-41af-91ab-2d7cd011db47",
  };
  return `${b64u({ alg: "RS256", typ: "JWT" })}.${b64u(payload)}.${b64u("not-checked-by-azurite-basic-oauth")}`;
}

export interface TokenServer {
  /** IDENTITY_ENDPOINT / IDENTITY_HEADER for the child process. */
  env: Record<string, string>;
  /** The resources tokens were asked for, in order. */
  resources: string[];
  /** Tokens for storage get this audience (a wrong one must be refused by Azurite). */
  storageAudience: string;
  stop(): Promise<void>;
}

/** A managed-identity endpoint: storage gets a JWT, Key Vault the local vault's test token. */
export async function startTokenServer(): Promise<TokenServer> {
  const header = `test-identity-header-${process.pid}`;
  const state: TokenServer = { env: {}, resources: [], storageAudience: "https://storage.azure.com", stop: async () => undefined };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const resource = url.searchParams.get("resource") ?? "";
    if (req.headers["x-identity-header"] !== header) {
      res.writeHead(401, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: "unauthorized" }));
      return;
    }
    state.resources.push(resource);
    const token = resource.startsWith("https://vault.azure.net") ? LOCAL_KEYVAULT_TOKEN : storageToken(state.storageAudience);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ access_token: token, expires_on: String(Math.floor(Date.now() / 1000) + 3600), resource, token_type: "Bearer" }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  state.env = { IDENTITY_ENDPOINT: `http://127.0.0.1:${port}/msi/token`, IDENTITY_HEADER: header };
  state.stop = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return state;
}

export type OAuthAzurite = AzuriteHandle;

/** Azurite over HTTPS with `--oauth basic` (the certificate is the caller's, trusted through NODE_EXTRA_CA_CERTS). */
export function startOAuthAzurite(certificate: { cert: string; key: string }): Promise<OAuthAzurite> {
  return startAzurite({ https: certificate, oauth: "basic" });
}
