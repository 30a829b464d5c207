// The fault proxy against a plain node:http server: transparent without faults (keep-alive, chunked
// and Content-Length bodies both ways, raw headers), each fault kind does what it says and is counted,
// and the same seed gives the same faults.
import http from "node:http";
import { createHash } from "node:crypto";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FAULT_KINDS, createPrng, proxiedConnectionString, startFaultProxy, type FaultProxy } from "../index.mjs";

/** Deterministic body bytes for a size (so the test knows what the upstream sent). */
function bodyOf(n: number, salt = 0): Buffer {
  const b = Buffer.alloc(n);
  let x = (n * 2654435761 + salt) >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

let upstream: http.Server;
let upstreamUrl: string;
let upstreamRequests = 0;
let upstreamConnections = 0;

beforeAll(async () => {
  upstream = http.createServer((req, res) => {
    upstreamRequests++;
    const url = new URL(req.url ?? "/", "http://x");
    const n = Number(url.searchParams.get("n") ?? "0");
    if (url.pathname === "/fixed") {
      const body = bodyOf(n);
      res.writeHead(200, [["Content-Type", "application/octet-stream"], ["Content-Length", String(body.length)], ["X-Mixed-Case", "Yes"], ["Set-Cookie", "a=1"], ["Set-Cookie", "b=2"]].flat());
      if (req.method === "HEAD") res.end();
      else res.end(body);
    } else if (url.pathname === "/chunked") {
      const body = bodyOf(n, 7);
      res.writeHead(200, { "content-type": "application/octet-stream" }); // no length: chunked
      let i = 0;
      const step = Math.max(1, Math.ceil(n / 7));
      const pump = () => {
        if (i >= body.length) return res.end();
        res.write(body.subarray(i, i + step));
        i += step;
        setImmediate(pump);
      };
      pump();
    } else if (url.pathname === "/request-headers") {
      const out = JSON.stringify(req.rawHeaders);
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(out) });
      res.end(out);
    } else if (url.pathname === "/echo") {
      const h = createHash("sha256");
      let len = 0;
      req.on("data", (c: Buffer) => {
        h.update(c);
        len += c.length;
      });
      req.on("end", () => {
        const out = JSON.stringify({ len, sha: h.digest("hex"), te: req.headers["transfer-encoding"] ?? null, cl: req.headers["content-length"] ?? null });
        res.writeHead(201, { "content-type": "application/json", "content-length": Buffer.byteLength(out) });
        res.end(out);
      });
    } else if (url.pathname === "/empty") {
      res.writeHead(204);
      res.end();
    } else {
      res.writeHead(404, { "content-length": 0 });
      res.end();
    }
  });
  upstream.on("connection", () => upstreamConnections++);
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});
afterAll(async () => {
  upstream.closeAllConnections();
  await new Promise((r) => upstream.close(r));
});

interface Result {
  status: number | undefined;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  error: Error | undefined;
}

/** One request through `agent`; returns whatever arrived before any error. */
function request(base: string, path: string, options: { method?: string; body?: Buffer; chunkedBody?: Buffer[]; agent?: http.Agent } = {}): Promise<Result> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    const result: Result = { status: undefined, headers: {}, rawHeaders: [], body: Buffer.alloc(0), error: undefined };
    const done = (error?: Error) => {
      result.body = Buffer.concat(parts);
      result.error ??= error;
      resolve(result);
    };
    const req = http.request(`${base}${path}`, { method: options.method ?? "GET", agent: options.agent ?? false, headers: options.body ? { "content-length": options.body.length } : {} }, (res) => {
      result.status = res.statusCode;
      result.headers = res.headers;
      result.rawHeaders = res.rawHeaders;
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("aborted", () => (result.error ??= new Error("aborted")));
      res.on("error", (e) => (result.error ??= e));
      res.on("close", () => done(res.complete ? undefined : new Error("response closed before it was complete")));
    });
    req.on("error", (e) => done(e));
    if (options.chunkedBody) {
      for (const c of options.chunkedBody) req.write(c);
      req.end();
    } else req.end(options.body);
  });
}

describe("fault proxy: transparent without faults (HTTP/1.1 keep-alive, Content-Length and chunked)", () => {
  let proxy: FaultProxy;
  beforeAll(async () => {
    proxy = await startFaultProxy({ target: upstreamUrl, seed: 1 });
  });
  afterAll(() => proxy.stop());

  it("Content-Length and chunked response bodies arrive byte-identical over one reused keep-alive connection", async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const upConnBefore = upstreamConnections;
    const sizes = [0, 1, 15, 16, 17, 1000, 65_536, 1_000_003];
    for (const n of sizes) {
      const fixed = await request(proxy.url, `/fixed?n=${n}`, { agent });
      expect(fixed.error).toBeUndefined();
      expect(fixed.status).toBe(200);
      expect(fixed.headers["content-length"]).toBe(String(n));
      expect(fixed.body.equals(bodyOf(n))).toBe(true);
      const chunked = await request(proxy.url, `/chunked?n=${n}`, { agent });
      expect(chunked.error).toBeUndefined();
      expect(chunked.headers["transfer-encoding"]).toBe("chunked");
      expect(chunked.body.equals(bodyOf(n, 7))).toBe(true);
    }
    agent.destroy();
    const s = proxy.stats();
    expect(s.requests).toBe(sizes.length * 2);
    expect(s.completed).toBe(sizes.length * 2);
    expect(s.connections).toBe(1); // the client reused one connection for every request
    expect(upstreamConnections - upConnBefore).toBe(1); // and so did the proxy towards the server
    expect(s.faultsInjected).toBe(0);
  });

  it("request bodies (Content-Length and chunked) reach the server unchanged", async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const body = bodyOf(300_001, 3);
    const sha = createHash("sha256").update(body).digest("hex");
    const withLength = await request(proxy.url, "/echo", { method: "PUT", body, agent });
    expect(JSON.parse(withLength.body.toString())).toEqual({ len: body.length, sha, te: null, cl: String(body.length) });
    const chunks = [body.subarray(0, 1), body.subarray(1, 70_000), body.subarray(70_000)];
    const chunked = await request(proxy.url, "/echo", { method: "POST", chunkedBody: chunks, agent });
    expect(JSON.parse(chunked.body.toString())).toEqual({ len: body.length, sha, te: "chunked", cl: null });
    agent.destroy();
  });

  it("HEAD, 204 and 404 responses pass through; header names keep their case and duplicates", async () => {
    const head = await request(proxy.url, "/fixed?n=5000", { method: "HEAD" });
    expect(head.error).toBeUndefined();
    expect(head.headers["content-length"]).toBe("5000");
    expect(head.body.length).toBe(0);
    expect((await request(proxy.url, "/empty")).status).toBe(204);
    expect((await request(proxy.url, "/nothing")).status).toBe(404);
    const get = await request(proxy.url, "/fixed?n=3");
    expect(get.rawHeaders).toContain("X-Mixed-Case");
    expect(get.headers["set-cookie"]).toEqual(["a=1", "b=2"]);
  });

  it("request header names keep their case and duplicates on the way to the server (x-ms-meta-Project stays Project)", async () => {
    const seen = await new Promise<string[]>((resolve, reject) => {
      const req = http.request(`${proxy.url}/request-headers`, { headers: [["Host", new URL(proxy.url).host], ["x-ms-meta-Project", "demo"], ["X-Dup", "1"], ["X-Dup", "2"]].flat() }, (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve(JSON.parse(body) as string[]));
      });
      req.on("error", reject);
      req.end();
    });
    const pairs = seen.flatMap((v, i) => (i % 2 === 0 ? [[v, seen[i + 1]]] : []));
    expect(pairs).toContainEqual(["x-ms-meta-Project", "demo"]);
    expect(pairs.filter(([k]) => k === "X-Dup").map(([, v]) => v)).toEqual(["1", "2"]);
  });

  it("100 concurrent requests over a keep-alive pool all arrive intact", async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => request(proxy.url, i % 2 ? `/fixed?n=${i * 997}` : `/chunked?n=${i * 997}`, { agent })));
    results.forEach((r, i) => {
      expect(r.error).toBeUndefined();
      expect(r.body.equals(i % 2 ? bodyOf(i * 997) : bodyOf(i * 997, 7))).toBe(true);
    });
    agent.destroy();
  });
});

describe("fault proxy: each fault kind, counted", () => {
  async function withFault(faults: Parameters<typeof startFaultProxy>[0]["faults"], fn: (p: FaultProxy) => Promise<void>) {
    const p = await startFaultProxy({ target: upstreamUrl, seed: 99, faults });
    try {
      await fn(p);
    } finally {
      await p.stop();
    }
  }

  it("reset: the connection drops before the request reaches the server", async () => {
    await withFault({ reset: 1 }, async (p) => {
      const before = upstreamRequests;
      const r = await request(p.url, "/fixed?n=10");
      expect(r.error).toBeDefined();
      expect(r.status).toBeUndefined();
      expect(upstreamRequests).toBe(before);
      expect(p.stats().faults.reset).toBe(1);
      expect(p.stats().forwarded).toBe(0);
    });
  });

  it("resetAfterForward: the server applies the request, the client only sees a dropped connection", async () => {
    await withFault({ resetAfterForward: 1 }, async (p) => {
      const before = upstreamRequests;
      const r = await request(p.url, "/echo", { method: "PUT", body: bodyOf(100) });
      expect(r.error).toBeDefined();
      expect(r.status).toBeUndefined();
      expect(upstreamRequests).toBe(before + 1);
      expect(p.stats().faults.resetAfterForward).toBe(1);
    });
  });

  it("status500 / status503: Azure-shaped errors (XML, or JSON for table requests) without forwarding", async () => {
    await withFault({ status503: 1 }, async (p) => {
      const before = upstreamRequests;
      const r = await request(p.url, "/echo", { method: "PUT", body: bodyOf(10_000) });
      expect(r.status).toBe(503);
      expect(r.headers["x-ms-error-code"]).toBe("ServerBusy");
      expect(r.body.toString()).toContain("<Code>ServerBusy</Code>");
      expect(upstreamRequests).toBe(before);
      expect(p.stats().faults.status503).toBe(1);
    });
    await withFault({ status500: 1 }, async (p) => {
      const r = await new Promise<{ status: number | undefined; body: string }>((resolve) => {
        http.get(`${p.url}/fixed?n=1`, { headers: { accept: "application/json;odata=nometadata" } }, (res) => {
          let s = "";
          res.on("data", (c: Buffer) => (s += c.toString()));
          res.on("end", () => resolve({ status: res.statusCode, body: s }));
        });
      });
      expect(r.status).toBe(500);
      expect(JSON.parse(r.body)["odata.error"].code).toBe("InternalError");
      expect(p.stats().faults.status500).toBe(1);
    });
  });

  it("truncate: a strict prefix of the body arrives, then the connection drops (Content-Length and chunked)", async () => {
    await withFault({ truncate: 1 }, async (p) => {
      for (const [path, full] of [["/fixed?n=100000", bodyOf(100_000)], ["/chunked?n=100000", bodyOf(100_000, 7)]] as const) {
        const r = await request(p.url, path);
        expect(r.status).toBe(200);
        expect(r.error).toBeDefined();
        expect(r.body.length).toBeLessThan(full.length);
        expect(r.body.equals(full.subarray(0, r.body.length))).toBe(true);
      }
      // A one-byte body is cut at 0: the status line and headers still arrive, then the connection drops.
      for (const path of ["/fixed?n=1", "/chunked?n=1"]) {
        const one = await request(p.url, path);
        expect(one.status).toBe(200);
        expect(one.error).toBeDefined();
        expect(one.body.length).toBe(0);
      }
      // Nothing to truncate in an empty body: passed through, not counted.
      expect((await request(p.url, "/fixed?n=0")).error).toBeUndefined();
      expect(p.stats().faults.truncate).toBe(4);
    });
  });

  it("corrupt: the body keeps its length with exactly one bit flipped (Content-Length and chunked)", async () => {
    await withFault({ corrupt: 1 }, async (p) => {
      for (const [path, full] of [["/fixed?n=70000", bodyOf(70_000)], ["/chunked?n=70000", bodyOf(70_000, 7)], ["/fixed?n=1", bodyOf(1)]] as const) {
        const r = await request(p.url, path);
        expect(r.error).toBeUndefined();
        expect(r.body.length).toBe(full.length);
        let bits = 0;
        for (let i = 0; i < full.length; i++) bits += ((r.body[i]! ^ full[i]!) >>> 0).toString(2).replace(/0/g, "").length;
        expect(bits).toBe(1);
      }
      expect(p.stats().faults.corrupt).toBe(3);
    });
  });

  it("delay: the response waits at least the configured minimum", async () => {
    await withFault({ delay: 1, delayMs: [120, 150] }, async (p) => {
      const t0 = Date.now();
      const r = await request(p.url, "/fixed?n=10");
      expect(Date.now() - t0).toBeGreaterThanOrEqual(115);
      expect(r.body.equals(bodyOf(10))).toBe(true);
      expect(p.stats().faults.delay).toBe(1);
      expect(p.events()[0]!.delayMs).toBeGreaterThanOrEqual(120);
    });
  });

  it("match limits faults to chosen requests; setFaults switches at run time; bad probabilities are refused", async () => {
    await withFault({ status503: 1, match: (r) => r.method === "PUT" }, async (p) => {
      expect((await request(p.url, "/fixed?n=5")).status).toBe(200);
      expect((await request(p.url, "/echo", { method: "PUT", body: bodyOf(5) })).status).toBe(503);
      p.setFaults({});
      expect((await request(p.url, "/echo", { method: "PUT", body: bodyOf(5) })).status).toBe(201);
      expect(p.stats()).toMatchObject({ requests: 3, faultsInjected: 1 });
      expect(() => p.setFaults({ reset: 0.6, status503: 0.6 })).toThrow(RangeError);
      expect(() => p.setFaults({ truncate: -0.1 })).toThrow(RangeError);
      expect(() => p.setFaults({ delay: 2 })).toThrow(RangeError);
      expect(FAULT_KINDS).toEqual(["reset", "resetAfterForward", "status500", "status503", "truncate", "corrupt"]);
    });
  });

  it("force scripts a fault for chosen requests (by sequence number), on top of the drawn ones; match still gates it", async () => {
    const force = (r: { method: string }, seq: number) => (seq === 2 ? ("status503" as const) : r.method === "PUT" ? ("status500" as const) : undefined);
    await withFault({ force, match: (r) => !r.url.includes("n=9") }, async (p) => {
      expect((await request(p.url, "/fixed?n=5")).status).toBe(200);
      expect((await request(p.url, "/fixed?n=5")).status).toBe(503);
      expect((await request(p.url, "/echo", { method: "PUT", body: bodyOf(5) })).status).toBe(500);
      expect((await request(p.url, "/fixed?n=9")).status).toBe(200);
      expect(p.stats()).toMatchObject({ requests: 4, faultsInjected: 2 });
      p.resetStats();
      expect((await request(p.url, "/fixed?n=5")).status).toBe(200);
      expect((await request(p.url, "/fixed?n=5")).status).toBe(503);
      expect(() => p.setFaults({ force: 5 as never })).toThrow(TypeError);
    });
  });
});

describe("fault proxy: seeded and counted", () => {
  const mixed = { reset: 0.1, resetAfterForward: 0.1, status500: 0.1, status503: 0.1, truncate: 0.1, corrupt: 0.1, delay: 0.2, delayMs: [1, 3] as [number, number] };

  async function run(seed: number) {
    const p = await startFaultProxy({ target: upstreamUrl, seed, faults: mixed });
    const outcomes: string[] = [];
    for (let i = 0; i < 120; i++) {
      const n = 1000 + i;
      const r = await request(p.url, `/fixed?n=${n}`);
      if (r.error) outcomes.push(r.status === undefined ? "reset" : "truncated");
      else if (r.status !== 200) outcomes.push(String(r.status));
      else outcomes.push(r.body.equals(bodyOf(n)) ? "ok" : "corrupt");
    }
    const stats = p.stats();
    const events = p.events().map((e) => `${e.fault}/${e.delayMs}`);
    await p.stop();
    return { outcomes, stats, events };
  }

  it("the same seed gives the same faults in the same order; another seed does not", async () => {
    const a = await run(2024);
    const b = await run(2024);
    const c = await run(7);
    expect(b.events).toEqual(a.events);
    expect(b.outcomes).toEqual(a.outcomes);
    expect(c.events).not.toEqual(a.events);
  });

  it("counters match what the client observed: requests, each fault kind, and their sum", async () => {
    const { outcomes, stats } = await run(31337);
    const tally = (k: string) => outcomes.filter((o) => o === k).length;
    expect(stats.requests).toBe(120);
    expect(stats.faults.reset + stats.faults.resetAfterForward).toBe(tally("reset"));
    expect(stats.faults.status500).toBe(tally("500"));
    expect(stats.faults.status503).toBe(tally("503"));
    expect(stats.faults.truncate).toBe(tally("truncated"));
    expect(stats.faults.corrupt).toBe(tally("corrupt"));
    expect(stats.faultsInjected).toBe(Object.values(stats.faults).reduce((x, y) => x + y, 0));
    for (const k of FAULT_KINDS) expect(stats.faults[k], k).toBeGreaterThan(0);
    expect(tally("ok")).toBe(120 - (stats.faultsInjected - stats.faults.delay));
  });

  it("createPrng is deterministic, uniform enough and seed-sensitive", () => {
    const a = createPrng(5);
    const b = createPrng(5);
    const xs = Array.from({ length: 10_000 }, () => a());
    expect(Array.from({ length: 10_000 }, () => b())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.02);
    expect(createPrng("five")()).not.toBe(createPrng(5)());
  });

  it("proxiedConnectionString swaps one endpoint for the proxy and keeps the account path", () => {
    const cs = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;";
    const out = proxiedConnectionString(cs, "blob", "http://127.0.0.1:5555/devstoreaccount1");
    expect(out).toContain("BlobEndpoint=http://127.0.0.1:5555/devstoreaccount1;");
    expect(out).toContain("QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;");
    expect(() => proxiedConnectionString(cs, "table", "http://127.0.0.1:5555")).toThrow(/TableEndpoint/);
  });
});
