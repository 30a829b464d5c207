// Reference backend for RemoteKeyEncryptionKey (@azure-cse/core-envelope/web): the page never holds the
// key-encryption key; it asks this endpoint to wrap a new content key or unwrap a stored one. Mount it in the
// app's own server, behind the app's authentication. Wire format (Key Vault's wrapkey/unwrapkey shape):
//   POST {prefix}/wrapkey   {"alg", "value": base64url} → 200 {"kid", "value": base64url}
//   POST {prefix}/unwrapkey {"alg", "value": base64url} → 200 {"value": base64url} | 422 (cannot be unwrapped)
// 400 malformed request, 401 not authorized, 405/415 wrong method or content type, 500 key failure.
import type { IncomingMessage, ServerResponse } from "node:http";
import { ClientSideEncryptionError, type KeyEncryptionKey } from "@azure-cse/core-envelope";

export interface KeyBackendOptions {
  /** The backend's key: a local key or a Key Vault key (KeyVaultKeyEncryptionKey from @azure-cse/keyvault). */
  key: KeyEncryptionKey;
  /** The app's own check of the caller (session cookie, bearer token). Required: an open wrap/unwrap endpoint hands out every content key. */
  authorize: (req: IncomingMessage) => boolean | Promise<boolean>;
  /** Algorithms accepted; default the key's default algorithm only. */
  allowedAlgorithms?: readonly string[];
}

const MAX_BODY = 8192;

function send(res: ServerResponse, status: number, body?: object): void {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" }).end(body ? JSON.stringify(body) : undefined);
}

async function readBody(req: IncomingMessage): Promise<string | undefined> {
  let size = 0;
  const parts: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) return undefined;
    parts.push(c);
  }
  return Buffer.concat(parts).toString("utf8");
}

const B64URL = /^[A-Za-z0-9_-]+$/;

/** A request handler for `{prefix}/wrapkey` and `{prefix}/unwrapkey`; resolves false for any other path. */
export function createKeyBackend(prefix: string, options: KeyBackendOptions): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const allowed = options.allowedAlgorithms ?? [options.key.defaultWrapAlgorithm];
  return async (req, res) => {
    const url = (req.url ?? "").split("?")[0];
    const op = url === `${prefix}/wrapkey` ? "wrap" : url === `${prefix}/unwrapkey` ? "unwrap" : undefined;
    if (!op) return false;
    if (req.method !== "POST") return send(res, 405), true;
    // JSON only: a cross-site form post cannot send it without a CORS preflight, which this endpoint never grants.
    if (!(req.headers["content-type"] ?? "").startsWith("application/json")) return send(res, 415), true;
    if (!(await options.authorize(req))) return send(res, 401), true;
    const text = await readBody(req);
    let body: { alg?: unknown; value?: unknown } | undefined;
    try {
      body = text === undefined ? undefined : (JSON.parse(text) as typeof body);
    } catch {
      body = undefined;
    }
    const alg = body?.alg;
    const value = body?.value;
    if (typeof alg !== "string" || !allowed.includes(alg) || typeof value !== "string" || !B64URL.test(value)) return send(res, 400, { error: "bad request" }), true;
    const bytes = Buffer.from(value, "base64url");
    try {
      if (op === "wrap") {
        if (bytes.length !== 40 && bytes.length !== 32) return send(res, 400, { error: "bad request" }), true; // a 2.x wrap input or a 1.0 CEK
        const r = await options.key.wrapKey(alg, bytes);
        send(res, 200, { kid: r.keyId, value: Buffer.from(r.encryptedKey).toString("base64url") });
      } else {
        const key = await options.key.unwrapKey(alg, bytes);
        send(res, 200, { value: Buffer.from(key).toString("base64url") });
      }
    } catch (e) {
      // Never the key, the value or the cause's text in the answer.
      if (op === "unwrap" && ClientSideEncryptionError.hasCode(e, "DECRYPTION_FAILED")) send(res, 422, { error: "cannot unwrap" });
      else send(res, 500, { error: "key operation failed" });
    }
    return true;
  };
}
