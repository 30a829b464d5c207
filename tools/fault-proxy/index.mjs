// A small loopback HTTP/1.1 proxy that sits between storage clients and Azurite and injects faults:
// connection resets (before the request reaches storage, or after storage applied it), 500/503
// responses, truncated and corrupted response bodies, and delays. Every decision comes from a seeded
// PRNG, so a failing run can be replayed with the same seed (with the same request order).
//
// Without faults it is transparent: keep-alive on both sides, request and response bodies streamed
// (Content-Length or chunked, re-framed by node:http), raw response header names and duplicates kept.
import http from "node:http";

/** The disruptive faults; at most one of them applies to a request. `delay` is independent. */
export const FAULT_KINDS = ["reset", "resetAfterForward", "status500", "status503", "truncate", "corrupt"];

const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer", "upgrade"]);
const MAX_EVENTS = 10_000;

/**
 * sfc32 seeded through splitmix32: small, fast and well distributed. Deterministic for a seed.
 * @param {number | string} seed
 * @returns {() => number} uniform floats in [0, 1)
 */
export function createPrng(seed) {
  let s = typeof seed === "number" ? seed >>> 0 : hashString(String(seed));
  const splitmix = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix();
  let b = splitmix();
  let c = splitmix();
  let d = splitmix();
  const next = () => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t / 4294967296;
  };
  for (let i = 0; i < 12; i++) next();
  return next;
}

function hashString(str) {
  let h = 0x811c9dc5;
  for (let i = 0; i < str.length; i++) h = Math.imul(h ^ str.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

function normalizeFaults(faults = {}) {
  const out = { delay: 0, delayMs: [5, 50], match: undefined, force: undefined };
  let total = 0;
  for (const k of FAULT_KINDS) {
    const p = faults[k] ?? 0;
    if (typeof p !== "number" || !(p >= 0 && p <= 1)) throw new RangeError(`fault probability ${k} must be a number from 0 to 1`);
    out[k] = p;
    total += p;
  }
  if (total > 1 + 1e-9) throw new RangeError(`the probabilities of ${FAULT_KINDS.join(", ")} add up to ${total}, more than 1`);
  const delay = faults.delay ?? 0;
  if (typeof delay !== "number" || !(delay >= 0 && delay <= 1)) throw new RangeError("fault probability delay must be a number from 0 to 1");
  out.delay = delay;
  if (faults.delayMs !== undefined) {
    const [lo, hi] = faults.delayMs;
    if (!(lo >= 0 && hi >= lo)) throw new RangeError("delayMs must be [min, max] with 0 <= min <= max");
    out.delayMs = [lo, hi];
  }
  if (faults.match !== undefined && typeof faults.match !== "function") throw new TypeError("match must be a function");
  out.match = faults.match;
  if (faults.force !== undefined && typeof faults.force !== "function") throw new TypeError("force must be a function");
  out.force = faults.force;
  return out;
}

function emptyStats() {
  return {
    requests: 0,
    forwarded: 0,
    completed: 0,
    upstreamErrors: 0,
    connections: 0,
    faults: { reset: 0, resetAfterForward: 0, status500: 0, status503: 0, truncate: 0, corrupt: 0, delay: 0 },
    faultsInjected: 0,
  };
}

function pickKind(faults, u) {
  let acc = 0;
  for (const k of FAULT_KINDS) {
    acc += faults[k];
    if (u < acc) return k;
  }
  return "none";
}

/** The request's headers as raw [name, value, …] pairs: names keep their case (x-ms-meta-Project) and duplicates stay. */
function requestHeaders(req) {
  const out = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (!HOP_BY_HOP.has(req.rawHeaders[i].toLowerCase())) out.push(req.rawHeaders[i], req.rawHeaders[i + 1]);
  return out;
}

function responseRawHeaders(raw) {
  const out = [];
  for (let i = 0; i < raw.length; i += 2) if (!HOP_BY_HOP.has(raw[i].toLowerCase())) out.push(raw[i], raw[i + 1]);
  return out;
}

function hasBody(method, status, headers) {
  if (method === "HEAD" || status === 204 || status === 304 || (status >= 100 && status < 200)) return false;
  const len = headers["content-length"];
  if (len !== undefined) return Number(len) > 0;
  return true; // chunked or until close: decided by what arrives
}

/** Sends the status line and headers, then calls `cut` once they reached the socket. */
function cutAfterHeaders(res, cut) {
  res.flushHeaders();
  if (res.socket) res.socket.write("", cut);
  else cut();
}

/** An Azure-shaped error response (XML for blob/queue, JSON for table requests). */
function errorResponse(req, status) {
  const code = status === 503 ? "ServerBusy" : "InternalError";
  const message = `Injected by fault-proxy: ${status === 503 ? "The server is busy." : "The server encountered an internal error."}`;
  const json = /json/i.test(String(req.headers.accept ?? "")) || /json/i.test(String(req.headers["content-type"] ?? ""));
  const body = json
    ? JSON.stringify({ "odata.error": { code, message: { lang: "en-US", value: message } } })
    : `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`;
  const headers = {
    "content-type": json ? "application/json;odata=minimalmetadata;streaming=true;charset=utf-8" : "application/xml",
    "content-length": Buffer.byteLength(body),
    "x-ms-error-code": code,
    "x-ms-request-id": `fault-proxy-${status}`,
  };
  const clientRequestId = req.headers["x-ms-client-request-id"];
  if (typeof clientRequestId === "string") headers["x-ms-client-request-id"] = clientRequestId;
  return { body, headers };
}

/**
 * Starts the proxy on 127.0.0.1.
 * @param {import("./index.d.mts").FaultProxyOptions} options
 * @returns {Promise<import("./index.d.mts").FaultProxy>}
 */
export async function startFaultProxy(options) {
  const target = new URL(options.target);
  if (target.protocol !== "http:") throw new TypeError("target must be an http:// URL (Azurite on loopback)");
  const targetPort = Number(target.port || 80);
  const targetHost = target.hostname;
  let faults = normalizeFaults(options.faults);
  const rand = createPrng(options.seed ?? 1);
  let stats = emptyStats();
  let events = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const sockets = new Set();

  const record = (event) => {
    if (events.length < MAX_EVENTS) events.push(event);
  };
  const count = (kind) => {
    stats.faults[kind]++;
    stats.faultsInjected++;
  };

  const server = http.createServer((req, res) => {
    void handle(req, res);
  });
  // Longer than any client's idle timeout, so the proxy never closes a connection a client is about to reuse.
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 121_000;
  server.requestTimeout = 0;
  server.on("connection", (socket) => {
    stats.connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  server.on("clientError", (_err, socket) => socket.destroy());

  async function handle(req, res) {
    const seq = ++stats.requests;
    // Always draw the same number of values per request, so one request's decisions never shift the next's.
    const [uDelay, uKind, uDelayMs, uPos, uBit] = [rand(), rand(), rand(), rand(), rand()];
    const info = { method: req.method ?? "GET", url: req.url ?? "/", headers: req.headers };
    const eligible = faults.match === undefined || faults.match(info);
    // A scripted fault (force) replaces the drawn one for this request; the draws above still happen.
    const forced = eligible && faults.force !== undefined ? faults.force(info, seq) : undefined;
    if (forced !== undefined && !FAULT_KINDS.includes(forced)) throw new RangeError(`force returned an unknown fault kind ${String(forced)}`);
    const kind = forced ?? (eligible ? pickKind(faults, uKind) : "none");
    const event = { seq, method: info.method, url: info.url, fault: "none", delayMs: 0, status: undefined };
    record(event);

    let clientGone = false;
    res.on("close", () => {
      clientGone = true;
    });

    if (eligible && uDelay < faults.delay) {
      const [lo, hi] = faults.delayMs;
      const ms = Math.round(lo + (hi - lo) * uDelayMs);
      event.delayMs = ms;
      count("delay");
      await new Promise((r) => setTimeout(r, ms));
      if (clientGone) return;
    }

    if (kind === "reset") {
      event.fault = "reset";
      count("reset");
      req.socket.destroy();
      return;
    }
    if (kind === "status500" || kind === "status503") {
      const status = kind === "status500" ? 500 : 503;
      event.fault = kind;
      event.status = status;
      count(kind);
      req.resume();
      const send = () => {
        if (clientGone) return;
        const { body, headers } = errorResponse(req, status);
        res.writeHead(status, headers);
        res.end(body);
      };
      if (req.complete) send();
      else req.once("end", send);
      return;
    }

    stats.forwarded++;
    const bodiless = req.headers["transfer-encoding"] === undefined && Number(req.headers["content-length"] ?? 0) === 0;
    let up;
    res.on("close", () => {
      if (!res.writableFinished) up?.destroy();
    });
    req.on("aborted", () => up?.destroy());
    const send = (attempt) => {
      up = http.request({ host: targetHost, port: targetPort, method: req.method, path: req.url, headers: requestHeaders(req), agent });
      const thisUp = up;
      let responded = false;
      thisUp.on("error", () => {
        if (clientGone) return;
        // A pooled keep-alive socket the server closed while idle: retry once when nothing was consumed.
        if (!responded && thisUp.reusedSocket && bodiless && attempt === 0) {
          send(1);
          return;
        }
        stats.upstreamErrors++;
        if (!res.headersSent) {
          res.writeHead(502, { "content-type": "text/plain", "x-ms-error-code": "FaultProxyUpstreamError" });
          res.end("fault-proxy: upstream connection failed");
        } else {
          res.destroy();
        }
      });
      thisUp.on("response", (ur) => {
        responded = true;
        onResponse(ur);
      });
      if (bodiless) thisUp.end();
      else req.pipe(thisUp);
    };
    const onResponse = (ur) => {
      event.status = ur.statusCode;
      if (kind === "resetAfterForward") {
        // Storage applied the request; the client never learns the outcome.
        event.fault = "resetAfterForward";
        count("resetAfterForward");
        ur.resume();
        req.socket.destroy();
        return;
      }
      const status = ur.statusCode ?? 502;
      const raw = responseRawHeaders(ur.rawHeaders);
      const bodyExpected = hasBody(req.method, status, ur.headers);
      const declared = ur.headers["content-length"] !== undefined ? Number(ur.headers["content-length"]) : undefined;

      if ((kind === "truncate" || kind === "corrupt") && bodyExpected) {
        if (declared !== undefined) {
          streamWithFault(ur, res, status, raw, kind, Math.floor(uPos * declared), Math.floor(uBit * 8), event);
        } else {
          bufferWithFault(ur, res, status, raw, kind, uPos, Math.floor(uBit * 8), event);
        }
        return;
      }
      res.writeHead(status, ur.statusMessage, raw);
      ur.pipe(res);
      ur.on("end", () => stats.completed++);
      ur.on("error", () => res.destroy());
    };
    if (bodiless) req.resume();
    send(0);
  }

  /** Content-Length bodies: flip one bit at `pos`, or stop after `pos` bytes and drop the connection. */
  function streamWithFault(ur, res, status, raw, kind, pos, bit, event) {
    res.writeHead(status, ur.statusMessage, raw);
    let seen = 0;
    let done = false;
    event.fault = kind;
    count(kind);
    ur.on("data", (chunk) => {
      if (done) return;
      const start = seen;
      seen += chunk.length;
      if (kind === "corrupt") {
        if (pos >= start && pos < seen) {
          chunk = Buffer.from(chunk);
          chunk[pos - start] ^= 1 << bit;
        }
        res.write(chunk);
        return;
      }
      if (seen <= pos) {
        res.write(chunk);
        return;
      }
      done = true;
      ur.resume();
      const keep = chunk.subarray(0, pos - start);
      const cut = () => res.socket?.destroy();
      if (keep.length) res.write(keep, cut);
      else cutAfterHeaders(res, cut);
    });
    ur.on("end", () => {
      if (done) return;
      res.end();
      stats.completed++;
    });
    ur.on("error", () => res.destroy());
  }

  /** Bodies of unknown length (chunked): read the whole body, then apply the fault. */
  function bufferWithFault(ur, res, status, raw, kind, u, bit, event) {
    const parts = [];
    ur.on("data", (c) => parts.push(c));
    ur.on("error", () => res.destroy());
    ur.on("end", () => {
      const body = Buffer.concat(parts);
      res.writeHead(status, ur.statusMessage, raw);
      if (body.length === 0) {
        event.fault = `none (${kind} skipped: empty body)`;
        res.end();
        stats.completed++;
        return;
      }
      event.fault = kind;
      count(kind);
      const pos = Math.floor(u * body.length);
      if (kind === "corrupt") {
        body[pos] ^= 1 << bit;
        res.end(body);
        stats.completed++;
        return;
      }
      const cut = () => res.socket?.destroy();
      if (pos > 0) res.write(body.subarray(0, pos), cut);
      else cutAfterHeaders(res, cut);
    });
  }

  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address();
  const url = `http://127.0.0.1:${port}${target.pathname === "/" ? "" : target.pathname.replace(/\/$/, "")}`;

  return {
    url,
    port,
    target: target.toString(),
    stats: () => structuredClone(stats),
    events: () => events.map((e) => ({ ...e })),
    resetStats: () => {
      stats = emptyStats();
      events = [];
    },
    setFaults: (next) => {
      faults = normalizeFaults(next);
    },
    stop: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const s of sockets) s.destroy();
        agent.destroy();
      }),
  };
}

/** Rewrites an Azure Storage connection string so one service endpoint goes through the proxy. */
export function proxiedConnectionString(connectionString, service, proxyUrl) {
  const key = { blob: "BlobEndpoint", queue: "QueueEndpoint", table: "TableEndpoint" }[service];
  if (!key) throw new TypeError(`service must be blob, queue or table, not ${service}`);
  const parts = connectionString.split(";").filter(Boolean);
  let found = false;
  const out = parts.map((p) => {
    const i = p.indexOf("=");
    if (p.slice(0, i).toLowerCase() !== key.toLowerCase()) return p;
    found = true;
    const old = new URL(p.slice(i + 1));
    const next = new URL(proxyUrl);
    next.pathname = old.pathname;
    return `${key}=${next.toString().replace(/\/$/, "")}`;
  });
  if (!found) throw new TypeError(`the connection string has no ${key}`);
  return `${out.join(";")};`;
}
