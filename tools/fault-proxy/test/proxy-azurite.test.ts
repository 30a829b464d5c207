// The fault proxy between a plain @azure/storage-blob client and Azurite: byte-identical round trips
// without faults (the SDK's keep-alive connections reused), and under seeded faults every operation
// either recovers through the SDK's retries with identical bytes or fails with an error — counted.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { proxiedConnectionString, startFaultProxy, type FaultProxy, type FaultProxyStats } from "../index.mjs";

let azurite: AzuriteHandle;
let proxy: FaultProxy;
let container: ContainerClient;

const RETRY = { maxTries: 6, retryDelayInMs: 10, maxRetryDelayInMs: 80, tryTimeoutInMs: 10_000 };

beforeAll(async () => {
  azurite = await startAzurite();
  proxy = await startFaultProxy({ target: azurite.blobUrl, seed: 8 });
  const service = BlobServiceClient.fromConnectionString(proxiedConnectionString(azurite.connectionString, "blob", proxy.url), { retryOptions: RETRY });
  container = service.getContainerClient(`faults-${Date.now()}`);
  await container.create();
});
afterAll(async () => {
  await proxy?.stop();
  await azurite?.stop();
});

async function streamToBuffer(stream: NodeJS.ReadableStream | undefined): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream!) parts.push(Buffer.from(c as Buffer));
  return Buffer.concat(parts);
}

describe("fault proxy + Azurite + @azure/storage-blob", () => {
  it("without faults, uploads (single shot and staged blocks) and downloads (whole, ranged, parallel) are byte-identical over reused connections", async () => {
    proxy.setFaults({});
    proxy.resetStats();
    for (const size of [0, 1, 4095, 70_000, 3 * 1024 * 1024 + 17]) {
      const data = randomBytes(size);
      const blob = container.getBlockBlobClient(`plain-${size}`);
      await blob.uploadData(data, { blockSize: 1024 * 1024, maxSingleShotSize: 256 * 1024, concurrency: 2, metadata: { size: String(size) } });
      expect((await blob.downloadToBuffer(0, undefined, { blockSize: 512 * 1024, concurrency: 4 })).equals(data)).toBe(true);
      const whole = await blob.download();
      expect((await streamToBuffer(whole.readableStreamBody)).equals(data)).toBe(true);
      expect(whole.metadata).toEqual({ size: String(size) });
      if (size > 10) {
        const ranged = await blob.download(3, size - 10);
        expect((await streamToBuffer(ranged.readableStreamBody)).equals(data.subarray(3, size - 7))).toBe(true);
      }
    }
    const listed: string[] = [];
    for await (const b of container.listBlobsFlat()) listed.push(b.name);
    expect(listed.filter((n) => n.startsWith("plain-")).length).toBe(5);
    const s = proxy.stats();
    expect(s.faultsInjected).toBe(0);
    expect(s.completed).toBe(s.requests);
    expect(s.connections).toBeLessThan(s.requests / 2); // keep-alive: connections are reused
  });

  it(
    "under seeded resets, 500/503, truncated bodies and delays, every operation recovers with identical bytes or fails with an error; counts reported",
    async () => {
      proxy.resetStats();
      proxy.setFaults({ reset: 0.06, resetAfterForward: 0.06, status500: 0.06, status503: 0.06, truncate: 0.08, delay: 0.1, delayMs: [1, 20] });
      const counts = { operations: 0, recovered: 0, clean: 0, failed: 0, wrongBytes: 0 };
      const errors = new Set<string>();
      for (let i = 0; i < 40; i++) {
        const data = randomBytes((i * 7919) % 200_000);
        const blob = container.getBlockBlobClient(`faulty-${i}`);
        for (const op of ["upload", "downloadToBuffer", "download"] as const) {
          counts.operations++;
          const before: FaultProxyStats = proxy.stats();
          try {
            if (op === "upload") await blob.uploadData(data, { blockSize: 64 * 1024, maxSingleShotSize: 64 * 1024, concurrency: 1 });
            else {
              const got = op === "downloadToBuffer" ? await blob.downloadToBuffer(0, undefined, { blockSize: 64 * 1024, concurrency: 1, maxRetryRequestsPerBlock: 5 }) : await streamToBuffer((await blob.download(0, undefined, { maxRetryRequests: 5 })).readableStreamBody);
              if (!got.equals(data)) counts.wrongBytes++;
            }
            const injected = proxy.stats().faultsInjected - before.faultsInjected - (proxy.stats().faults.delay - before.faults.delay);
            if (injected > 0) counts.recovered++;
            else counts.clean++;
          } catch (e) {
            counts.failed++;
            errors.add(`${op}: ${(e as { code?: string }).code ?? (e as Error).name} ${String((e as Error).message).slice(0, 60)}`);
          }
        }
      }
      const s = proxy.stats();
      console.log(`fault-proxy/azurite: ${JSON.stringify({ ...counts, requests: s.requests, faults: s.faults, errors: [...errors] })}`);
      // Without corruption in play, a download that completes has the exact bytes (the SDK checks lengths and resumes).
      expect(counts.wrongBytes).toBe(0);
      expect(counts.operations).toBe(counts.recovered + counts.clean + counts.failed);
      expect(s.faultsInjected).toBeGreaterThan(20);
      for (const k of ["reset", "resetAfterForward", "status500", "status503", "truncate"] as const) expect(s.faults[k], k).toBeGreaterThan(0);
      expect(counts.recovered).toBeGreaterThan(10); // the SDK's retries absorb most faults
      expect(s.requests).toBeGreaterThan(counts.operations);
    },
    120_000,
  );

  it("corrupt: the plain SDK returns a flipped bit as if it were the data — only authenticated client-side encryption can notice", async () => {
    proxy.setFaults({});
    const data = randomBytes(50_000);
    const blob = container.getBlockBlobClient("corrupt-me");
    await blob.uploadData(data);
    proxy.resetStats();
    proxy.setFaults({ corrupt: 1, match: (r) => r.method === "GET" });
    const got = await streamToBuffer((await blob.download()).readableStreamBody);
    expect(got.length).toBe(data.length);
    expect(got.equals(data)).toBe(false);
    expect(proxy.stats().faults.corrupt).toBe(1);
    proxy.setFaults({});
  });
});
