// Reliability under faults (docs/security.md §8.3): encrypted table create/get/upsert/update/rotate through the
// seeded fault proxy, every outcome checked against Azurite through a direct verifier client.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TableClient } from "@azure/data-tables";
import { AesKeyWrapKey, ClientSideEncryptionError, createLocalKeyResolver, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { EncryptedTableClient } from "@azure-cse/data-tables";
import { startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { createPrng, proxiedConnectionString, startFaultProxy, type FaultProxy } from "../../../tools/fault-proxy/index.mjs";
import { FAST_RETRIES, FaultLedger, describe as describeError, faultSeed, type SuiteReport } from "@azure-cse/testkit/reliability";

const SEED = faultSeed(4242);
const kekOld = new AesKeyWrapKey("local:table-rel-old", Buffer.alloc(32, 0x61));
const kekNew = new AesKeyWrapKey("local:table-rel-new", Buffer.alloc(32, 0x62));
const policy: ClientSideEncryptionPolicy = { keyEncryptionKey: kekOld, keyResolver: createLocalKeyResolver([kekOld, kekNew]) };
const ENCRYPTED = ["Secret", "Card"];

let azurite: AzuriteHandle;
let proxy: FaultProxy;
let tableName: string;
let faulty: EncryptedTableClient;
let verifier: EncryptedTableClient;
const reports: SuiteReport[] = [];

beforeAll(async () => {
  azurite = await startAzurite();
  proxy = await startFaultProxy({ target: azurite.tableUrl, seed: SEED });
  tableName = `rel${SEED}`;
  const direct = TableClient.fromConnectionString(azurite.connectionString, tableName, { allowInsecureConnection: true });
  await direct.createTable();
  verifier = new EncryptedTableClient(direct, { keyResolver: createLocalKeyResolver([kekOld, kekNew]) });
  const via = TableClient.fromConnectionString(proxiedConnectionString(azurite.connectionString, "table", proxy.url), tableName, {
    allowInsecureConnection: true,
    retryOptions: FAST_RETRIES,
  });
  faulty = new EncryptedTableClient(via, policy, { encryptedProperties: ENCRYPTED });
});
afterAll(async () => {
  for (const r of reports) console.log(`[reliability] ${JSON.stringify(r)}`);
  await proxy?.stop();
  await azurite?.stop();
});

/** A typed failure (README "Error codes": service answers too are typed, no raw RestError escapes; this caller never aborts). */
function typedTableFailure(e: unknown): boolean {
  return ClientSideEncryptionError.is(e) && ["SERVICE_ERROR", "CONDITION_NOT_MET", "NOT_FOUND", "DECRYPTION_FAILED", "INVALID_ENCRYPTION_DATA"].includes(e.code);
}

interface Values {
  Secret: string;
  Card: string;
  Note: string;
  Num: number;
}

function valuesFor(i: number, gen: number, rand: () => number): Values {
  const len = [0, 1, 15, 16, 17, 200, 3000][(i + gen) % 7]!;
  let s = "";
  for (let k = 0; k < len; k++) s += String.fromCharCode(0x20 + Math.floor(rand() * 0x5e));
  return { Secret: `s${i}.${gen}|${s}`, Card: `4111-${i}-${gen}-é✓`, Note: `note ${i}.${gen}`, Num: i * 10 + gen };
}

const same = (e: Record<string, unknown>, v: Values): boolean => e.Secret === v.Secret && e.Card === v.Card && e.Note === v.Note && e.Num === v.Num;

/** The truth: absent, or the values it decrypts to (a stored entity that does not decrypt is a violation). */
async function truth(pk: string, rk: string, ledger: FaultLedger, label: string): Promise<Record<string, unknown> | undefined> {
  try {
    return await verifier.getEntity(pk, rk);
  } catch (e) {
    if (ClientSideEncryptionError.hasCode(e, "NOT_FOUND")) return undefined;
    ledger.violation(`${label}: the stored entity does not decrypt: ${describeError(e)}`);
    return undefined;
  }
}

describe("table entities under faults", () => {
  it("create/get/upsert/update(ETag)/rotate complete or fail typed; the stored entity is always the new or the previous version and decrypts with the old or the new key", async () => {
    const rand = createPrng(`${SEED}-values`);
    proxy.setFaults({ reset: 0.06, resetAfterForward: 0.08, status500: 0.05, status503: 0.05, truncate: 0.05, delay: 0.1, delayMs: [1, 10] });
    proxy.resetStats();
    const ledger = new FaultLedger("table", proxy, SEED);
    const N = 24;
    for (let i = 0; i < N; i++) {
      const pk = `p${i % 3}`;
      const rk = `r${i}`;
      let current: Values | undefined;
      /** After a write: success ⇒ exactly `next`; failure ⇒ `next` (applied before the connection dropped) or `current`. */
      const checkWrite = async (label: string, ok: boolean, next: Values): Promise<void> => {
        const t = await truth(pk, rk, ledger, label);
        if (ok) {
          if (!t || !same(t, next)) ledger.violation(`${label}: reported success but the entity is ${t ? "different" : "absent"}`);
          current = next;
        } else if (t && same(t, next)) {
          ledger.count("failedButApplied");
          current = next;
        } else if (current ? !t || !same(t, current) : t !== undefined) {
          ledger.violation(`${label}: failed write left neither the previous nor the new version`);
        }
      };

      const v0 = valuesFor(i, 0, rand);
      const c = await ledger.run(`create ${rk}`, () => faulty.createEntity({ partitionKey: pk, rowKey: rk, ...v0 }), typedTableFailure);
      await checkWrite(`create ${rk}`, c.ok, v0);
      if (!c.ok && ClientSideEncryptionError.is(c.error) && c.error.details.statusCode === 409) ledger.count("createConflictAfterRetry");

      const g = await ledger.run(`get ${rk}`, () => faulty.getEntity(pk, rk), typedTableFailure);
      if (g.ok && !(current && same(g.value, current))) ledger.violation(`get ${rk}: returned values that are not the stored version`);

      const v1 = valuesFor(i, 1, rand);
      const u = await ledger.run(`upsert ${rk}`, () => faulty.upsertEntity({ partitionKey: pk, rowKey: rk, ...v1 }, "Replace"), typedTableFailure);
      await checkWrite(`upsert ${rk}`, u.ok, v1);

      const before = await truth(pk, rk, ledger, `read etag ${rk}`);
      if (before) {
        const v2 = valuesFor(i, 2, rand);
        const r = await ledger.run(`update ${rk}`, () => faulty.updateEntity({ partitionKey: pk, rowKey: rk, ...v2 }, "Replace", { etag: before.etag as string }), typedTableFailure);
        await checkWrite(`update ${rk}`, r.ok, v2);
        if (!r.ok && ClientSideEncryptionError.hasCode(r.error, "CONDITION_NOT_MET")) ledger.count("conflictAfterRetry");
      }

      if (i % 2 === 0 && current) {
        const rot = await ledger.run(`rotate ${rk}`, () => faulty.updateKeyEncryptionKey({ partitionKey: pk, rowKey: rk }, kekNew), typedTableFailure);
        let readable = 0;
        for (const key of [kekOld, kekNew]) {
          try {
            const e = await new EncryptedTableClient(verifier.tableClient, { keyEncryptionKey: key }).getEntity(pk, rk);
            if (same(e, current)) readable++;
            else ledger.violation(`rotate ${rk}: values changed`);
          } catch (e) {
            if (!ClientSideEncryptionError.hasCode(e, "KID_MISMATCH")) ledger.violation(`rotate ${rk}: ${describeError(e)}`);
          }
        }
        if (readable !== 1) ledger.violation(`rotate ${rk}: readable with ${readable} of {old, new} keys`);
        if (!rot.ok && readable === 1) {
          const stored = await verifier.tableClient.getEntity(pk, rk);
          if (String(stored._ClientEncryptionMetadata1).includes(kekNew.keyId)) ledger.count("failedButApplied");
        }
      }
      const g2 = await ledger.run(`get ${rk} again`, () => faulty.getEntity(pk, rk), typedTableFailure);
      if (g2.ok && !(current && same(g2.value, current))) ledger.violation(`get ${rk} again: wrong values`);
    }
    const report = ledger.report();
    reports.push(report);
    expect(ledger.violations, ledger.violations.slice(0, 5).join("\n")).toEqual([]);
    expect(report.dataLost).toBe(0);
    expect(report.recovered).toBeGreaterThan(5);
    expect(report.faults.resetAfterForward ?? 0).toBeGreaterThan(3);
  });

  it("corrupted GET responses: the exact entity, a typed error, or (CBC has no integrity, docs/security.md §3) other values — only when a corruption hit", async () => {
    const all: Array<{ pk: string; rk: string; values: Record<string, unknown> }> = [];
    for await (const e of verifier.listEntities()) all.push({ pk: e.partitionKey as string, rk: e.rowKey as string, values: e });
    expect(all.length).toBeGreaterThan(10);
    proxy.setFaults({ corrupt: 0.5, truncate: 0.1, match: (r) => r.method === "GET" });
    proxy.resetStats();
    const ledger = new FaultLedger("table-corrupt", proxy, SEED);
    for (let round = 0; round < 3; round++) {
      for (const x of all) {
        const before = proxy.stats().faults.corrupt;
        const r = await ledger.run(`get ${x.rk}`, () => faulty.getEntity(x.pk, x.rk), (e) => typedTableFailure(e) || ClientSideEncryptionError.is(e));
        const corrupted = proxy.stats().faults.corrupt - before;
        if (!r.ok) {
          if (ClientSideEncryptionError.is(r.error)) ledger.count(`code:${r.error.code}`);
          continue;
        }
        const exact = ["Secret", "Card", "Note", "Num"].every((k) => r.value[k] === x.values[k]);
        if (exact) continue;
        if (corrupted > 0) ledger.documentedWeakness++;
        else ledger.violation(`get ${x.rk}: other values without any corruption`);
      }
    }
    const report = ledger.report();
    reports.push(report);
    expect(ledger.violations).toEqual([]);
    expect(report.faults.corrupt ?? 0).toBeGreaterThan(10);
    expect(report.typedFailures).toBeGreaterThan(0);
  });
});
