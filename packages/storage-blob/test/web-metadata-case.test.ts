// @azure-cse/storage-blob/web against Azurite: metadata names keep their case on key rotation when a container
// listing is given (List Blobs returns names in their stored case), and fall back to lower-cased names without one,
// when the listing's ETag differs from the properties', or when the listing fails.
// No browser simulation is needed: the official SDK's Node build reads Get Blob Properties metadata from Node's
// http response headers, which Node lower-cases exactly like fetch in a browser; the first test asserts that
// premise, so the fallback cases here are the browser's behaviour.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ContainerClient } from "@azure/storage-blob";
import { RsaKey } from "@azure-cse/core-envelope";
import { EncryptedBlobClient } from "@azure-cse/storage-blob";
import { WebEncryptedBlobClient, updateBlobKeyEncryptionKey, type WebContainerListingLike, type WebEncryptedBlobClientOptions } from "@azure-cse/storage-blob/web";
import { plaintext, rejection, startEnv, uniqueName, type Env } from "./helpers.js";

let env: Env;
beforeAll(async () => {
  env = await startEnv();
});
afterAll(async () => {
  await env?.stop();
});

const newKek = RsaKey.generate("local:web-case-new", 2048, "RSA-OAEP-256");
const cased = { Owner: "Alice", ProjectID: "p-42" };
const web = (name: string, options?: WebEncryptedBlobClientOptions) => new WebEncryptedBlobClient(env.container.getBlockBlobClient(name), env.policy, options);

/** The blob's user metadata as the raw SDK listing returns it (names in their stored case), and its encryptiondata. */
async function listedMetadata(name: string): Promise<Record<string, string>> {
  for await (const item of env.container.listBlobsFlat({ prefix: name, includeMetadata: true })) if (item.name === name) return item.metadata ?? {};
  throw new Error(`${name} not listed`);
}
const userNames = (m: Record<string, string>) => Object.keys(m).filter((k) => k !== "encryptiondata").sort();

/** The real container, with every listed entry changed by `edit`, recording the listing options asked for. */
function editedListing(container: ContainerClient, edit: (item: { name: string; properties: { etag?: string }; metadata?: Record<string, string> }) => void) {
  const calls: object[] = [];
  const listing: WebContainerListingLike = {
    containerName: container.containerName,
    listBlobsFlat(options) {
      calls.push({ ...options });
      return (async function* () {
        for await (const item of container.listBlobsFlat(options as never)) {
          const copy = { ...item, properties: { ...item.properties }, metadata: { ...item.metadata } };
          edit(copy);
          yield copy;
        }
      })();
    },
  };
  return { listing, calls };
}

describe("web updateKeyEncryptionKey keeps metadata names' case with a container listing", () => {
  it("with the container (constructor or option), rotation stores Owner/ProjectID as written; the new key reads the blob", async () => {
    const name = uniqueName("wc");
    const body = plaintext(70_000);
    await web(name).upload(body, { metadata: cased });
    // The premise: Get Blob Properties lower-cases the names here as fetch does in a browser.
    expect(Object.keys((await env.container.getBlobClient(name).getProperties()).metadata ?? {}).sort()).toEqual(["encryptiondata", "owner", "projectid"]);
    const before = await listedMetadata(name);
    expect(userNames(before)).toEqual(["Owner", "ProjectID"]);

    const r = await web(name, { container: env.container }).updateKeyEncryptionKey(newKek);
    expect(r.keyId).toBe(newKek.keyId);
    const after = await listedMetadata(name);
    expect(after).toMatchObject(cased);
    expect(userNames(after)).toEqual(["Owner", "ProjectID"]);
    expect(after.encryptiondata).not.toBe(before.encryptiondata);
    expect(JSON.parse(after.encryptiondata!).WrappedContentKey.KeyId).toBe(newKek.keyId);
    const n = new EncryptedBlobClient(env.container.getBlobClient(name), { keyEncryptionKey: newKek });
    expect((await n.downloadToBuffer()).equals(body)).toBe(true);

    // The function with the option, and back to the old key.
    await updateBlobKeyEncryptionKey(env.container.getBlobClient(name), { keyEncryptionKey: newKek }, env.kek, { container: env.container });
    expect(userNames(await listedMetadata(name))).toEqual(["Owner", "ProjectID"]);
  });

  it("setMetadata stores the caller's names as given (nothing is read back but encryptiondata), with or without a container", async () => {
    const name = uniqueName("wc-set");
    await web(name).upload(plaintext(100), { metadata: { first: "1" } });
    const data = (await listedMetadata(name)).encryptiondata;
    await web(name).setMetadata(cased);
    expect(await listedMetadata(name)).toEqual({ ...cased, encryptiondata: data });
    await web(name, { container: env.container }).setMetadata({ ...cased, Extra: "x" });
    expect(await listedMetadata(name)).toEqual({ ...cased, Extra: "x", encryptiondata: data });
    // And a rotation after it keeps them too.
    await web(name, { container: env.container }).updateKeyEncryptionKey(newKek);
    expect(userNames(await listedMetadata(name))).toEqual(["Extra", "Owner", "ProjectID"]);
  });
});

describe("web updateKeyEncryptionKey falls back to lower-cased names", () => {
  it("without a container the names are written lower-cased (the documented fallback), values unchanged", async () => {
    const name = uniqueName("wc-none");
    await web(name).upload(plaintext(100), { metadata: cased });
    await web(name).updateKeyEncryptionKey(newKek);
    const after = await listedMetadata(name);
    expect(userNames(after)).toEqual(["owner", "projectid"]);
    expect(after).toMatchObject({ owner: "Alice", projectid: "p-42" });
  });

  it("a listing entry with another ETag, other values or a failing listing is not used; a listing of another container is refused", async () => {
    for (const [label, edit] of [
      ["etag", (i: { properties: { etag?: string } }) => void (i.properties.etag = "0x8DEADBEEF000000")],
      ["values", (i: { metadata?: Record<string, string> }) => void (i.metadata!.Owner = "Mallory")],
    ] as const) {
      const name = uniqueName(`wc-${label}`);
      await web(name).upload(plaintext(100), { metadata: cased });
      const { listing, calls } = editedListing(env.container, edit);
      await web(name, { container: listing }).updateKeyEncryptionKey(newKek);
      expect(calls).toEqual([{ prefix: name, includeMetadata: true }]);
      const after = await listedMetadata(name);
      expect(userNames(after)).toEqual(["owner", "projectid"]);
      expect(after).toMatchObject({ owner: "Alice", projectid: "p-42" });
    }
    // The unedited wrapper keeps the case, so the cases above fall back only because of their edit.
    const control = uniqueName("wc-control");
    await web(control).upload(plaintext(100), { metadata: cased });
    await web(control, { container: editedListing(env.container, () => {}).listing }).updateKeyEncryptionKey(newKek);
    expect(userNames(await listedMetadata(control))).toEqual(["Owner", "ProjectID"]);

    const failing = uniqueName("wc-fail");
    await web(failing).upload(plaintext(100), { metadata: cased });
    const denied: WebContainerListingLike = {
      listBlobsFlat: () =>
        (async function* () {
          yield* [];
          throw Object.assign(new Error("This request is not authorized to perform this operation."), { statusCode: 403 });
        })(),
    };
    await web(failing, { container: denied }).updateKeyEncryptionKey(newKek);
    expect(userNames(await listedMetadata(failing))).toEqual(["owner", "projectid"]);

    const other = { containerName: "not-this-one", listBlobsFlat: env.container.listBlobsFlat.bind(env.container) } as WebContainerListingLike;
    expect((await rejection(updateBlobKeyEncryptionKey(env.container.getBlobClient(failing), env.policy, env.kek, { container: other }))).code).toBe("INVALID_ARGUMENT");
    expect(() => web(failing, { container: {} as WebContainerListingLike })).toThrow(/listBlobsFlat/);
  });
});
