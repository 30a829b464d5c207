// azcse blob service commands: upload, download, inspect and rotate-key against a storage account
// (connection from --connection-string or AZURE_STORAGE_CONNECTION_STRING).
import type { ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { EncryptedBlobClient } from "@azure-cse/storage-blob";
import {
  BLOB_WRITE_FLAGS,
  blobWriteFlags,
  checkResourceName,
  decodingStoredData,
  defineCommand,
  EXIT,
  OVERWRITE_FLAG,
  positionals,
  READ_FLAGS,
  readPolicyOptions,
  UsageError,
  type CommandDef,
  type FlagSpecs,
  type Io,
  type ParsedArgs,
} from "../framework.js";
import { blobServiceOf, SERVICE_FLAGS } from "../account.js";
import { CommandKeys, KEY_HELP, KEY_VAULT_FLAGS, policyFromKeys } from "../keys.js";
import { inputFile, StagedOutputs } from "../files.js";
import { TransferProgress } from "../ops/progress.js";

const CONNECTION = SERVICE_FLAGS;

function blobClient(a: ParsedArgs, container: string, blob: string, policy: ClientSideEncryptionPolicy): EncryptedBlobClient {
  checkResourceName("CONTAINER", container);
  checkResourceName("BLOB", blob);
  return new EncryptedBlobClient(blobServiceOf(a).getContainerClient(container).getBlobClient(blob), policy);
}

/** `--progress auto|bar|none` of the single-transfer commands: a bar on stderr (auto: only on a terminal). */
const PROGRESS_FLAG: FlagSpecs = {
  progress: { value: true, arg: "auto|bar|none", help: "progress bar on stderr (auto: on a terminal; default)" },
};

function transferProgress(a: ParsedArgs, io: Io, total: number | undefined): TransferProgress | undefined {
  const mode = a.get("progress") ?? "auto";
  if (mode !== "auto" && mode !== "bar" && mode !== "none") throw new UsageError("--progress must be auto, bar or none");
  const on = mode === "bar" || (mode === "auto" && process.stderr.isTTY === true);
  return on ? new TransferProgress(io.stderr, total) : undefined;
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
  defineCommand({
    path: ["blob", "upload"],
    args: "CONTAINER BLOB FILE",
    summary: "Encrypts FILE and uploads it (--protocol 1.0 is deprecated and unauthenticated, CVE-2022-30187: legacy readers only).",
    flags: {
      key: { value: true, repeat: true, required: true, arg: "KEY", help: KEY_HELP },
      ...BLOB_WRITE_FLAGS,
      metadata: { value: true, repeat: true, arg: "K=V", help: "blob metadata (repeatable)" },
      "create-container": { help: "create the container when it does not exist" },
      ...PROGRESS_FLAG,
      ...KEY_VAULT_FLAGS,
      ...CONNECTION,
    },
    async run(a, io) {
      const [container, blob, file] = positionals(a, ["CONTAINER", "BLOB", "FILE"]) as [string, string, string];
      const { protocol, regionSize } = blobWriteFlags(a);
      const metadata = parseMetadata(a.all("metadata"));
      const input = inputFile("FILE", file);
      const policy = policyFromKeys(a, { encryptionVersion: protocol, regionSize, allowDeprecatedV1Encryption: protocol === "1.0" });
      const progress = transferProgress(a, io, input.size);
      if (protocol === "1.0") io.stderr("azcse: warning: protocol 1.0 is deprecated and unauthenticated (CVE-2022-30187); use 2.0\n");
      const client = blobClient(a, container, blob, policy);
      if (a.has("create-container")) await blobServiceOf(a).getContainerClient(container).createIfNotExists();
      const onProgress = progress ? (p: { loadedBytes: number }) => progress.update(p.loadedBytes) : undefined;
      let r: Awaited<ReturnType<EncryptedBlobClient["uploadFile"]>>;
      try {
        // A FIFO or /dev/stdin is uploaded as a stream (its stat size says nothing about its content).
        r = input.regular ? await client.uploadFile(file, { metadata, onProgress }) : await client.uploadStream(input.open(), { metadata, onProgress });
      } catch (e) {
        progress?.clear();
        throw e;
      }
      progress?.finish(r.plaintextLength);
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
  }),
  defineCommand({
    path: ["blob", "download"],
    args: "CONTAINER BLOB FILE",
    summary: "Downloads and decrypts as one stream (a range fetches only the covering regions); no partial file on failure or interruption.",
    flags: {
      key: { value: true, repeat: true, required: true, arg: "KEY", help: KEY_HELP },
      offset: { value: true, arg: "N", help: "first plaintext byte (default 0)" },
      count: { value: true, arg: "N", help: "plaintext bytes to download (default: to the end)" },
      "allow-misordered-regions": { help: "read 2.x data whose regions were written out of order (recovery only)" },
      ...READ_FLAGS,
      ...OVERWRITE_FLAG,
      ...PROGRESS_FLAG,
      ...KEY_VAULT_FLAGS,
      ...CONNECTION,
    },
    async run(a, io) {
      const [container, blob, file] = positionals(a, ["CONTAINER", "BLOB", "FILE"]) as [string, string, string];
      const offset = a.int("offset") ?? 0;
      const count = a.int("count");
      const policy = policyFromKeys(a, { allowMisorderedRegions: a.has("allow-misordered-regions"), ...readPolicyOptions(a) });
      const progress = transferProgress(a, io, undefined);
      const client = blobClient(a, container, blob, policy);
      // Plaintext goes to a private staging file that is renamed into place only after the last region verified.
      let r: { encryption: { protocol: string; keyId: string } | undefined; written: number };
      try {
        r = await new StagedOutputs([{ label: "FILE", path: file }], { overwrite: a.has("overwrite") }).run((o) =>
          decodingStoredData(async () => {
            const d = await client.download(offset, count, progress ? { onProgress: (p) => progress.update(p.loadedBytes) } : {});
            progress?.setTotal(d.contentLength);
            const written = await o.writeStream(0, d.readableStreamBody as AsyncIterable<Uint8Array>);
            return { encryption: d.encryption, written };
          }),
        );
      } catch (e) {
        progress?.clear();
        throw e;
      }
      progress?.finish(r.written);
      io.stdout(JSON.stringify({ container, blob, protocol: r.encryption?.protocol ?? null, keyId: r.encryption?.keyId ?? null, plaintextBytes: r.written }) + "\n");
      return EXIT.ok;
    },
  }),
  defineCommand({
    path: ["blob", "inspect"],
    args: "CONTAINER BLOB",
    summary: "JSON: protocol, key id, writer, region size, plaintext length (--key gives 1.0 plaintext lengths).",
    flags: {
      key: { value: true, repeat: true, arg: "KEY", help: `optional: ${KEY_HELP}` },
      ...READ_FLAGS,
      ...KEY_VAULT_FLAGS,
      ...CONNECTION,
    },
    async run(a, io) {
      const [container, blob] = positionals(a, ["CONTAINER", "BLOB"]) as [string, string];
      const keyCount = a.all("key").length;
      const read = readPolicyOptions(a);
      const policy: ClientSideEncryptionPolicy = keyCount ? policyFromKeys(a, read) : read;
      const client = blobClient(a, container, blob, policy);
      // A 1.0 plaintext length is a decryption: only with --key and only when 1.0 is an allowed read protocol.
      const v1Allowed = read.allowedReadProtocols === undefined || read.allowedReadProtocols.includes("1.0");
      const p = await decodingStoredData(() => client.getProperties({ computeV1PlaintextLength: keyCount > 0 && v1Allowed }));
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
  }),
  defineCommand({
    path: ["blob", "rotate-key"],
    args: "CONTAINER BLOB",
    summary: "Re-wraps the content key with --new-key (metadata only; no data re-upload).",
    flags: {
      key: { value: true, repeat: true, required: true, arg: "OLD", help: `the old key(s): ${KEY_HELP}` },
      "new-key": { value: true, required: true, arg: "NEW", help: "the new key: a private JWK file or a Key Vault key id" },
      ...READ_FLAGS,
      ...KEY_VAULT_FLAGS,
      ...CONNECTION,
    },
    async run(a, io) {
      const [container, blob] = positionals(a, ["CONTAINER", "BLOB"]) as [string, string];
      const ck = new CommandKeys(a);
      const keys = ck.load(a.all("key"));
      const [newKey] = ck.load([a.get("new-key")!], "--new-key");
      const policy: ClientSideEncryptionPolicy = { ...readPolicyOptions(a), keyEncryptionKey: keys[0], keyResolver: ck.resolver(keys) };
      const r = await blobClient(a, container, blob, policy).updateKeyEncryptionKey(newKey!);
      io.stdout(JSON.stringify({ container, blob, previousKeyId: r.previousKeyId, keyId: r.keyId, algorithm: r.keyWrapAlgorithm, etag: r.etag ?? null }) + "\n");
      return EXIT.ok;
    },
  }),
];
