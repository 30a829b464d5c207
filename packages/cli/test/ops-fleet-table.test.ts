// --shard K/N on tables (Azurite + the legacy Python table SDK, azure-cosmosdb-table, as the writer and the
// reader): scan-table shards partition the inventory; three rotate-key --table shards (one with its state in
// a blob) re-wrap every encrypted entity exactly once, each on the shard its PartitionKey/RowKey hashes to;
// --verify passes per shard; Python reads every entity with the new key alone.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertPythonPeer, PYTHON_KEK_PRELUDE, runPython, startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { shardOfEntity, type OpsReport, type ScanReport } from "../src/ops/index.js";
import { azcse, makeKey, type KeyFile } from "./ops-helpers.js";

let az: AzuriteHandle;
let dir: string;
let k1: KeyFile;
let k2: KeyFile;
const TABLE = "opsshards";
const PARTITIONS = ["alpha", "beta", "gamma", "delta", "epsilon"];
const PER_PARTITION = 5;

const PY = `${PYTHON_KEK_PRELUDE}
from azure.cosmosdb.table import TableService
d = json.load(sys.stdin)
ts = TableService(connection_string=d['cs'])
keks = {j['kid']: kek_from_jwk(j) for j in d['keks']}
ts.require_encryption = True
ts.key_resolver_function = lambda kid: keks.get(kid)
ts.key_encryption_key = list(keks.values())[0]
ts.encryption_resolver_function = lambda pk, rk, name: name == 'Secret'
if d['op'] == 'write':
    ts.create_table(d['table'])
    for pk in d['partitions']:
        for i in range(d['per_partition']):
            ts.insert_entity(d['table'], {'PartitionKey': pk, 'RowKey': 'r%02d' % i, 'Secret': 'secret %s/%d' % (pk, i)})
    print(json.dumps({'ok': True}))
else:
    out = {}
    for e in ts.query_entities(d['table']):
        out[e['PartitionKey'] + '/' + e['RowKey']] = e.get('Secret')
    print(json.dumps({'ok': True, 'entities': out}))
`;

beforeAll(async () => {
  assertPythonPeer();
  az = await startAzurite();
  dir = mkdtempSync(path.join(tmpdir(), "azcse-ops-fleet-table-"));
  k1 = makeKey(dir, "shard-table-old");
  k2 = makeKey(dir, "shard-table-new");
  await runPython(PY, { op: "write", cs: az.connectionString, table: TABLE, keks: [k1.jwk], partitions: PARTITIONS, per_partition: PER_PARTITION }, { timeoutMs: 120_000 });
}, 120_000);
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await az?.stop();
});

describe("--shard K/N on a table", () => {
  it("scan-table shards add up to the table; three rotate-key --table shards re-wrap every entity once (one with --state in a blob); Python reads all with the new key", async () => {
    const N = 3;
    const total = PARTITIONS.length * PER_PARTITION;
    const cs = ["--connection-string", az.connectionString];
    let scanned = 0;
    for (let k = 0; k < N; k++) {
      const r = await azcse("scan-table", TABLE, "--shard", `${k}/${N}`, "--json", ...cs);
      expect(r.code, r.err).toBe(0);
      const rep = JSON.parse(r.out) as ScanReport;
      expect(rep.scope).toMatchObject({ shard: `${k}/${N}` });
      scanned += rep.total.objects;
    }
    expect(scanned).toBe(total);

    const runs = await Promise.all(
      Array.from({ length: N }, (_, k) =>
        azcse(
          "rotate-key", "--table", TABLE, "--key", k1.file, "--new-key", k2.file, "--shard", `${k}/${N}`, "--verify", "--page-size", "4", "--progress", "none",
          ...(k === 0 ? ["--state", `table-state/rotate-${k}.json`] : ["--resume", path.join(dir, `t-${k}.json`)]),
          ...cs,
        ),
      ),
    );
    const seen = new Map<string, number>();
    for (const [k, r] of runs.entries()) {
      expect(r.code, r.err).toBe(0);
      const rep = JSON.parse(r.out) as OpsReport;
      expect(rep.verify).toMatchObject({ passed: true, stillOldKeyCount: 0, failedCount: 0 });
      expect(rep.verify!.checked).toBe(rep.rotated!.length);
      for (const o of rep.rotated!) {
        expect(shardOfEntity(o.partitionKey!, o.rowKey!, N), o.key).toBe(k);
        const id = `${o.partitionKey}/${o.rowKey}`;
        seen.set(id, (seen.get(id) ?? 0) + 1);
      }
    }
    expect(seen.size).toBe(total);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    const py = await runPython<{ entities: Record<string, string> }>(PY, { op: "read", cs: az.connectionString, table: TABLE, keks: [k2.jwk] }, { timeoutMs: 120_000 });
    expect(Object.keys(py.entities)).toHaveLength(total);
    for (const [id, secret] of Object.entries(py.entities)) expect(secret, id).toBe(`secret ${id.replace(/\/r0?(\d+)$/, "/$1")}`);
  }, 120_000);
});
