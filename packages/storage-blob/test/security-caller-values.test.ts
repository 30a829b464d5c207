// Security hardening (issue 14), class "bad caller values": every wrong-typed argument of the blob clients
// is INVALID_ARGUMENT naming the option (never a TypeError or a service error), and a failing source stream
// surfaces as SOURCE_ERROR with its own error as `cause`, leaving nothing written.
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientSideEncryptionError } from "@azure-cse/core-envelope";
import { EncryptedBlobClient, EncryptedBlobServiceClient } from "@azure-cse/storage-blob";
import { rejection, startEnv, uniqueName, type Env } from "./helpers.js";

let env: Env;
beforeAll(async () => {
  env = await startEnv();
});
afterAll(async () => {
  await env?.stop();
});

const client = () => new EncryptedBlobClient(env.container.getBlobClient(uniqueName("arg")), env.policy);
const bad = <T>(v: unknown) => v as T;

describe("class: every bad caller value is INVALID_ARGUMENT naming the option", () => {
  const cases: Array<[string, () => unknown, RegExp]> = [
    ["uploadData(null)", () => client().uploadData(bad(null)), /uploadData/],
    ["uploadData(undefined)", () => client().uploadData(bad(undefined)), /uploadData/],
    ["uploadData('text')", () => client().uploadData(bad("text")), /uploadData/],
    ["uploadData(42)", () => client().uploadData(bad(42)), /uploadData/],
    ["uploadData(buf, 'options')", () => client().uploadData(Buffer.from("x"), bad("options")), /uploadData options/],
    ["uploadData metadata value not a string", () => client().uploadData(Buffer.from("x"), { metadata: bad({ n: 5 }) }), /metadata value of "n"/],
    ["uploadData metadata as a string", () => client().uploadData(Buffer.from("x"), { metadata: bad("a=b") }), /metadata/],
    ["uploadStream(null)", () => client().uploadStream(bad(null)), /uploadStream's stream/],
    ["uploadStream('abc') (a string is not a stream)", () => client().uploadStream(bad("abc")), /uploadStream's stream/],
    ["uploadStream(Buffer) (use uploadData)", () => client().uploadStream(bad(Buffer.from("abc"))), /uploadData/],
    ["uploadStream({})", () => client().uploadStream(bad({})), /uploadStream's stream/],
    ["uploadStream of numbers", () => client().uploadStream(bad([1, 2, 3])), /Uint8Array/],
    ["uploadStream of strings (setEncoding)", () => client().uploadStream(Readable.from(["ab", "cd"])), /Uint8Array/],
    ["uploadFile(123)", () => client().uploadFile(bad(123)), /filePath/],
    ["uploadFile(a directory)", () => client().uploadFile("/tmp"), /directory/],
    ["download('5')", () => client().download(bad("5")), /offset/],
    ["download(NaN)", () => client().download(NaN), /offset/],
    ["download(0, -1)", () => client().download(0, -1), /count/],
    ["download(0, 1, 'x')", () => client().download(0, 1, bad("x")), /download options/],
    ["downloadToBuffer(0, undefined, { blockSize: 0 })", () => client().downloadToBuffer(0, undefined, { blockSize: 0 }), /blockSize/],
    ["downloadToFile(null)", () => client().downloadToFile(bad(null)), /filePath/],
    ["setMetadata('abc')", () => client().setMetadata(bad("abc")), /metadata/],
    ["setMetadata({ a: 5 })", () => client().setMetadata(bad({ a: 5 })), /metadata value/],
    ["copyFromBlob('url')", () => client().copyFromBlob(bad("https://x/y")), /copyFromBlob's source/],
    ["updateKeyEncryptionKey({})", () => client().updateKeyEncryptionKey(bad({})), /KeyEncryptionKey/],
    ["withSnapshot(5)", () => client().withSnapshot(bad(5)), /snapshot/],
    ["container.getBlobClient(5)", () => env.encrypted.getBlobClient(bad(5)), /blobName/],
    ["service.getContainerClient(null)", () => new EncryptedBlobServiceClient(env.service, env.policy).getContainerClient(bad(null)), /containerName/],
    ["new EncryptedBlobClient(blob, null)", () => new EncryptedBlobClient(env.container.getBlobClient("x"), bad(null)), /ClientSideEncryptionPolicy/],
    ["a policy whose keyEncryptionKey is a string", () => new EncryptedBlobClient(env.container.getBlobClient(uniqueName()), bad({ keyEncryptionKey: "local:k" })).uploadData(Buffer.from("x")), /keyEncryptionKey/],
  ];
  it.each(cases)("%s", async (_label, call, message) => {
    const e = await rejection(Promise.resolve().then(call));
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect(e.message).toMatch(message);
  });

  it("null options are the same as none (no TypeError)", async () => {
    const c = client();
    await c.uploadData(Buffer.from("hello"), bad(null));
    expect((await c.downloadToBuffer(0, undefined, bad(null))).toString()).toBe("hello");
    expect((await c.getProperties(bad(null))).plaintextLength).toBe(5);
  });
});

describe("class: a failing source stream surfaces as its own error (SOURCE_ERROR, cause), not a service error", () => {
  it("a stream that fails at once, or after several blocks were staged, is SOURCE_ERROR with the stream's error as cause; nothing is written", async () => {
    const early = new Readable({
      read() {
        this.destroy(new Error("disk on fire"));
      },
    });
    const late = (async function* () {
      yield Buffer.alloc(9 * 1024 * 1024, 1);
      throw new Error("source broke after 9 MiB");
    })();
    for (const [source, cause] of [[early, "disk on fire"], [late, "source broke after 9 MiB"]] as const) {
      const c = client();
      let err: unknown;
      try {
        await c.uploadStream(source);
      } catch (e) {
        err = e;
      }
      expect(ClientSideEncryptionError.is(err)).toBe(true);
      expect((err as ClientSideEncryptionError).code).toBe("SOURCE_ERROR");
      expect(((err as Error).cause as Error).message).toBe(cause);
      expect(await c.blobClient.exists()).toBe(false);
    }
  });

  it("a Blob whose arrayBuffer() rejects is SOURCE_ERROR too", async () => {
    const broken = { arrayBuffer: () => Promise.reject(new Error("blob unreadable")), size: 3 };
    const e = await rejection(client().uploadData(bad(broken)));
    expect(e.code).toBe("SOURCE_ERROR");
  });
});
