// azcse scan-table and rotate-key --table on entities the legacy Python table SDK (azure.cosmosdb.table)
// encrypted, through Azurite: only `_ClientEncryptionMetadata1` changes; disjoint partition ranges run as
// separate processes with their own state files; --verify; the Python SDK then reads every entity with
// the new key, and the old key opens none.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TableClient } from "@azure/data-tables";
import { parseEncryptionData, type EncryptionDataV1 } from "@azure-cse/core-envelope";
import { METADATA1, METADATA2 } from "@azure-cse/data-tables";
import { assertPythonPeer, PYTHON_KEK_PRELUDE, runPython, startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import type { OpsReport, ScanReport } from "../src/ops/index.js";
import { azcse, CLI, makeKey, type KeyFile } from "./ops-helpers.js";

let az: AzuriteHandle;
let dir: string;
let k1: KeyFile;
let k2: KeyFile;
let table: TableClient;
const TABLE = "opsrotate";
const PARTITIONS = ["p0", "p1", "p2", "p3"];

const PY = `${PYTHON_KEK_PRELUDE}
from azure.cosmosdb.table import TableService, EntityProperty, EdmType
d = json.load(sys.stdin)
ts = TableService(connection_string=d['cs'])
keks = {j['kid']: kek_from_jwk(j) for j in d['keks']}
ts.require_encryption = d['op'] != 'write-plain'
ts.key_resolver_function = lambda kid: keks.get(kid)
ts.key_encryption_key = list(keks.values())[0]
ts.encryption_resolver_function = lambda pk, rk, name: name in ('Secret', 'Note')
if d['op'] == 'write':
    ts.create_table(d['table'])
    for pk in d['partitions']:
        for i in range(d['per_partition']):
            ts.insert_entity(d['table'], {'PartitionKey': pk, 'RowKey': 'r%02d' % i, 'Secret': 'secret %s/%d é' % (pk, i), 'Note': 'n' * i, 'Plain': i})
    print(json.dumps({'ok': True}))
elif d['op'] == 'write-plain':
    ts.key_encryption_key = None
    ts.encryption_resolver_function = None
    ts.insert_entity(d['table'], {'PartitionKey': 'p1', 'RowKey': 'plain', 'Plain': 'not encrypted'})
    print(json.dumps({'ok': True}))
else:
    out = {}
    for e in ts.query_entities(d['table'], filter="RowKey ne 'plain'"):
        out[e['PartitionKey'] + '/' + e['RowKey']] = {'Secret': e.get('Secret'), 'Note': e.get('Note')}
    print(json.dumps({'ok': True, 'entities': out}))
`;

function py<T>(input: Record<string, unknown>): Promise<T> {
  return runPython<T>(PY, { cs: az.connectionString, table: TABLE, ...input }, { timeoutMs: 120_000 });
}

beforeAll(async () => {
  assertPythonPeer();
  az = await startAzurite();
  process.env.AZURE_STORAGE_CONNECTION_STRING = az.connectionString;
  dir = mkdtempSync(path.join(tmpdir(), "azcse-ops-table-"));
  k1 = makeKey(dir, "table-old");
  k2 = makeKey(dir, "table-new");
  await py({ op: "write", keks: [k1.jwk], partitions: PARTITIONS, per_partition: 4 });
  await py({ op: "write-plain", keks: [k1.jwk] });
  table = TableClient.fromConnectionString(az.connectionString, TABLE, { allowInsecureConnection: true });
}, 120_000);
afterAll(async () => {
  delete process.env.AZURE_STORAGE_CONNECTION_STRING;
  rmSync(dir, { recursive: true, force: true });
  await az?.stop();
});

function cli(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, AZURE_STORAGE_CONNECTION_STRING: az.connectionString }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("exit", (code) => resolve({ code, out, err }));
  });
}

async function snapshot(): Promise<Map<string, Record<string, unknown>>> {
  const m = new Map<string, Record<string, unknown>>();
  for await (const e of table.listEntities<Record<string, unknown>>()) m.set(`${e.partitionKey}/${e.rowKey}`, e);
  return m;
}

describe("azcse scan-table", () => {
  it("counts entities per protocol, key id and writer library, and the unencrypted ones; a partition range narrows it", async () => {
    const r = await azcse("scan-table", TABLE, "--json");
    expect(r.code, r.err).toBe(0);
    const s = JSON.parse(r.out) as ScanReport;
    expect(s.total.objects).toBe(17);
    expect(s.unencrypted.objects).toBe(1);
    expect(s.byProtocol).toMatchObject({ "1.0": { objects: 16 } });
    expect(s.byKeyId).toMatchObject({ "table-old": { objects: 16 } });
    expect(Object.keys(s.byLibrary).every((l) => l.startsWith("Python "))).toBe(true);
    expect(s.encrypted.storedBytes).toBeGreaterThan(0);
    const part = JSON.parse((await azcse("scan-table", TABLE, "--partition-from", "p1", "--partition-to", "p3", "--json")).out) as ScanReport;
    expect(part.total.objects).toBe(9);
    expect((await azcse("scan-table", TABLE)).out).toMatch(/key table-old\s+16\s/);
  });
});

describe("azcse rotate-key --table", () => {
  it("--dry-run lists what would be re-wrapped and changes nothing", async () => {
    const before = await snapshot();
    const r = await azcse("rotate-key", "--table", TABLE, "--key", k1.file, "--new-key", k2.file, "--dry-run", "--progress", "none");
    expect(r.code, r.err).toBe(0);
    const rep = JSON.parse(r.out) as OpsReport;
    expect(rep.planned!.length).toBe(16);
    expect(rep.skipped).toEqual([{ partitionKey: "p1", rowKey: "plain", key: '["p1","plain"]', reason: "not-encrypted" }]);
    const after = await snapshot();
    for (const [k, e] of before) expect(after.get(k)!.etag, k).toBe(e.etag);
  });

  it("two processes on disjoint partition ranges re-wrap every entity (only _ClientEncryptionMetadata1 changes); --verify passes; Python reads all with the new key, the old key opens none", async () => {
    const before = await snapshot();
    const ranges = [
      ["--partition-to", "p2"],
      ["--partition-from", "p2"],
    ];
    const runs = await Promise.all(
      ranges.map((range, i) =>
        cli(["rotate-key", "--table", TABLE, ...range, "--key", k1.file, "--new-key", k2.file, "--resume", path.join(dir, `t${i}.state.json`), "--verify", "--page-size", "3", "--progress", "lines"]),
      ),
    );
    const rotated: string[] = [];
    for (const run of runs) {
      expect(run.code, run.err).toBe(0);
      const rep = JSON.parse(run.out) as OpsReport;
      expect(rep.failed).toEqual([]);
      expect(rep.verify!.passed).toBe(true);
      rotated.push(...rep.rotated!.map((x) => `${x.partitionKey}/${x.rowKey}`));
    }
    expect(rotated.sort()).toEqual([...before.keys()].filter((k) => !k.endsWith("/plain")).sort());
    const after = await snapshot();
    for (const [k, e] of before) {
      const a = after.get(k)!;
      if (k.endsWith("/plain")) {
        expect(a.etag).toBe(e.etag);
        continue;
      }
      // Ciphertexts, the encrypted-name list, the IV and the writer's KeyWrappingMetadata are unchanged.
      expect(Buffer.from(a.Secret as Uint8Array).equals(Buffer.from(e.Secret as Uint8Array)), k).toBe(true);
      expect(Buffer.from(a[METADATA2] as Uint8Array).equals(Buffer.from(e[METADATA2] as Uint8Array)), k).toBe(true);
      const was = parseEncryptionData(e[METADATA1] as string) as EncryptionDataV1;
      const now = parseEncryptionData(a[METADATA1] as string) as EncryptionDataV1;
      expect(now.wrappedContentKey.keyId).toBe("table-new");
      expect(Buffer.from(now.contentEncryptionIV).equals(Buffer.from(was.contentEncryptionIV))).toBe(true);
      expect(now.keyWrappingMetadata).toEqual(was.keyWrappingMetadata);
    }
    const withNew = await py<{ entities: Record<string, { Secret: string; Note: string }> }>({ op: "read", keks: [k2.jwk] });
    expect(Object.keys(withNew.entities).length).toBe(16);
    for (const [k, v] of Object.entries(withNew.entities)) {
      const [pk, rk] = k.split("/");
      expect(v.Secret).toBe(`secret ${pk}/${Number(rk!.slice(1))} é`);
      expect(v.Note).toBe("n".repeat(Number(rk!.slice(1))));
    }
    await expect(py({ op: "read", keks: [k1.jwk] })).rejects.toThrow();
    // A rerun over the whole table finds every entity already under the new key.
    const again = await azcse("rotate-key", "--table", TABLE, "--key", k1.file, "--new-key", k2.file, "--verify", "--progress", "none");
    expect(again.code).toBe(0);
    expect((JSON.parse(again.out) as OpsReport).skippedByReason).toEqual({ "already-current": 16, "not-encrypted": 1 });
  });
});
