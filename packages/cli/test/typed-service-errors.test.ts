// Issue 15: the same situation gives the same typed code from the blob, queue and table libraries (core's one
// mapping) and from the CLI, which prints the libraries' codes. Lives here because this is the package that depends
// on all three; each library's own typed-service-errors.test.ts covers its calls in detail.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { typedErrorAssertions } from "@azure-cse/testkit/assertions";
import { BlobServiceClient, StorageSharedKeyCredential as BlobKey } from "@azure/storage-blob";
import { QueueClient, QueueServiceClient, StorageSharedKeyCredential as QueueKey } from "@azure/storage-queue";
import { AzureNamedKeyCredential, TableClient } from "@azure/data-tables";
import { AesKeyWrapKey, ClientSideEncryptionError, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { EncryptedContainerClient } from "@azure-cse/storage-blob";
import { EncryptedQueueClient } from "@azure-cse/storage-queue";
import { EncryptedTableClient } from "@azure-cse/data-tables";
import path from "node:path";
import { freePort, startAzurite, tempDir, type AzuriteHandle } from "@azure-cse/testkit";
import { main } from "../src/main.js";

let az: AzuriteHandle;
const policy: ClientSideEncryptionPolicy = { keyEncryptionKey: new AesKeyWrapKey("local:typed-errors", Buffer.alloc(32, 0x5a)) };
const TEXT = "plaintext-4b2a";
let n = 0;
const unique = (prefix: string) => `${prefix}${process.pid}x${n++}`;

const { caught } = typedErrorAssertions(ClientSideEncryptionError);

type Library = "blob" | "queue" | "table";
type Situation = "missing container/queue/table" | "stale ETag" | "caller abort" | "connection refused";

/** Each library's call for a situation; `undefined` where the service has no such situation (queue messages have no ETag). */
const cases: Record<Situation, Record<Library, (() => Promise<ClientSideEncryptionError>) | undefined>> = {
  "missing container/queue/table": {
    blob: () => caught(() => new EncryptedContainerClient(blobs().getContainerClient(unique("missing")), policy).getBlobClient("b").uploadData(Buffer.from(TEXT))),
    queue: () => caught(() => new EncryptedQueueClient(queues().getQueueClient(unique("missing")), policy).sendMessage(TEXT)),
    table: () => caught(() => new EncryptedTableClient(table(unique("missing")), policy, { encryptedProperties: ["S"] }).createEntity({ partitionKey: "p", rowKey: "r", S: TEXT })),
  },
  "stale ETag": {
    blob: async () => {
      const raw = blobs().getContainerClient(unique("stale"));
      await raw.create();
      const b = new EncryptedContainerClient(raw, policy).getBlobClient("b");
      const first = await b.uploadData(Buffer.from(TEXT));
      await b.uploadData(Buffer.from(`${TEXT}2`));
      return caught(() => b.uploadData(Buffer.from(TEXT), { conditions: { ifMatch: first.etag } }));
    },
    queue: undefined,
    table: async () => {
      const raw = table(unique("stale"));
      await raw.createTable();
      const t = new EncryptedTableClient(raw, policy, { encryptedProperties: ["S"] });
      const first = await t.createEntity({ partitionKey: "p", rowKey: "r", S: TEXT });
      await t.updateEntity({ partitionKey: "p", rowKey: "r", S: `${TEXT}2` }, "Replace");
      return caught(() => t.deleteEntity("p", "r", { etag: first.etag }));
    },
  },
  "caller abort": {
    blob: () => caught(() => new EncryptedContainerClient(blobs().getContainerClient("any"), policy).getBlobClient("b").delete({ abortSignal: AbortSignal.abort() })),
    queue: () => caught(() => new EncryptedQueueClient(queues().getQueueClient("any"), policy).receiveMessages({ abortSignal: AbortSignal.abort() })),
    table: () => caught(() => new EncryptedTableClient(table("any"), policy).getEntity("p", "r", { abortSignal: AbortSignal.abort() })),
  },
  "connection refused": {
    blob: async () => {
      const closed = new BlobServiceClient(`http://127.0.0.1:${await freePort()}/${az.accountName}`, new BlobKey(az.accountName, az.accountKey), { retryOptions: { maxTries: 1 } });
      return caught(() => new EncryptedContainerClient(closed.getContainerClient("c"), policy).getBlobClient("b").uploadData(Buffer.from(TEXT)));
    },
    queue: async () => {
      const closed = new QueueClient(`http://127.0.0.1:${await freePort()}/${az.accountName}/q`, new QueueKey(az.accountName, az.accountKey), { retryOptions: { maxTries: 1 } });
      return caught(() => new EncryptedQueueClient(closed, policy).sendMessage(TEXT));
    },
    table: async () => {
      const closed = new TableClient(`http://127.0.0.1:${await freePort()}/${az.accountName}`, "t", new AzureNamedKeyCredential(az.accountName, az.accountKey), {
        allowInsecureConnection: true,
        retryOptions: { maxRetries: 0 },
      });
      return caught(() => new EncryptedTableClient(closed, policy, { encryptedProperties: ["S"] }).createEntity({ partitionKey: "p", rowKey: "r", S: TEXT }));
    },
  },
};

const expected: Record<Situation, { code: string; statusCode?: number; errorCode?: string }> = {
  "missing container/queue/table": { code: "NOT_FOUND", statusCode: 404 },
  "stale ETag": { code: "CONDITION_NOT_MET", statusCode: 412 },
  "caller abort": { code: "ABORTED" },
  "connection refused": { code: "SERVICE_ERROR", errorCode: "ECONNREFUSED" },
};

const blobs = () => BlobServiceClient.fromConnectionString(az.connectionString);
const queues = () => QueueServiceClient.fromConnectionString(az.connectionString);
const table = (name: string) => TableClient.fromConnectionString(az.connectionString, name, { allowInsecureConnection: true });

beforeAll(async () => {
  az = await startAzurite();
});
afterAll(async () => {
  await az?.stop();
});

describe("one situation, one code: blob, queue and tables", () => {
  for (const situation of Object.keys(cases) as Situation[]) {
    it(`${situation} → ${expected[situation].code}`, async () => {
      const want = expected[situation];
      let ran = 0;
      for (const library of ["blob", "queue", "table"] as const) {
        const run = cases[situation][library];
        if (!run) continue;
        ran++;
        const e = await run();
        expect(e.code, library).toBe(want.code);
        if (want.statusCode !== undefined) expect(e.details.statusCode, library).toBe(want.statusCode);
        if (want.errorCode !== undefined) expect(e.details.errorCode, library).toBe(want.errorCode);
        // The SDK's error is kept (a service answer or a transport/abort error), the text never included.
        expect(e.cause, library).toBeDefined();
        expect(`${e.message} ${JSON.stringify(e.details)}`, library).not.toContain(TEXT);
      }
      expect(ran).toBeGreaterThanOrEqual(2);
    });
  }
});

describe("the CLI prints the code and message the libraries throw", () => {
  let tmp: { dir: string; cleanup: () => void };
  let key: string;
  async function cli(...argv: string[]): Promise<{ code: number; stderr: string }> {
    let stderr = "";
    const code = await main(argv, { stdout: () => undefined, stderr: (s) => (stderr += s) });
    return { code, stderr };
  }
  beforeAll(async () => {
    tmp = tempDir("azcse-typed-errors-");
    key = path.join(tmp.dir, "k.jwk");
    expect((await cli("key", "generate", "--alg", "A256KW", "--kid", "local:typed", "--out", key)).code).toBe(0);
  });
  afterAll(() => tmp?.cleanup());

  it("a missing queue: NOT_FOUND, exit 3, the library's message (naming the queue) and the --create-queue hint", async () => {
    const q = unique("nq");
    const lib = await caught(() => new EncryptedQueueClient(queues().getQueueClient(q), policy).receiveMessages());
    expect(lib.message).toBe(`Storage returned 404 (QueueNotFound) for queue "${q}".`);
    const r = await cli("queue", "receive", q, "--key", key, "--connection-string", az.connectionString);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`azcse: NOT_FOUND: ${lib.message}`);
    expect(r.stderr).toContain("--create-queue");
  });

  it("a missing table: NOT_FOUND, exit 3, the library's message (naming table and keys)", async () => {
    const t = unique("nt");
    const lib = await caught(() => new EncryptedTableClient(table(t), policy).getEntity("p", "r"));
    expect(lib.message).toMatch(new RegExp(`^Storage returned 404 \\(\\w+\\) for entity "${t}" \\("p", "r"\\)\\.$`));
    const r = await cli("table", "get", t, "p", "r", "--key", key, "--connection-string", az.connectionString);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`azcse: NOT_FOUND: ${lib.message}`);
  });
});
