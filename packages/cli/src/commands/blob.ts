// azcse blob service commands: upload, download, inspect and rotate-key against a storage account
// (connection from --connection-string or AZURE_STORAGE_CONNECTION_STRING).
import { BlobServiceClient } from "@azure/storage-blob";
import type { ClientSideEncryptionPolicy, EncryptionVersion } from "@azure-cse/core-envelope";
import { EncryptedBlobClient } from "@azure-cse/storage-blob";
import { connectionString, EXIT, loadKeys, parseArgs, policyFromKeyFiles, SERVICE_FLAGS, SERVICE_USAGE, storageClientOptions, UsageError, type CommandDef, type ParsedArgs } from "../framework.js";

const CONNECTION = SERVICE_FLAGS;

function positionals(a: ParsedArgs, names: string[]): string[] {
  if (a.positionals.length !== names.length) {
    throw new UsageError(`expected ${names.join(" ")} (got ${a.positionals.length} argument${a.positionals.length === 1 ? "" : "s"})`);
  }
  return a.positionals;
}

function blobClient(a: ParsedArgs, container: string, blob: string, policy: ClientSideEncryptionPolicy): EncryptedBlobClient {
  const service = BlobServiceClient.fromConnectionString(connectionString(a), storageClientOptions(a));
  return new EncryptedBlobClient(service.getContainerClient(container).getBlobClient(blob), policy);
}

function parseMetadata(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const eq = p.indexOf("=");
    if (eq <= 0) throw new UsageError(`--metadata must be KEY=VALUE (got "${p}")`);
    out[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return out;
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
      const protocol = (a.get("protocol") ?? "2.0") as EncryptionVersion;
      if (!["2.0", "2.1", "1.0"].includes(protocol)) throw new UsageError("--protocol must be 2.0, 2.1 or 1.0");
      const regionSize = a.int("region-size");
      if (regionSize !== undefined && protocol !== "2.1") throw new UsageError("--region-size needs --protocol 2.1");
      const metadata = parseMetadata(a.all("metadata"));
      const policy = policyFromKeyFiles(a.all("key"), { encryptionVersion: protocol, regionSize, allowDeprecatedV1Encryption: protocol === "1.0" });
      if (protocol === "1.0") io.stderr("azcse: warning: protocol 1.0 is deprecated and unauthenticated (CVE-2022-30187); use 2.0\n");
      const client = blobClient(a, container, blob, policy);
      if (a.has("create-container")) {
        await BlobServiceClient.fromConnectionString(connectionString(a), storageClientOptions(a)).getContainerClient(container).createIfNotExists();
      }
      const r = await client.uploadFile(file, { metadata });
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
    usage: `blob download CONTAINER BLOB FILE --key FILE [--offset N] [--count N] [--allow-misordered-regions] ${SERVICE_USAGE}`,
    async run(argv, io) {
      const a = parseArgs(argv, {
        ...CONNECTION,
        key: { value: true, repeat: true, required: true },
        offset: { value: true },
        count: { value: true },
        "allow-misordered-regions": {},
      });
      const [container, blob, file] = positionals(a, ["CONTAINER", "BLOB", "FILE"]) as [string, string, string];
      const policy = policyFromKeyFiles(a.all("key"), { allowMisorderedRegions: a.has("allow-misordered-regions") });
      const r = await blobClient(a, container, blob, policy).downloadToFile(file, a.int("offset") ?? 0, a.int("count"));
      io.stdout(JSON.stringify({ container, blob, protocol: r.encryption?.protocol ?? null, keyId: r.encryption?.keyId ?? null, plaintextBytes: r.contentLength }) + "\n");
      return EXIT.ok;
    },
  },
  {
    path: ["blob", "inspect"],
    usage: `blob inspect CONTAINER BLOB [--key FILE] ${SERVICE_USAGE}   (JSON; --key gives 1.0 plaintext lengths)`,
    async run(argv, io) {
      const a = parseArgs(argv, { ...CONNECTION, key: { value: true, repeat: true } });
      const [container, blob] = positionals(a, ["CONTAINER", "BLOB"]) as [string, string];
      const keyFiles = a.all("key");
      const policy: ClientSideEncryptionPolicy = keyFiles.length ? policyFromKeyFiles(keyFiles) : {};
      const p = await blobClient(a, container, blob, policy).getProperties();
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
    usage: `blob rotate-key CONTAINER BLOB --key OLD --new-key NEW ${SERVICE_USAGE}   (re-wraps the content key; no data re-upload)`,
    async run(argv, io) {
      const a = parseArgs(argv, { ...CONNECTION, key: { value: true, repeat: true, required: true }, "new-key": { value: true, required: true } });
      const [container, blob] = positionals(a, ["CONTAINER", "BLOB"]) as [string, string];
      const policy = policyFromKeyFiles(a.all("key"));
      const [newKey] = loadKeys([a.get("new-key")!]);
      const r = await blobClient(a, container, blob, policy).updateKeyEncryptionKey(newKey!);
      io.stdout(JSON.stringify({ container, blob, previousKeyId: r.previousKeyId, keyId: r.keyId, algorithm: r.keyWrapAlgorithm, etag: r.etag ?? null }) + "\n");
      return EXIT.ok;
    },
  },
];
