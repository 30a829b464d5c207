// A small local Azure Key Vault for tests and the demo. TEST-ONLY: keys live in memory, any registered
// bearer token is accepted, and the TLS certificate is self-signed.
//
// It speaks the Key Vault keys REST contract for the calls @azure/keyvault-keys makes when it creates,
// imports, reads, rotates and uses keys to wrap and unwrap content keys:
//   POST /keys/{name}/create            create a key (RSA, RSA-HSM, oct-HSM), or a new version of it
//   PUT  /keys/{name}                   import a key (JWK), or a new version of it
//   GET  /keys/{name}[/{version}]       get a key (public part; symmetric keys release no material)
//   POST /keys/{name}/rotate            create a new version with the same type and size
//   POST /keys/{name}[/{version}]/wrapkey | /unwrapkey
// with the bearer challenge flow (an unauthenticated request gets 401 + WWW-Authenticate naming the
// authorization server and resource), api-version checks, per-route request counters and fault
// injection (429 + Retry-After, 5xx, N times, per route). Crypto is node:crypto.
import https from "node:https";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import crypto from "node:crypto";

const here = path.dirname(fileURLToPath(import.meta.url));

/** The token the test credential returns and the server accepts by default. */
export const LOCAL_KEYVAULT_TOKEN = "local-keyvault-test-token";
const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const RESOURCE = "https://vault.azure.net";
const ALL_PERMISSIONS = ["get", "create", "import", "rotate", "wrapKey", "unwrapKey"];
const ROUTE_PERMISSION = { createKey: "create", importKey: "import", getKey: "get", rotateKey: "rotate", wrapKey: "wrapKey", unwrapKey: "unwrapKey" };
const API_VERSION = /^(7\.[0-6](-preview(\.\d+)?)?|20\d\d-\d\d-\d\d(-preview)?)$/;
const RSA_ALGS = { "RSA-OAEP": "sha1", "RSA-OAEP-256": "sha256", RSA1_5: null };
const AES_ALGS = { A128KW: 16, A192KW: 24, A256KW: 32 };
const AES_KW_IV = Buffer.from("A6A6A6A6A6A6A6A6", "hex");

/**
 * A self-signed certificate for 127.0.0.1 and localhost. Generated with the openssl CLI when it is
 * on PATH; otherwise the committed test-only pair in ./test-cert is used.
 */
export function localCertificate() {
  const probe = spawnSync("openssl", ["version"], { encoding: "utf8" });
  if (probe.status === 0) {
    const dir = mkdtempSync(path.join(tmpdir(), "local-kv-cert-"));
    try {
      const r = spawnSync(
        "openssl",
        ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-sha256", "-days", "2",
          "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
          "-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem")],
        { encoding: "utf8" },
      );
      if (r.status === 0) {
        return { cert: readFileSync(path.join(dir, "cert.pem"), "utf8"), key: readFileSync(path.join(dir, "key.pem"), "utf8"), source: "openssl" };
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return {
    cert: readFileSync(path.join(here, "test-cert", "cert.pem"), "utf8"),
    key: readFileSync(path.join(here, "test-cert", "key.pem"), "utf8"),
    source: "committed",
  };
}

/** A TokenCredential that always returns `token` (default LOCAL_KEYVAULT_TOKEN); counts its calls. */
export function staticTokenCredential(token = LOCAL_KEYVAULT_TOKEN) {
  const credential = {
    calls: 0,
    async getToken() {
      credential.calls++;
      return { token, expiresOnTimestamp: Date.now() + 3600_000, tokenType: "Bearer" };
    },
  };
  return credential;
}

const b64u = (buf) => Buffer.from(buf).toString("base64url");
const unb64u = (s) => Buffer.from(String(s), "base64url");
const now = () => Math.floor(Date.now() / 1000);

function kvError(status, code, message, inner) {
  return { status, body: { error: { code, message, ...(inner ? { innererror: { code: inner } } : {}) } } };
}

function pkcs1v15Unpad(em) {
  // EM = 0x00 || 0x02 || PS (>= 8 non-zero bytes) || 0x00 || M. Test server only: not constant time.
  if (em.length < 11 || em[0] !== 0 || em[1] !== 2) return undefined;
  const sep = em.indexOf(0, 2);
  if (sep < 10) return undefined;
  return em.subarray(sep + 1);
}

/**
 * Starts the local Key Vault on a free loopback port.
 * @param {object} [options]
 * @param {number} [options.port] default: a free port
 * @param {string[]} [options.tokens] accepted bearer tokens (all permissions); default [LOCAL_KEYVAULT_TOKEN]
 * @param {{cert: string, key: string}} [options.certificate] default: localCertificate()
 */
export async function startLocalKeyVault(options = {}) {
  const certificate = options.certificate ?? localCertificate();
  /** token -> Set(permission) */
  const tokens = new Map((options.tokens ?? [LOCAL_KEYVAULT_TOKEN]).map((t) => [t, new Set(ALL_PERMISSIONS)]));
  /** name -> { versions: Map(version -> KeyVersion), current: version } */
  const keys = new Map();
  const requests = [];
  let faults = [];
  let vaultUrl = "";

  function kidOf(name, version) {
    return `${vaultUrl}/keys/${name}/${version}`;
  }

  function addVersion(name, material) {
    const version = crypto.randomBytes(16).toString("hex");
    let entry = keys.get(name);
    if (!entry) {
      entry = { versions: new Map(), current: version };
      keys.set(name, entry);
    }
    const t = now();
    entry.versions.set(version, { ...material, name, version, created: t, updated: t });
    entry.current = version;
    return entry.versions.get(version);
  }

  function generate(kty, size, keyOps) {
    if (kty === "RSA" || kty === "RSA-HSM") {
      const bits = size ?? 2048;
      if (![2048, 3072, 4096].includes(bits)) return { error: kvError(400, "BadParameter", `Key size ${bits} is not supported for RSA keys.`) };
      const { privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: bits });
      return { kty, privateKey, keyOps };
    }
    if (kty === "oct-HSM" || kty === "oct") {
      const bits = size ?? 256;
      if (![128, 192, 256].includes(bits)) return { error: kvError(400, "BadParameter", `Key size ${bits} is not supported for symmetric keys.`) };
      return { kty: "oct-HSM", secret: crypto.randomBytes(bits / 8), keyOps };
    }
    return { error: kvError(400, "BadParameter", `Key type ${kty} is not supported by the local Key Vault.`) };
  }

  function bundle(k) {
    const ops = k.keyOps ?? (k.secret ? ["wrapKey", "unwrapKey", "encrypt", "decrypt"] : ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"]);
    const key = { kid: kidOf(k.name, k.version), kty: k.kty, key_ops: ops };
    if (k.privateKey) {
      const jwk = k.privateKey.export({ format: "jwk" });
      key.n = jwk.n;
      key.e = jwk.e;
    }
    return {
      key,
      attributes: { enabled: true, created: k.created, updated: k.updated, recoveryLevel: "Recoverable+Purgeable", recoverableDays: 90, exportable: false },
      tags: k.tags ?? {},
    };
  }

  function findKey(name, version) {
    const entry = keys.get(name);
    const v = version || entry?.current;
    const k = entry && v ? entry.versions.get(v) : undefined;
    if (!k) {
      const id = version ? `${name}/${version}` : name;
      return { error: kvError(404, "KeyNotFound", `A key with (name/id) ${id} was not found in this key vault. If you recently deleted this key you may be able to recover it using the correct recovery command.`) };
    }
    return { key: k };
  }

  function wrapOrUnwrap(op, k, alg, value) {
    if (alg in RSA_ALGS) {
      if (!k.privateKey) return kvError(400, "BadParameter", `Algorithm ${alg} is not supported for key type ${k.kty}.`);
      const oaepHash = RSA_ALGS[alg];
      try {
        if (op === "wrapKey") {
          const out = oaepHash
            ? crypto.publicEncrypt({ key: k.privateKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, value)
            : crypto.publicEncrypt({ key: k.privateKey, padding: crypto.constants.RSA_PKCS1_PADDING }, value);
          return { status: 200, body: { kid: kidOf(k.name, k.version), value: b64u(out) } };
        }
        if (oaepHash) {
          const out = crypto.privateDecrypt({ key: k.privateKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, value);
          return { status: 200, body: { kid: kidOf(k.name, k.version), value: b64u(out) } };
        }
        // Node refuses PKCS#1 v1.5 decryption (CVE-2023-46809); decrypt raw and unpad here.
        const em = crypto.privateDecrypt({ key: k.privateKey, padding: crypto.constants.RSA_NO_PADDING }, value);
        const out = pkcs1v15Unpad(em);
        if (!out) return kvError(400, "BadParameter", "Error occurred while decoding PKCS1 padding.");
        return { status: 200, body: { kid: kidOf(k.name, k.version), value: b64u(out) } };
      } catch {
        if (op === "wrapKey") return kvError(400, "BadParameter", "The value is too large for the key.");
        return kvError(400, "BadParameter", oaepHash ? "Error occurred while decoding OAEP padding." : "Error occurred while decoding PKCS1 padding.");
      }
    }
    if (alg in AES_ALGS) {
      if (!k.secret) return kvError(400, "BadParameter", `Algorithm ${alg} is not supported for key type ${k.kty}.`);
      if (k.secret.length !== AES_ALGS[alg]) return kvError(400, "BadParameter", `Algorithm ${alg} does not match the key size.`);
      const cipherName = `id-aes${k.secret.length * 8}-wrap`;
      try {
        const c = op === "wrapKey" ? crypto.createCipheriv(cipherName, k.secret, AES_KW_IV) : crypto.createDecipheriv(cipherName, k.secret, AES_KW_IV);
        const out = Buffer.concat([c.update(value), c.final()]);
        return { status: 200, body: { kid: kidOf(k.name, k.version), value: b64u(out) } };
      } catch {
        return kvError(400, "BadParameter", op === "wrapKey" ? "The value must be a multiple of 8 bytes." : "Error occurred while unwrapping the key: integrity check failed.");
      }
    }
    return kvError(400, "BadParameter", `Invalid algorithm: ${alg}.`);
  }

  function importMaterial(jwk, keyOps) {
    const kty = jwk?.kty;
    if (kty === "RSA" || kty === "RSA-HSM") {
      try {
        const privateKey = crypto.createPrivateKey({ key: { kty: "RSA", n: jwk.n, e: jwk.e, d: jwk.d, p: jwk.p, q: jwk.q, dp: jwk.dp, dq: jwk.dq, qi: jwk.qi }, format: "jwk" });
        return { kty, privateKey, keyOps };
      } catch {
        return { error: kvError(400, "BadParameter", "The RSA key must include its private parameters.") };
      }
    }
    if (kty === "oct" || kty === "oct-HSM") {
      const secret = unb64u(jwk.k ?? "");
      if (![16, 24, 32].includes(secret.length)) return { error: kvError(400, "BadParameter", "Symmetric keys must be 128, 192 or 256 bits.") };
      return { kty: "oct-HSM", secret, keyOps };
    }
    return { error: kvError(400, "BadParameter", `Key type ${kty} is not supported by the local Key Vault.`) };
  }

  /** Maps a request to { route, name, version }. */
  function route(method, pathname) {
    const parts = pathname.split("/").slice(1); // keeps empty segments ("keys/name//wrapkey")
    if (parts[0] !== "keys" || !parts[1]) return undefined;
    const name = decodeURIComponent(parts[1]);
    const rest = parts.slice(2);
    if (method === "POST" && rest.length === 1 && rest[0] === "create") return { route: "createKey", name };
    if (method === "POST" && rest.length === 1 && rest[0] === "rotate") return { route: "rotateKey", name };
    if (method === "PUT" && rest.length === 0) return { route: "importKey", name };
    if (method === "GET" && rest.length <= 1) return { route: "getKey", name, version: rest[0] ?? "" };
    if (method === "POST" && (rest.length === 2 || rest.length === 1)) {
      const op = rest[rest.length - 1];
      const version = rest.length === 2 ? rest[0] : "";
      if (op === "wrapkey") return { route: "wrapKey", name, version };
      if (op === "unwrapkey") return { route: "unwrapKey", name, version };
    }
    return undefined;
  }

  function takeFault(routeName, name) {
    const f = faults.find((x) => x.remaining > 0 && (x.route === "*" || x.route === routeName) && (!x.keyName || x.keyName === name));
    if (!f) return undefined;
    f.remaining--;
    return f;
  }

  function handle(req, body) {
    const url = new URL(req.url, "https://localhost");
    const r = route(req.method, url.pathname);
    const auth = req.headers.authorization ?? "";
    const token = /^Bearer (.+)$/.exec(auth)?.[1];
    const rec = { method: req.method, path: url.pathname, route: r?.route ?? "unknown", key: r?.name, version: r?.version, authenticated: !!token, status: 0, at: Date.now() };
    requests.push(rec);
    const respond = (res) => {
      rec.status = res.status;
      return res;
    };
    // The challenge: any request without a bearer token learns where to get one.
    if (!token) {
      return respond({
        status: 401,
        headers: { "WWW-Authenticate": `Bearer authorization="https://login.microsoftonline.com/${TENANT}", resource="${RESOURCE}"` },
        body: { error: { code: "Unauthorized", message: "AKV10000: Request is missing a Bearer or PoP token." } },
      });
    }
    const perms = tokens.get(token);
    if (!perms) return respond(kvError(401, "Unauthorized", "AKV10032: Invalid issuer or token."));
    const apiVersion = url.searchParams.get("api-version");
    if (!apiVersion) return respond(kvError(400, "BadParameter", "The 'api-version' query parameter is missing."));
    if (!API_VERSION.test(apiVersion)) return respond(kvError(400, "BadParameter", `The specified version (${apiVersion}) is not recognized. Consider using the latest supported version (2025-07-01).`));
    if (!r) return respond(kvError(404, "NotFound", `The local Key Vault does not implement ${req.method} ${url.pathname}.`));
    const fault = takeFault(r.route, r.name);
    if (fault) {
      const headers = fault.retryAfter !== undefined ? { "Retry-After": String(fault.retryAfter) } : {};
      const code = fault.status === 429 ? "Throttled" : "InternalServerError";
      const message = fault.status === 429 ? "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached" : "Injected fault.";
      return respond({ status: fault.status, headers, body: { error: { code, message } } });
    }
    const needed = ROUTE_PERMISSION[r.route];
    if (!perms.has(needed)) {
      return respond(kvError(403, "Forbidden", `The user, group or application does not have keys ${needed} permission on key vault '${vaultUrl}'.`, "ForbiddenByPolicy"));
    }
    let json = {};
    if (body.length) {
      try {
        json = JSON.parse(body.toString("utf8"));
      } catch {
        return respond(kvError(400, "BadParameter", "The request body is not valid JSON."));
      }
    }
    switch (r.route) {
      case "createKey": {
        const m = generate(json.kty, json.key_size, json.key_ops);
        if (m.error) return respond(m.error);
        return respond({ status: 200, body: bundle(addVersion(r.name, { ...m, tags: json.tags })) });
      }
      case "importKey": {
        const m = importMaterial(json.key, json.key?.key_ops);
        if (m.error) return respond(m.error);
        return respond({ status: 200, body: bundle(addVersion(r.name, { ...m, tags: json.tags })) });
      }
      case "rotateKey": {
        const found = findKey(r.name, "");
        if (found.error) return respond(found.error);
        const k = found.key;
        const m = k.secret ? generate("oct-HSM", k.secret.length * 8, k.keyOps) : generate(k.kty, k.privateKey.asymmetricKeyDetails.modulusLength, k.keyOps);
        return respond({ status: 200, body: bundle(addVersion(r.name, { ...m, tags: k.tags })) });
      }
      case "getKey": {
        const found = findKey(r.name, r.version);
        return respond(found.error ?? { status: 200, body: bundle(found.key) });
      }
      case "wrapKey":
      case "unwrapKey": {
        const found = findKey(r.name, r.version);
        if (found.error) return respond(found.error);
        if (typeof json.alg !== "string" || typeof json.value !== "string") return respond(kvError(400, "BadParameter", "Parameters 'alg' and 'value' are required."));
        return respond(wrapOrUnwrap(r.route, found.key, json.alg, unb64u(json.value)));
      }
      default:
        return respond(kvError(404, "NotFound", "Not found."));
    }
  }

  const server = https.createServer({ cert: certificate.cert, key: certificate.key }, (req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      let out;
      try {
        out = handle(req, Buffer.concat(chunks));
      } catch (e) {
        out = kvError(500, "InternalServerError", `Local Key Vault error: ${e?.message ?? e}`);
      }
      const payload = JSON.stringify(out.body ?? {});
      res.writeHead(out.status, {
        "Content-Type": "application/json; charset=utf-8",
        "Content-Length": Buffer.byteLength(payload),
        "x-ms-keyvault-service-version": "local",
        ...(out.headers ?? {}),
      });
      res.end(payload);
    });
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", resolve);
  });
  const { port } = server.address();
  vaultUrl = `https://127.0.0.1:${port}`;
  let caFile;

  const handle_ = {
    vaultUrl,
    port,
    /** PEM of the self-signed certificate: trust it with clientOptions.tlsOptions.ca or NODE_EXTRA_CA_CERTS. */
    ca: certificate.cert,
    certificateSource: certificate.source ?? "custom",
    /** A file holding `ca`, for NODE_EXTRA_CA_CERTS in child processes (written on first access). */
    get caFile() {
      if (!caFile) {
        const dir = mkdtempSync(path.join(tmpdir(), "local-kv-ca-"));
        caFile = path.join(dir, "ca.pem");
        writeFileSync(caFile, certificate.cert);
      }
      return caFile;
    },
    credential: staticTokenCredential(),
    /**
     * Options for KeyClient / CryptographyClient: trust the certificate and skip the challenge
     * resource check (the resource is vault.azure.net but the host is 127.0.0.1).
     */
    clientOptions: {
      tlsOptions: { ca: certificate.cert },
      disableChallengeResourceVerification: true,
    },
    /** Every request seen, in order: { method, path, route, key, version, authenticated, status, at }. */
    requests,
    /** Requests matching a route name ("getKey", "wrapKey", "unwrapKey", "createKey", "importKey", "rotateKey", "unknown") and optional filters. */
    count(routeName, filter = {}) {
      return requests.filter(
        (r) =>
          (routeName === "*" || r.route === routeName) &&
          (filter.status === undefined || r.status === filter.status) &&
          (filter.key === undefined || r.key === filter.key) &&
          (filter.authenticated === undefined || r.authenticated === filter.authenticated),
      ).length;
    },
    /** Per-route totals: { [route]: { total, byStatus: { [status]: n } } }. */
    counters() {
      const out = {};
      for (const r of requests) {
        const c = (out[r.route] ??= { total: 0, byStatus: {} });
        c.total++;
        c.byStatus[r.status] = (c.byStatus[r.status] ?? 0) + 1;
      }
      return out;
    },
    resetCounters() {
      requests.length = 0;
    },
    /**
     * Fail the next `times` authenticated requests to `route` ("*" = any) with `status`
     * (e.g. 429 + retryAfter seconds, 500, 503), optionally only for one key name.
     */
    injectFault({ route: routeName, status, times = 1, retryAfter, keyName }) {
      faults.push({ route: routeName, status, remaining: times, retryAfter, keyName });
    },
    clearFaults() {
      faults = [];
    },
    /** Restrict a token to some permissions ("get", "create", "import", "rotate", "wrapKey", "unwrapKey"). */
    setPermissions(token, permissions) {
      tokens.set(token, new Set(permissions));
    },
    /** Direct (non-HTTP) helpers for test setup. */
    createKeyDirect(name, { kty = "RSA", size, keyOps } = {}) {
      const m = generate(kty, size, keyOps);
      if (m.error) throw new Error(m.error.body.error.message);
      return kidOf(name, addVersion(name, m).version);
    },
    rotateKeyDirect(name) {
      const found = findKey(name, "");
      if (found.error) throw new Error(found.error.body.error.message);
      const k = found.key;
      const m = k.secret ? generate("oct-HSM", k.secret.length * 8, k.keyOps) : generate(k.kty, k.privateKey.asymmetricKeyDetails.modulusLength, k.keyOps);
      return kidOf(name, addVersion(name, { ...m, tags: k.tags }).version);
    },
    deleteKeyDirect(name) {
      keys.delete(name);
    },
    keyId(name, version) {
      return version === undefined ? `${vaultUrl}/keys/${name}` : kidOf(name, version);
    },
    async stop() {
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(() => resolve()));
      if (caFile) rmSync(path.dirname(caFile), { recursive: true, force: true });
    },
  };
  return handle_;
}
