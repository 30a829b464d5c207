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
import { blobWriteFlags, decodingStoredData, EXIT, parseArgs, policyFromKeyFiles, READ_FLAGS, READ_USAGE, readPolicyOptions, UsageError, type CommandDef } from "../framework.js";
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

export const commands: CommandDef[] = [
  {
    path: ["blob", "encrypt-file"],
    usage: "blob encrypt-file --in PLAIN --out STORED --metadata-out META.json --key FILE [--protocol 2.0|2.1|1.0] [--region-size BYTES]",
    offline: "encrypt",
    async run(argv, io) {
      const a = parseArgs(argv, {
        in: { value: true, required: true },
        out: { value: true, required: true },
        "metadata-out": { value: true, required: true },
        key: { value: true, repeat: true, required: true },
        protocol: { value: true },
        "region-size": { value: true },
      });
      if (a.positionals.length) throw new UsageError(`unexpected argument ${a.positionals[0]}`);
      const { protocol, regionSize } = blobWriteFlags(a);
      const policy = policyFromKeyFiles(a.all("key"), {
        encryptionVersion: protocol,
        regionSize,
        allowDeprecatedV1Encryption: protocol === "1.0",
      });
      const input = inputFile("--in", a.get("in"));
      // Both outputs are checked and staged before anything is read: they appear together or not at all.
      const outputs = new StagedOutputs([
        { label: "--out", path: a.get("out") },
        { label: "--metadata-out", path: a.get("metadata-out") },
      ]);
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
  },
  {
    path: ["blob", "decrypt-file"],
    usage: `blob decrypt-file --in STORED --metadata META.json --out PLAIN --key FILE [--offset N] [--count N] [--blob-type BlockBlob|PageBlob] ${READ_USAGE}`,
    offline: "decrypt",
    async run(argv, io) {
      const a = parseArgs(argv, {
        in: { value: true, required: true },
        metadata: { value: true, required: true },
        out: { value: true, required: true },
        key: { value: true, repeat: true, required: true },
        offset: { value: true },
        count: { value: true },
        "blob-type": { value: true },
        "allow-misordered-regions": {},
        ...READ_FLAGS,
      });
      if (a.positionals.length) throw new UsageError(`unexpected argument ${a.positionals[0]}`);
      const blobType = a.get("blob-type") ?? "BlockBlob";
      if (blobType !== "BlockBlob" && blobType !== "PageBlob") throw new UsageError("--blob-type must be BlockBlob or PageBlob");
      const offset = a.int("offset") ?? 0;
      const count = a.int("count");
      const policy = policyFromKeyFiles(a.all("key"), { allowMisorderedRegions: a.has("allow-misordered-regions"), ...readPolicyOptions(a) });
      const input = inputFile("--in", a.get("in"));
      const outputs = new StagedOutputs([{ label: "--out", path: a.get("out") }]);
      const r = await outputs.run((o) => decodingStoredData(async () => {
        const data = parseEncryptionData((await readMetadataFile(a.get("metadata")!)).encryptionData);
        // A FIFO or pipe has no size to plan with: copy it (ciphertext) to a scratch file in the private staging
        // directory first (bounded memory; removed with the staging directory on success, failure or signal).
        const stored = input.regular ? { path: input.path, size: input.size! } : await o.spool(0, "input", input.open() as AsyncIterable<Buffer>);
        const storedSize = stored.size;
        const padded = !(blobType === "PageBlob" && data.protocol === "1.0");
        // Core's ranged-read façade, the same path as the blob client's download: the key is unwrapped, the range
        // planned, the plaintext length found, and a read that returns nothing still authenticates stored bytes.
        const read = await openRangedRead(
          data,
          policy,
          storedSize,
          (start, n) => (n === 0 ? [] : createReadStream(stored.path, { highWaterMark: 1 << 20, start, ...(n === undefined ? {} : { end: start + n - 1 }) })),
          { range: { offset, ...(count === undefined ? {} : { count }) }, padded },
        );
        try {
          return { protocol: data.protocol, plaintextBytes: await o.writeStream(0, read.body) };
        } finally {
          read.dispose();
        }
      }));
      io.stdout(JSON.stringify(r) + "\n");
      return EXIT.ok;
    },
  },
];
