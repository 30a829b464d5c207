// azcse blob service commands: upload, download, inspect and rotate-key against a storage account
// (connection from --connection-string or AZURE_STORAGE_CONNECTION_STRING).
import { BlobServiceClient } from "@azure/storage-blob";
import type { ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { EncryptedBlobClient } from "@azure-cse/storage-blob";
import {
  blobWriteFlags,
  checkResourceName,
  decodingStoredData,
  fromConnection,
  EXIT,
  loadKeys,
  parseArgs,
  policyFromKeyFiles,
  positionals,
  READ_FLAGS,
  READ_USAGE,
  readPolicyOptions,
  SERVICE_FLAGS,
  SERVICE_USAGE,
  storageClientOptions,
  UsageError,
  type CommandDef,
  type ParsedArgs,
} from "../framework.js";
import { inputFile, StagedOutputs } from "../files.js";

const CONNECTION = SERVICE_FLAGS;

function blobClient(a: ParsedArgs, container: string, blob: string, policy: ClientSideEncryptionPolicy): EncryptedBlobClient {
  checkResourceName("CONTAINER", container);
  checkResourceName("BLOB", blob);
  const service = fromConnection(a, (cs) => BlobServiceClient.fromConnectionString(cs, storageClientOptions(a)));
  return new EncryptedBlobClient(service.getContainerClient(container).getBlobClient(blob), policy);
}

/** `--metadata K=V`: K a metadata name (a C# identifier, case-insensitively unique, not the reserved encryptiondata). */
function parseMetadata(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  const seen = new Set<string>();
  for (const p of pairs) {
    const eq = p.indexOf("=");
    if (eq <= 0) throw new UsageError(`--metadata must be KEY=VALUE (got ${JSON.stringify(p)})`);
    const key = p.slice(0, eq);
    const value = p.slice(eq + 1);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new UsageError(`--metadata: ${JSON.stringify(key)} is not a valid metadata name (letters, digits and _, not starting with a digit)`);
    if (key.toLowerCase() === "encryptiondata") throw new UsageError("--metadata: encryptiondata is reserved for the encryption metadata");
    if (seen.has(key.toLowerCase())) throw new UsageError(`--metadata: ${key} given more than once (names are case-insensitive)`);
    if (/[^\x20-\x7e]/.test(value)) throw new UsageError(`--metadata: the value of ${key} must be printable ASCII`);
    seen.add(key.toLowerCase());
    out[key] = value;
  }
  return { ...out };
}

export const commands: CommandDef[] = [
  {
    path: ["blob", "upload"],
    usage: `blob upload CONTAINER BLOB FILE --key FILE [--protocol 2.0|2.1|1.0] [--region-size BYTES] [--metadata K=V]... [--create-container] ${SERVICE_USAGE}`,
    async run(argv, io) {
      const a = parseArgs(argv, {
        ...CONNECTION,
        key: { value: true, repeat: true, required: true },
        protocol: { value: true },
        "region-size": { value: true },
        metadata: { value: true, repeat: true },
        "create-container": {},
      });
      const [container, blob, file] = positionals(a, ["CONTAINER", "BLOB", "FILE"]) as [string, string, string];
      const { protocol, regionSize } = blobWriteFlags(a);
      const metadata = parseMetadata(a.all("metadata"));
      const input = inputFile("FILE", file);
      const policy = policyFromKeyFiles(a.all("key"), { encryptionVersion: protocol, regionSize, allowDeprecatedV1Encryption: protocol === "1.0" });
      if (protocol === "1.0") io.stderr("azcse: warning: protocol 1.0 is deprecated and unauthenticated (CVE-2022-30187); use 2.0\n");
      const client = blobClient(a, container, blob, policy);
      if (a.has("create-container")) {
        await fromConnection(a, (cs) => BlobServiceClient.fromConnectionString(cs, storageClientOptions(a))).getContainerClient(container).createIfNotExists();
      }
      // A FIFO or /dev/stdin is uploaded as a stream (its stat size says nothing about its content).
      const r = input.regular ? await client.uploadFile(file, { metadata }) : await client.uploadStream(input.open(), { metadata });
      io.stdout(
        JSON.stringify({
          container,
          blob,
          protocol: r.encryption.protocol,
          keyId: r.encryption.keyId,
          regionSize: r.encryption.regionSize ?? null,
          plaintextBytes: r.plaintextLength,
          storedBytes: r.storedLength,
          uploadPath: r.uploadPath,
          etag: r.etag ?? null,
        }) + "\n",
      );
      return EXIT.ok;
    },
  },
  {
    path: ["blob", "download"],
    usage: `blob download CONTAINER BLOB FILE --key FILE [--offset N] [--count N] [--allow-misordered-regions] ${READ_USAGE} ${SERVICE_USAGE}`,
    async run(argv, io) {
      const a = parseArgs(argv, {
        ...CONNECTION,
        ...READ_FLAGS,
        key: { value: true, repeat: true, required: true },
        offset: { value: true },
        count: { value: true },
        "allow-misordered-regions": {},
      });
      const [container, blob, file] = positionals(a, ["CONTAINER", "BLOB", "FILE"]) as [string, string, string];
      const offset = a.int("offset") ?? 0;
      const count = a.int("count");
      const policy = policyFromKeyFiles(a.all("key"), { allowMisorderedRegions: a.has("allow-misordered-regions"), ...readPolicyOptions(a) });
      const client = blobClient(a, container, blob, policy);
      // Plaintext goes to a private staging file that is renamed into place only after the last region verified.
      const r = await new StagedOutputs([{ label: "FILE", path: file }]).run((o) =>
        decodingStoredData(async () => {
          const d = await client.download(offset, count);
          const written = await o.writeStream(0, d.readableStreamBody as AsyncIterable<Uint8Array>);
          return { encryption: d.encryption, written };
        }),
      );
      io.stdout(JSON.stringify({ container, blob, protocol: r.encryption?.protocol ?? null, keyId: r.encryption?.keyId ?? null, plaintextBytes: r.written }) + "\n");
      return EXIT.ok;
    },
  },
  {
    path: ["blob", "inspect"],
    usage: `blob inspect CONTAINER BLOB [--key FILE] ${READ_USAGE} ${SERVICE_USAGE}   (JSON; --key gives 1.0 plaintext lengths)`,
    async run(argv, io) {
      const a = parseArgs(argv, { ...CONNECTION, ...READ_FLAGS, key: { value: true, repeat: true } });
      const [container, blob] = positionals(a, ["CONTAINER", "BLOB"]) as [string, string];
      const keyFiles = a.all("key");
      const read = readPolicyOptions(a);
      const policy: ClientSideEncryptionPolicy = keyFiles.length ? policyFromKeyFiles(keyFiles, read) : read;
      const client = blobClient(a, container, blob, policy);
      // A 1.0 plaintext length is a decryption: only with --key and only when 1.0 is an allowed read protocol.
      const v1Allowed = read.allowedReadProtocols === undefined || read.allowedReadProtocols.includes("1.0");
      const p = await decodingStoredData(() => client.getProperties({ computeV1PlaintextLength: keyFiles.length > 0 && v1Allowed }));
      const e = p.encryption;
      io.stdout(
        JSON.stringify(
          {
            container,
            blob,
            encrypted: p.isClientSideEncrypted,
            protocol: e?.protocol ?? null,
            kid: e?.keyId ?? null,
            algorithm: e?.keyWrapAlgorithm ?? null,
            regionSize: e?.regionSize ?? null,
            storedLength: p.contentLength ?? null,
            plaintextLength: p.plaintextLength ?? (p.isClientSideEncrypted ? null : (p.contentLength ?? null)),
            writerLibrary: e?.encryptionLibrary ?? null,
            blobType: p.blobType ?? null,
            etag: p.etag ?? null,
            ...(p.encryptionDataError ? { error: p.encryptionDataError } : {}),
          },
          null,
          2,
        ) + "\n",
      );
      if (p.encryptionDataError) {
        io.stderr(`azcse: ${p.encryptionDataError.code}: ${p.encryptionDataError.message}\n`);
        return EXIT.crypto;
      }
      return EXIT.ok;
    },
  },
  {
    path: ["blob", "rotate-key"],
    usage: `blob rotate-key CONTAINER BLOB --key OLD --new-key NEW ${READ_USAGE} ${SERVICE_USAGE}   (re-wraps the content key; no data re-upload)`,
    async run(argv, io) {
      const a = parseArgs(argv, { ...CONNECTION, ...READ_FLAGS, key: { value: true, repeat: true, required: true }, "new-key": { value: true, required: true } });
      const [container, blob] = positionals(a, ["CONTAINER", "BLOB"]) as [string, string];
      const policy = policyFromKeyFiles(a.all("key"), readPolicyOptions(a));
      const [newKey] = loadKeys([a.get("new-key")!], "--new-key");
      const r = await blobClient(a, container, blob, policy).updateKeyEncryptionKey(newKey!);
      io.stdout(JSON.stringify({ container, blob, previousKeyId: r.previousKeyId, keyId: r.keyId, algorithm: r.keyWrapAlgorithm, etag: r.etag ?? null }) + "\n");
      return EXIT.ok;
    },
  },
];
