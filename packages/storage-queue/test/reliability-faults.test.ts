// Reliability under faults (docs/security.md §8.3): encrypted queue sends and receives through the seeded
// fault proxy; the queue's true contents are checked through a direct client at the end.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QueueClient } from "@azure/storage-queue";
import { AesKeyWrapKey, ClientSideEncryptionError, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { EncryptedQueueClient } from "@azure-cse/storage-queue";
import { startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { createPrng, proxiedConnectionString, startFaultProxy, type FaultProxy } from "../../../tools/fault-proxy/index.mjs";
import { FAST_RETRIES, FaultLedger, faultSeed, type SuiteReport } from "@azure-cse/testkit/reliability";

const SEED = faultSeed(31337);
const kek = new AesKeyWrapKey("local:queue-rel", Buffer.alloc(32, 0x42));
const policy: ClientSideEncryptionPolicy = { keyEncryptionKey: kek };

let azurite: AzuriteHandle;
let proxy: FaultProxy;
const reports: SuiteReport[] = [];

beforeAll(async () => {
  azurite = await startAzurite();
  proxy = await startFaultProxy({ target: azurite.queueUrl, seed: SEED });
});
afterAll(async () => {
  for (const r of reports) console.log(`[reliability] ${JSON.stringify(r)}`);
  await proxy?.stop();
  await azurite?.stop();
});

/**
 * A typed service failure (README "Error codes": every service call is typed, no raw RestError escapes): a fault
 * is SERVICE_ERROR (a cut-short body too: this caller never aborts, so never ABORTED); a delete retried after it
 * landed is NOT_FOUND.
 */
function typedQueueFailure(e: unknown): boolean {
  return ClientSideEncryptionError.is(e) && (e.code === "SERVICE_ERROR" || e.code === "NOT_FOUND") && e.details.queue !== undefined;
}

/** Message i: a recognisable header, then seeded bytes as text; sizes from empty to ~40 KB. */
function payloadFor(i: number, rand: () => number): string {
  const sizes = [0, 1, 15, 16, 17, 100, 1000, 4096, 20_000, 40_000];
  const n = sizes[i % sizes.length]!;
  let body = "";
  for (let k = 0; k < n; k++) body += String.fromCharCode(0x21 + Math.floor(rand() * 90));
  return `msg-${i}|${body}`;
}

describe("queue messages under faults", () => {
  it("sends complete or fail typed; every delivered message is exactly a sent one; every confirmed send is delivered (duplicates allowed, loss not)", async () => {
    const name = `rel-${SEED}`;
    const direct = new QueueClient(azurite.connectionString, name);
    await direct.create();
    const faulty = new EncryptedQueueClient(
      new QueueClient(proxiedConnectionString(azurite.connectionString, "queue", proxy.url), name, { retryOptions: FAST_RETRIES }),
      policy,
    );
    const rand = createPrng(`${SEED}-payloads`);
    const N = 60;
    const payloads = Array.from({ length: N }, (_, i) => payloadFor(i, rand));
    const ledger = new FaultLedger("queue", proxy, SEED);
    proxy.setFaults({ reset: 0.06, resetAfterForward: 0.06, status500: 0.05, status503: 0.05, truncate: 0.05, corrupt: 0.06, delay: 0.1, delayMs: [1, 10] });
    proxy.resetStats();

    // Send phase.
    const confirmed = new Set<number>();
    for (let i = 0; i < N; i++) {
      const r = await ledger.run(`send ${i}`, () => faulty.sendMessage(payloads[i]!), typedQueueFailure);
      if (r.ok) confirmed.add(i);
      else ledger.count("sendFailed");
    }

    // Receive phase, with more corrupted and truncated responses: receive (1 s visibility), check, delete.
    proxy.setFaults({ reset: 0.05, resetAfterForward: 0.06, status500: 0.04, status503: 0.04, truncate: 0.08, corrupt: 0.25, delay: 0.1, delayMs: [1, 10] });
    const deliveries = new Map<number, number>();
    const check = (text: string, where: string): void => {
      const m = /^msg-(\d+)\|/.exec(text);
      const i = m ? Number(m[1]) : -1;
      if (i < 0 || payloads[i] !== text) {
        ledger.violation(`${where}: delivered text is not any sent message (${text.length} chars)`);
        return;
      }
      deliveries.set(i, (deliveries.get(i) ?? 0) + 1);
    };
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && [...confirmed].some((i) => !deliveries.has(i))) {
      const r = await ledger.run("receive", () => faulty.receiveMessages({ numberOfMessages: 16, visibilityTimeout: 1 }), typedQueueFailure);
      if (!r.ok) continue;
      for (const f of r.value.failures) {
        // A corrupted response body: the message itself stays intact in the queue and comes back.
        if (!["DECRYPTION_FAILED", "INVALID_ENCRYPTION_DATA", "ENCRYPTION_REQUIRED", "UNSUPPORTED_PROTOCOL", "KEY_NOT_FOUND", "REGION_OUT_OF_ORDER"].includes(f.error.code)) {
          ledger.violation(`receive: unexpected per-message failure ${f.error.code}`);
        }
        ledger.count(`perMessage:${f.error.code}`);
      }
      for (const m of r.value.receivedMessageItems) {
        check(m.messageText, "receive");
        await ledger.run("delete", () => faulty.deleteMessage(m.messageId, m.popReceipt), typedQueueFailure);
      }
      if (r.value.receivedMessageItems.length === 0 && r.value.failures.length === 0) await new Promise((res) => setTimeout(res, 250));
    }

    // Final truth, no faults: whatever is still stored must decrypt exactly (responses were corrupted, never the stored messages).
    proxy.setFaults({});
    const verifier = new EncryptedQueueClient(direct, policy);
    await new Promise((res) => setTimeout(res, 1100)); // let hidden messages reappear
    for (;;) {
      const r = await verifier.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 30 });
      for (const f of r.failures) ledger.violation(`stored message ${f.messageId} does not decrypt: ${f.error.code}`);
      for (const m of r.receivedMessageItems) {
        check(m.messageText, "drain");
        ledger.count("leftInQueue");
        await direct.deleteMessage(m.messageId, m.popReceipt);
      }
      if (r.receivedMessageItems.length + r.failures.length === 0) break;
    }
    for (const i of confirmed) if (!deliveries.has(i)) ledger.violation(`confirmed message ${i} was never delivered`);
    let duplicates = 0;
    for (const [i, n] of deliveries) if (n > 1 || !confirmed.has(i)) duplicates += n > 1 ? n - 1 : 0;
    ledger.count("deliveredUnique", deliveries.size);
    ledger.count("duplicates", duplicates);
    ledger.count("unconfirmedButDelivered", [...deliveries.keys()].filter((i) => !confirmed.has(i)).length);

    const report = ledger.report();
    reports.push(report);
    expect(ledger.violations, ledger.violations.slice(0, 5).join("\n")).toEqual([]);
    expect(report.dataLost).toBe(0);
    expect(confirmed.size).toBeGreaterThan(N * 0.8);
    expect(report.recovered).toBeGreaterThan(5);
    expect(report.faults.corrupt ?? 0).toBeGreaterThan(5);
    // Corrupted message texts were caught by authentication and reported per message, never delivered.
    expect(Object.keys(report.extra ?? {}).some((k) => k.startsWith("perMessage:"))).toBe(true);
    expect(report.faults.resetAfterForward ?? 0).toBeGreaterThan(0);
  });
});
