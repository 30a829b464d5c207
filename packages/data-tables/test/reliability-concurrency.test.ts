// Concurrency (ETag conditions) on one encrypted entity: two Replace writers, and a writer racing a key rotation.
// The loser fails CONDITION_NOT_MET; the entity always decrypts to exactly one writer's values.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { TableClient } from "@azure/data-tables";
import { AesKeyWrapKey, ClientSideEncryptionError, createLocalKeyResolver, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { EncryptedTableClient, METADATA1 } from "@azure-cse/data-tables";
import { startAzurite, type AzuriteHandle } from "@azure-cse/testkit";

const kekA = new AesKeyWrapKey("local:trace-a", Buffer.alloc(32, 0x71));
const kekB = new AesKeyWrapKey("local:trace-b", Buffer.alloc(32, 0x72));
const policy: ClientSideEncryptionPolicy = { keyEncryptionKey: kekA, keyResolver: createLocalKeyResolver([kekA, kekB]) };

let azurite: AzuriteHandle;
let table: TableClient;
let n = 0;

beforeAll(async () => {
  azurite = await startAzurite();
  table = TableClient.fromConnectionString(azurite.connectionString, "races", { allowInsecureConnection: true });
  await table.createTable();
});
afterAll(async () => {
  await azurite?.stop();
});

const writer = (): EncryptedTableClient => new EncryptedTableClient(table, policy, { encryptedProperties: ["Secret"] });

function codeOf(r: PromiseSettledResult<unknown>): string {
  if (r.status === "fulfilled") return "ok";
  return ClientSideEncryptionError.is(r.reason) ? r.reason.code : `untyped:${String((r.reason as { statusCode?: unknown }).statusCode ?? r.reason)}`;
}

/** Holds each client's service write until all have arrived (all hold the same ETag), then releases them in `order`. */
function raceAtWrite(clients: EncryptedTableClient[], order: number[]): void {
  let arrived = 0;
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const finished: Array<Promise<void>> = [];
  const finish: Array<() => void> = [];
  for (let i = 0; i < clients.length; i++) finished.push(new Promise<void>((r) => finish.push(r)));
  clients.forEach((c, i) => {
    // Each EncryptedTableClient gets its own TableClient so the spies do not interfere.
    const t = c.tableClient;
    const original = t.updateEntity.bind(t);
    vi.spyOn(t, "updateEntity").mockImplementation(async (...args) => {
      if (++arrived === clients.length) open();
      await gate;
      const pos = order.indexOf(i);
      if (pos > 0) await finished[order[pos - 1]!];
      try {
        return await original(...args);
      } finally {
        finish[i]!();
      }
    });
  });
}

function own(extra: Partial<ClientSideEncryptionPolicy> = {}): EncryptedTableClient {
  const t = TableClient.fromConnectionString(azurite.connectionString, "races", { allowInsecureConnection: true });
  return new EncryptedTableClient(t, { ...policy, ...extra }, { encryptedProperties: ["Secret"] });
}

describe("two writers on one entity (Replace with the ETag both read)", () => {
  it.each([
    [[0, 1]],
    [[1, 0]],
  ])("release order %j: the first wins, the second gets CONDITION_NOT_MET, the entity decrypts to the winner's values", async (order) => {
    const rk = `r${n++}`;
    await writer().createEntity({ partitionKey: "p", rowKey: rk, Secret: "initial", Plain: "0" });
    const { etag } = await writer().getEntity("p", rk);
    const clients = [own(), own()];
    raceAtWrite(clients, order);
    const values = [
      { Secret: "writer-0 secret", Plain: "w0" },
      { Secret: "writer-1 secret ✓", Plain: "w1" },
    ];
    const results = await Promise.allSettled(clients.map((c, i) => c.updateEntity({ partitionKey: "p", rowKey: rk, ...values[i]! }, "Replace", { etag })));
    expect(codeOf(results[order[0]!]!)).toBe("ok");
    expect(codeOf(results[order[1]!]!)).toBe("CONDITION_NOT_MET");
    const stored = await writer().getEntity("p", rk);
    expect(stored).toMatchObject(values[order[0]!]!);
  });

  it("free-running writers with the same ETag, repeated: exactly one wins each time and the entity is exactly its values", async () => {
    for (let round = 0; round < 8; round++) {
      const rk = `free${n++}`;
      await writer().createEntity({ partitionKey: "p", rowKey: rk, Secret: "initial" });
      const { etag } = await writer().getEntity("p", rk);
      const results = await Promise.allSettled([0, 1, 2].map((i) => own().updateEntity({ partitionKey: "p", rowKey: rk, Secret: `w${i}`, Who: String(i) }, "Replace", { etag })));
      const winners = results.map(codeOf).flatMap((c, i) => (c === "ok" ? [i] : []));
      expect(winners).toHaveLength(1);
      for (const r of results) expect(["ok", "CONDITION_NOT_MET"]).toContain(codeOf(r));
      expect(await writer().getEntity("p", rk)).toMatchObject({ Secret: `w${winners[0]}`, Who: String(winners[0]) });
    }
  });
});

describe("a writer racing a key rotation (both read the same ETag)", () => {
  it.each([
    ["writer first", [0, 1]],
    ["rotation first", [1, 0]],
  ])("%s: the loser gets CONDITION_NOT_MET; the entity's metadata always matches its ciphertext (no stale wrapped key)", async (_label, order) => {
    const rk = `rot${n++}`;
    await writer().createEntity({ partitionKey: "p", rowKey: rk, Secret: "before" });
    const { etag } = await writer().getEntity("p", rk);
    const w = own();
    const rotator = own();
    raceAtWrite([w, rotator], order);
    const [write, rotate] = await Promise.allSettled([
      w.updateEntity({ partitionKey: "p", rowKey: rk, Secret: "after" }, "Replace", { etag }),
      rotator.updateKeyEncryptionKey({ partitionKey: "p", rowKey: rk }, kekB),
    ]);
    const raw = await table.getEntity("p", rk);
    const kid = JSON.parse(String(raw[METADATA1])).WrappedContentKey.KeyId as string;
    if (order[0] === 0) {
      expect([codeOf(write), codeOf(rotate)]).toEqual(["ok", "CONDITION_NOT_MET"]);
      expect(kid).toBe(kekA.keyId);
      expect(await new EncryptedTableClient(table, { keyEncryptionKey: kekA }).getEntity("p", rk)).toMatchObject({ Secret: "after" });
    } else {
      expect([codeOf(write), codeOf(rotate)]).toEqual(["CONDITION_NOT_MET", "ok"]);
      expect(kid).toBe(kekB.keyId);
      expect(await new EncryptedTableClient(table, { keyEncryptionKey: kekB }).getEntity("p", rk)).toMatchObject({ Secret: "before" });
    }
  });
});
