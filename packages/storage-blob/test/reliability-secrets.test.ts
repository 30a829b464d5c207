// Secrets canary (docs/security.md §6): a canary plaintext, canary KEK bytes and recorded CEKs never appear
// in anything emitted — the Azure SDK logger at verbose, console, stdout/stderr — or in any thrown error.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { AesKeyWrapKey, ClientSideEncryptionError, createLocalKeyResolver, type ClientSideEncryptionPolicy, type KeyEncryptionKey } from "@azure-cse/core-envelope";
import { EncryptedBlobClient } from "@azure-cse/storage-blob";
import { startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { proxiedConnectionString, startFaultProxy, type FaultProxy } from "../../../tools/fault-proxy/index.mjs";
import {
  canaryKeyBytes,
  canaryNeedles,
  captureOutput,
  findLeaks,
  findNeedles,
  loadAzureLogger,
  needles,
  recordingRandom,
  FAST_RETRIES,
  type Needle,
} from "@azure-cse/testkit/reliability";

const PLAINTEXT_TEXT = "CANARY-PLAINTEXT-blob-7f3a9c-the-quick-brown-fox-";
const plaintext = Buffer.from(PLAINTEXT_TEXT.repeat(420), "utf8"); // ~20 KiB
const kekBytes = canaryKeyBytes("blob1");
const kek2Bytes = canaryKeyBytes("blob2");
const kek = new AesKeyWrapKey("local:canary-kek-1", kekBytes);
const kek2 = new AesKeyWrapKey("local:canary-kek-2", kek2Bytes);
const recorder = recordingRandom("blob");
const policy: ClientSideEncryptionPolicy = { keyEncryptionKey: kek, keyResolver: createLocalKeyResolver([kek, kek2]), random: recorder.random };

let azurite: AzuriteHandle;
let proxy: FaultProxy;
let direct: ContainerClient;
let faulty: ContainerClient;

beforeAll(async () => {
  azurite = await startAzurite();
  proxy = await startFaultProxy({ target: azurite.blobUrl, seed: 7 });
  direct = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient("canary");
  await direct.create();
  faulty = BlobServiceClient.fromConnectionString(proxiedConnectionString(azurite.connectionString, "blob", proxy.url), { retryOptions: FAST_RETRIES }).getContainerClient(
    "canary",
  );
});
afterAll(async () => {
  await proxy?.stop();
  await azurite?.stop();
});

describe("secrets canary: blob operations with the Azure SDK logger at verbose", () => {
  it("the scanner finds each planted canary form (so a clean scan means something)", () => {
    const list = [...needles("plaintext", Buffer.from(PLAINTEXT_TEXT), { text: true }), ...needles("kek", kekBytes)];
    const forms = [
      `x ${PLAINTEXT_TEXT} y`,
      `{"k":"${Buffer.concat([Buffer.from("ab"), kekBytes]).toString("base64")}"}`,
      `<Buffer ${[...kekBytes].map((b) => b.toString(16).padStart(2, "0")).join(" ")}>`,
      JSON.stringify({ data: [...kekBytes] }),
      kekBytes.toString("hex").toUpperCase(),
      Buffer.concat([Buffer.from("z"), kekBytes]).toString("base64url"),
    ];
    for (const f of forms) expect(findNeedles(f, list).length, f).toBeGreaterThan(0);
    expect(findNeedles("nothing secret here", list)).toEqual([]);
  });

  it("upload/download/rotate/setMetadata and 14 failure paths (9 error codes) leak no plaintext, KEK bytes or CEKs", async () => {
    const logger = await loadAzureLogger("@azure/storage-blob");
    const errors: Array<[string, unknown]> = [];
    const problems: string[] = [];
    const fail = async (label: string, op: () => Promise<unknown>, expectedCode?: string): Promise<void> => {
      try {
        const r = await op();
        if (r && typeof (r as { readableStreamBody?: unknown }).readableStreamBody === "object") {
          for await (const _ of (r as { readableStreamBody: AsyncIterable<unknown> }).readableStreamBody) void _;
        }
        problems.push(`${label}: did not fail`);
      } catch (e) {
        errors.push([label, e]);
        if (expectedCode && !(ClientSideEncryptionError.is(e) && e.code === expectedCode)) problems.push(`${label}: expected ${expectedCode}, got ${String(e)}`);
      }
    };
    const capture = captureOutput(logger);
    let captured = "";
    let azureLines = 0;
    try {
      // Markers prove console and stderr really are captured.
      console.warn("capture-marker-console");
      process.stderr.write("capture-marker-stderr\n");
      const single = new EncryptedBlobClient(direct.getBlobClient("single"), policy);
      await single.uploadData(plaintext, { metadata: { purpose: "canary" } });
      const staged = new EncryptedBlobClient(direct.getBlobClient("staged"), policy);
      await staged.uploadData(plaintext, { maxSingleShotSize: 0, blockSize: 4096, concurrency: 2 });
      const v1 = new EncryptedBlobClient(direct.getBlobClient("v1"), { ...policy, encryptionVersion: "1.0", allowDeprecatedV1Encryption: true });
      await v1.uploadData(plaintext);
      for (const c of [single, staged, v1]) {
        expect((await c.downloadToBuffer()).equals(plaintext)).toBe(true);
        const ranged = await c.download(100, 5000);
        for await (const _ of ranged.readableStreamBody as AsyncIterable<Buffer>) void _;
        await c.getProperties();
      }
      await single.setMetadata({ purpose: "canary-2" });
      await single.updateKeyEncryptionKey(kek2);
      expect((await single.downloadToBuffer()).equals(plaintext)).toBe(true);
      // Through the fault proxy: retried 503s and resets are logged by the SDK pipeline.
      proxy.setFaults({ status503: 0.3, reset: 0.1 });
      const viaProxy = new EncryptedBlobClient(faulty.getBlobClient("proxied"), policy);
      await viaProxy.uploadData(plaintext);
      await viaProxy.downloadToBuffer(0, undefined, { blockSize: 4096, concurrency: 1 }).catch((e: unknown) => errors.push(["proxied download", e]));

      // Failure paths.
      const otherKek = new AesKeyWrapKey("local:canary-kek-1", canaryKeyBytes("wrong"));
      await fail("wrong key bytes (rotated blob)", () => new EncryptedBlobClient(direct.getBlobClient("single"), { keyEncryptionKey: new AesKeyWrapKey(kek2.keyId, canaryKeyBytes("other")) }).downloadToBuffer(), "DECRYPTION_FAILED");
      await fail("wrong key (same id)", () => new EncryptedBlobClient(direct.getBlobClient("staged"), { keyEncryptionKey: otherKek }).downloadToBuffer(), "DECRYPTION_FAILED");
      await fail("no key", () => new EncryptedBlobClient(direct.getBlobClient("staged"), { keyEncryptionKey: kek2 }).downloadToBuffer(), "KID_MISMATCH");
      const tampered = direct.getBlobClient("tampered");
      const props = await direct.getBlobClient("staged").getProperties();
      const body = await direct.getBlobClient("staged").downloadToBuffer();
      body[200]! ^= 1;
      await tampered.getBlockBlobClient().upload(body, body.length, { metadata: props.metadata });
      await fail("tampered body", () => new EncryptedBlobClient(tampered, policy).downloadToBuffer(), "DECRYPTION_FAILED");
      await fail("tampered body (stream)", () => new EncryptedBlobClient(tampered, policy).download(), "DECRYPTION_FAILED");
      const v1Body = await direct.getBlobClient("v1").downloadToBuffer();
      v1Body[v1Body.length - 1]! ^= 0x55;
      const v1Props = await direct.getBlobClient("v1").getProperties();
      await direct.getBlockBlobClient("v1-tampered").upload(v1Body, v1Body.length, { metadata: v1Props.metadata });
      await fail("tampered 1.0 padding", () => new EncryptedBlobClient(direct.getBlobClient("v1-tampered"), policy).downloadToBuffer(), "DECRYPTION_FAILED");
      await fail("missing blob", () => new EncryptedBlobClient(direct.getBlobClient("absent"), policy).downloadToBuffer(), "NOT_FOUND");
      await fail("stale ETag", () => single.setMetadata({ a: "b" }, { conditions: { ifMatch: '"0x0"' } }), "CONDITION_NOT_MET");
      await fail("reserved metadata key", () => single.uploadData(plaintext, { metadata: { EncryptionData: PLAINTEXT_TEXT } }), "INVALID_ARGUMENT");
      await fail("1.0 without opt-in", () => new EncryptedBlobClient(direct.getBlobClient("x"), { ...policy, encryptionVersion: "1.0" }).uploadData(plaintext), "DEPRECATED_PROTOCOL");
      await direct.getBlockBlobClient("plain").upload(plaintext, plaintext.length);
      await fail("plaintext blob under requireEncryption", () => new EncryptedBlobClient(direct.getBlobClient("plain"), policy).downloadToBuffer(), "ENCRYPTION_REQUIRED");
      const liar: KeyEncryptionKey = {
        keyId: "local:liar",
        defaultWrapAlgorithm: "A256KW",
        wrapKey: (alg, key, o) => kek2.wrapKey(alg, key, o),
        unwrapKey: async () => Buffer.from(kekBytes),
      };
      await fail("rotation to a key that does not round-trip", () => single.updateKeyEncryptionKey(liar), "KEY_OPERATION_FAILED");
      proxy.setFaults({ truncate: 1, match: (r) => r.method === "GET" });
      await fail("truncated download", () => new EncryptedBlobClient(faulty.getBlobClient("proxied"), policy).download(), "SERVICE_ERROR");
      proxy.setFaults({ status500: 1 });
      await fail("persistent 500", () => new EncryptedBlobClient(faulty.getBlobClient("proxied"), policy).downloadToBuffer(), "SERVICE_ERROR");
      proxy.setFaults({});
    } finally {
      captured = capture.text();
      azureLines = capture.azureLines();
      capture.restore();
    }

    // The capture really saw the SDK's verbose log (requests, retries, status codes).
    expect(azureLines).toBeGreaterThan(50);
    expect(captured).toMatch(/Request|request/);
    expect(captured).toContain("capture-marker-console");
    expect(captured).toContain("capture-marker-stderr");
    expect(captured).toMatch(/503|Retry|retry/);
    expect(problems).toEqual([]);
    expect(errors.length).toBeGreaterThanOrEqual(14);

    const list: Needle[] = [
      ...canaryNeedles({ plaintext: PLAINTEXT_TEXT, keks: { "KEK 1": kekBytes, "KEK 2": kek2Bytes }, ceks: recorder.ceks }),
      ...needles("plaintext body", plaintext.subarray(0, 96)),
    ];
    expect(recorder.ceks.length).toBeGreaterThanOrEqual(4);
    expect(findLeaks(captured, errors, list)).toEqual([]);
  });
});
