// Offline blob-format commands: encrypt a file into stored bytes + metadata, and back.
import { createReadStream, readFileSync, statSync, writeFileSync } from "node:fs";
import {
  ClientSideEncryptionError,
  createContentEncryption,
  decryptPlanned,
  findEncryptionDataInMetadata,
  parseEncryptionData,
  planRange,
  unwrapContentKey,
  type EncryptionVersion,
} from "@azure-cse/core-envelope";
import { EXIT, parseArgs, policyFromKeyFiles, UsageError, type CommandDef, writeStreamAtomically } from "../framework.js";


/** META.json is either the blob's metadata map or the EncryptionData object itself. */
export function readMetadataFile(file: string): { encryptionData: string | object } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") throw e;
    throw new ClientSideEncryptionError("INVALID_ENCRYPTION_DATA", `${file} is not valid JSON`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ClientSideEncryptionError("INVALID_ENCRYPTION_DATA", `${file} must hold a JSON object`);
  }
  const obj = parsed as Record<string, unknown>;
  const fromMap = findEncryptionDataInMetadata(
    Object.fromEntries(Object.entries(obj).filter(([, v]) => typeof v === "string")) as Record<string, string>,
  );
  if (fromMap !== undefined) return { encryptionData: fromMap };
  if (Object.keys(obj).some((k) => k.toLowerCase() === "encryptionagent")) return { encryptionData: obj };
  throw new ClientSideEncryptionError("ENCRYPTION_REQUIRED", `${file} holds no encryption metadata (no "encryptiondata" key and no EncryptionData object)`);
}

export const commands: CommandDef[] = [
  {
    path: ["blob", "encrypt-file"],
    usage: "blob encrypt-file --in PLAIN --out STORED --metadata-out META.json --key FILE [--protocol 2.0|2.1|1.0] [--region-size BYTES]",
    async run(argv, io) {
      const a = parseArgs(argv, {
        in: { value: true, required: true },
        out: { value: true, required: true },
        "metadata-out": { value: true, required: true },
        key: { value: true, repeat: true, required: true },
        protocol: { value: true },
        "region-size": { value: true },
      });
      const protocol = (a.get("protocol") ?? "2.0") as EncryptionVersion;
      if (!["2.0", "2.1", "1.0"].includes(protocol)) throw new UsageError("--protocol must be 2.0, 2.1 or 1.0");
      const regionSize = a.int("region-size");
      if (regionSize !== undefined && protocol !== "2.1") throw new UsageError("--region-size needs --protocol 2.1");
      const policy = policyFromKeyFiles(a.all("key"), {
        encryptionVersion: protocol,
        regionSize,
        allowDeprecatedV1Encryption: protocol === "1.0",
      });
      if (protocol === "1.0") io.stderr("azcse: warning: protocol 1.0 is deprecated and unauthenticated (CVE-2022-30187); use 2.0\n");
      const input = a.get("in")!;
      const size = statSync(input).size;
      const enc = await createContentEncryption(policy);
      try {
        await writeStreamAtomically(a.get("out")!, enc.encrypt(createReadStream(input, { highWaterMark: 1 << 20 })));
      } finally {
        enc.dispose();
      }
      const metadata = { encryptiondata: enc.toJson(true) };
      writeFileSync(a.get("metadata-out")!, JSON.stringify(metadata, null, 2) + "\n");
      io.stdout(JSON.stringify({ protocol, plaintextBytes: size, storedBytes: enc.storedLength(size), keyId: enc.encryptionData.wrappedContentKey.keyId }) + "\n");
      return EXIT.ok;
    },
  },
  {
    path: ["blob", "decrypt-file"],
    usage: "blob decrypt-file --in STORED --metadata META.json --out PLAIN --key FILE [--offset N] [--count N] [--blob-type BlockBlob|PageBlob]",
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
      });
      const blobType = a.get("blob-type") ?? "BlockBlob";
      if (blobType !== "BlockBlob" && blobType !== "PageBlob") throw new UsageError("--blob-type must be BlockBlob or PageBlob");
      const policy = policyFromKeyFiles(a.all("key"), { allowMisorderedRegions: a.has("allow-misordered-regions") });
      const data = parseEncryptionData(readMetadataFile(a.get("metadata")!).encryptionData);
      const input = a.get("in")!;
      const storedSize = statSync(input).size;
      const padded = !(blobType === "PageBlob" && data.protocol === "1.0");
      const count = a.int("count");
      const plan = planRange(data, { offset: a.int("offset") ?? 0, ...(count === undefined ? {} : { count }) }, storedSize, { padded });
      const cek = await unwrapContentKey(data, policy);
      const source = plan.empty
        ? []
        : createReadStream(input, {
            start: plan.storedOffset,
            ...(plan.storedCount === undefined ? {} : { end: plan.storedOffset + plan.storedCount - 1 }),
            highWaterMark: 1 << 20,
          });
      let written = 0;
      async function* counted(): AsyncGenerator<Buffer> {
        for await (const c of decryptPlanned(data, cek, plan, source, policy, padded)) {
          written += c.length;
          yield c;
        }
      }
      try {
        await writeStreamAtomically(a.get("out")!, counted());
      } finally {
        cek.fill(0);
      }
      io.stdout(JSON.stringify({ protocol: data.protocol, plaintextBytes: written }) + "\n");
      return EXIT.ok;
    },
  },
];
