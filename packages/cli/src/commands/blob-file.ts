// Offline blob-format commands: encrypt a file into stored bytes + metadata, and back.
// Outputs are staged and committed together (ciphertext and metadata appear as a pair or not at all); inputs may
// be regular files, FIFOs or /dev/stdin (streams are read to their end, never judged by their stat size).
import { createReadStream } from "node:fs";
import {
  ClientSideEncryptionError,
  createContentEncryption,
  findEncryptionDataInMetadata,
  openRangedRead,
  parseEncryptionData,
} from "@azure-cse/core-envelope";
import { BLOB_WRITE_FLAGS, blobWriteFlags, decodingStoredData, defineCommand, EXIT, OVERWRITE_FLAG, READ_FLAGS, readPolicyOptions, UsageError, type CommandDef } from "../framework.js";
import { KEY_HELP, KEY_VAULT_FLAGS, policyFromKeys } from "../keys.js";
import { inputFile, readInputFile, StagedOutputs } from "../files.js";

/** META.json is either the blob's metadata map or the EncryptionData object itself (stored data: malformed is exit 2). */
export async function readMetadataFile(file: string, label = "--metadata"): Promise<{ encryptionData: string | object }> {
  const bytes = await readInputFile(label, file);
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new ClientSideEncryptionError("INVALID_ENCRYPTION_DATA", `${label}: ${file} is not valid JSON`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ClientSideEncryptionError("INVALID_ENCRYPTION_DATA", `${label}: ${file} must hold a JSON object`);
  }
  const obj = parsed as Record<string, unknown>;
  const fromMap = findEncryptionDataInMetadata(
    Object.fromEntries(Object.entries(obj).filter(([, v]) => typeof v === "string")) as Record<string, string>,
  );
  if (fromMap !== undefined) return { encryptionData: fromMap };
  if (Object.keys(obj).some((k) => k.toLowerCase() === "encryptionagent")) return { encryptionData: obj };
  throw new ClientSideEncryptionError("ENCRYPTION_REQUIRED", `${label}: ${file} holds no encryption metadata (no "encryptiondata" key and no EncryptionData object)`);
}

/**
 * A region out of its nonce sequence is either data of a writer with non-standard nonces (each region still
 * authenticates: --allow-misordered-regions recovers it) or bytes that are not this metadata's encrypted data at all
 * (a plaintext file, another blob): then the recovery switch cannot help and the message says so. `probe` decrypts
 * again without the order check, discarding the output.
 */
async function explainOutOfOrder(e: ClientSideEncryptionError, file: string, probe: () => Promise<void>): Promise<ClientSideEncryptionError> {
  const region = (e.details as { regionIndex?: unknown } | undefined)?.regionIndex;
  try {
    await probe();
  } catch {
    return new ClientSideEncryptionError(
      "DECRYPTION_FAILED",
      `--in: ${file} is not encrypted data of this metadata (region ${String(region)} neither follows the nonce sequence nor authenticates under the content key): a plaintext file, another blob's bytes, or modified data; nothing was written.`,
      { cause: e },
    );
  }
  return new ClientSideEncryptionError(
    "REGION_OUT_OF_ORDER",
    `Encrypted region ${String(region)} is not in its expected position, but every region authenticates: the data was written with non-standard nonces (or its regions were reordered). --allow-misordered-regions reads it.`,
    { cause: e, details: typeof region === "number" ? { regionIndex: region } : {} },
  );
}

export const commands: CommandDef[] = [
  defineCommand({
    path: ["blob", "encrypt-file"],
    summary: "Offline: the exact bytes and metadata of an encrypted blob.",
    offline: "encrypt",
    flags: {
      in: { value: true, required: true, arg: "PLAIN", help: "plaintext file (a FIFO, /dev/stdin or - for standard input)" },
      out: { value: true, required: true, arg: "STORED", help: "the stored (encrypted) bytes" },
      "metadata-out": { value: true, required: true, arg: "META.json", help: "the blob metadata (encryptiondata)" },
      key: { value: true, repeat: true, required: true, arg: "KEY", help: KEY_HELP },
      ...BLOB_WRITE_FLAGS,
      ...KEY_VAULT_FLAGS,
      ...OVERWRITE_FLAG,
    },
    async run(a, io) {
      if (a.positionals.length) throw new UsageError(`unexpected argument ${a.positionals[0]}`);
      const { protocol, regionSize } = blobWriteFlags(a);
      const policy = policyFromKeys(a, {
        encryptionVersion: protocol,
        regionSize,
        allowDeprecatedV1Encryption: protocol === "1.0",
      });
      const input = inputFile("--in", a.get("in"));
      // Both outputs are checked and staged before anything is read: they appear together or not at all.
      const outputs = new StagedOutputs([
        { label: "--out", path: a.get("out") },
        { label: "--metadata-out", path: a.get("metadata-out") },
      ], { overwrite: a.has("overwrite") });
      if (protocol === "1.0") io.stderr("azcse: warning: protocol 1.0 is deprecated and unauthenticated (CVE-2022-30187); use 2.0\n");
      const r = await outputs.run(async (o) => {
        const enc = await createContentEncryption(policy);
        try {
          let plaintextBytes = 0;
          async function* counted(): AsyncGenerator<Uint8Array> {
            for await (const c of input.open() as AsyncIterable<Buffer>) {
              plaintextBytes += c.length;
              yield c;
            }
          }
          const storedBytes = await o.writeStream(0, enc.encrypt(counted()));
          o.writeFile(1, JSON.stringify({ encryptiondata: enc.toJson(true) }, null, 2) + "\n");
          return { plaintextBytes, storedBytes, keyId: enc.encryptionData.wrappedContentKey.keyId };
        } finally {
          enc.dispose();
        }
      });
      io.stdout(JSON.stringify({ protocol, ...r }) + "\n");
      return EXIT.ok;
    },
  }),
  defineCommand({
    path: ["blob", "decrypt-file"],
    summary: "Offline: decrypts stored blob bytes with their metadata (META.json = the metadata map or the EncryptionData object).",
    offline: "decrypt",
    flags: {
      in: { value: true, required: true, arg: "STORED", help: "the stored (encrypted) bytes" },
      metadata: { value: true, required: true, arg: "META.json", help: "the blob's metadata map or its EncryptionData object" },
      out: { value: true, required: true, arg: "PLAIN", help: "the plaintext file" },
      key: { value: true, repeat: true, required: true, arg: "KEY", help: KEY_HELP },
      offset: { value: true, arg: "N", help: "first plaintext byte (default 0)" },
      count: { value: true, arg: "N", help: "plaintext bytes to decrypt (default: to the end)" },
      "blob-type": { value: true, arg: "BlockBlob|PageBlob", help: "PageBlob: legacy 1.0 page blobs (no padding)" },
      "allow-misordered-regions": { help: "read 2.x data whose regions were written out of order (recovery only)" },
      ...READ_FLAGS,
      ...KEY_VAULT_FLAGS,
      ...OVERWRITE_FLAG,
    },
    async run(a, io) {
      if (a.positionals.length) throw new UsageError(`unexpected argument ${a.positionals[0]}`);
      const blobType = a.get("blob-type") ?? "BlockBlob";
      if (blobType !== "BlockBlob" && blobType !== "PageBlob") throw new UsageError("--blob-type must be BlockBlob or PageBlob");
      const offset = a.int("offset") ?? 0;
      const count = a.int("count");
      const policy = policyFromKeys(a, { allowMisorderedRegions: a.has("allow-misordered-regions"), ...readPolicyOptions(a) });
      const input = inputFile("--in", a.get("in"));
      const outputs = new StagedOutputs([{ label: "--out", path: a.get("out") }], { overwrite: a.has("overwrite") });
      const r = await outputs.run((o) => decodingStoredData(async () => {
        const data = parseEncryptionData((await readMetadataFile(a.get("metadata")!)).encryptionData);
        // A FIFO or pipe has no size to plan with: copy it (ciphertext) to a scratch file in the private staging
        // directory first (bounded memory; removed with the staging directory on success, failure or signal).
        const stored = input.regular ? { path: input.path, size: input.size! } : await o.spool(0, "input", input.open() as AsyncIterable<Buffer>);
        const storedSize = stored.size;
        const padded = !(blobType === "PageBlob" && data.protocol === "1.0");
        // Core's ranged-read façade, the same path as the blob client's download: the key is unwrapped, the range
        // planned, the plaintext length found, and a read that returns nothing still authenticates stored bytes.
        const openStored = (start: number, n: number | undefined) =>
          n === 0 ? [] : createReadStream(stored.path, { highWaterMark: 1 << 20, start, ...(n === undefined ? {} : { end: start + n - 1 }) });
        const readOptions = { range: { offset, ...(count === undefined ? {} : { count }) }, padded };
        const read = await openRangedRead(data, policy, storedSize, openStored, readOptions);
        try {
          try {
            return { protocol: data.protocol, plaintextBytes: await o.writeStream(0, read.body) };
          } catch (e) {
            if (!ClientSideEncryptionError.is(e) || e.code !== "REGION_OUT_OF_ORDER" || policy.allowMisorderedRegions) throw e;
            // Tell reordered-but-authentic regions (the recovery switch helps) from bytes that are not this
            // metadata's data at all (it cannot): a second pass without the order check decides.
            throw await explainOutOfOrder(e, a.get("in")!, async () => {
              const probe = await openRangedRead(data, { ...policy, allowMisorderedRegions: true }, storedSize, openStored, readOptions);
              try {
                for await (const chunk of probe.body) void chunk;
              } finally {
                probe.dispose();
              }
            });
          }
        } finally {
          read.dispose();
        }
      }));
      io.stdout(JSON.stringify(r) + "\n");
      return EXIT.ok;
    },
  }),
];
