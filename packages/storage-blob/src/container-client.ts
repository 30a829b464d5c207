// EncryptedContainerClient: hands out EncryptedBlobClients and lists blobs with their encryption state.
import type { BlobItem, ContainerClient, ContainerListBlobFlatSegmentResponse, ContainerListBlobsOptions } from "@azure/storage-blob";
import {
  ClientSideEncryptionError,
  findEncryptionDataInMetadata,
  maxReadRegionSize,
  parseEncryptionData,
  v2PlaintextLength,
  type ClientSideEncryptionPolicy,
} from "@azure-cse/core-envelope";
import { EncryptedBlobClient } from "./blob-client.js";
import { toTypedError } from "./errors.js";
import { checkString, optionsOf } from "./internal.js";
import type { EncryptionSummary } from "./models.js";

/** A listed blob plus what its metadata says about client-side encryption (no request per blob). */
export interface EncryptedBlobItem extends BlobItem {
  isClientSideEncrypted: boolean;
  encryption?: EncryptionSummary;
  /** Exact plaintext length for 2.x blobs (1.0 needs the last block: use getProperties). */
  plaintextLength?: number;
  /** Set when `encryptiondata` is present but unreadable. */
  encryptionDataError?: { code: string; message: string };
}

/** Describes a blob's encryption from its metadata alone. */
export function describeEncryption(metadata: Record<string, string> | undefined, storedLength: number | undefined, maxRegionSize?: number): Pick<EncryptedBlobItem, "isClientSideEncrypted" | "encryption" | "plaintextLength" | "encryptionDataError"> {
  try {
    const raw = findEncryptionDataInMetadata(metadata);
    if (raw === undefined) return { isClientSideEncrypted: false };
    const data = parseEncryptionData(raw, { maxRegionSize });
    const encryption: EncryptionSummary = { protocol: data.protocol, keyId: data.wrappedContentKey.keyId, keyWrapAlgorithm: data.wrappedContentKey.algorithm };
    if (data.protocol !== "1.0") encryption.regionSize = data.encryptedRegionInfo.dataLength;
    const lib = data.keyWrappingMetadata?.EncryptionLibrary;
    if (lib !== undefined) encryption.encryptionLibrary = lib;
    const out: ReturnType<typeof describeEncryption> = { isClientSideEncrypted: true, encryption };
    if (data.protocol !== "1.0" && storedLength !== undefined) out.plaintextLength = v2PlaintextLength(storedLength, data.encryptedRegionInfo.dataLength);
    return out;
  } catch (e) {
    const err = toTypedError(e);
    return { isClientSideEncrypted: true, encryptionDataError: { code: err.code, message: err.message } };
  }
}

/** A container whose blobs are read and written through client-side encryption. */
export class EncryptedContainerClient {
  readonly #client: ContainerClient;
  readonly #policy: ClientSideEncryptionPolicy;

  constructor(containerClient: ContainerClient, policy: ClientSideEncryptionPolicy) {
    if (!containerClient || typeof containerClient.getBlobClient !== "function") {
      throw new ClientSideEncryptionError("INVALID_ARGUMENT", "EncryptedContainerClient needs an @azure/storage-blob ContainerClient.");
    }
    if (!policy || typeof policy !== "object") {
      throw new ClientSideEncryptionError("INVALID_ARGUMENT", "EncryptedContainerClient needs a ClientSideEncryptionPolicy.");
    }
    this.#client = containerClient;
    this.#policy = policy;
  }

  /** The wrapped client (container operations; writing blobs through it bypasses encryption). */
  get containerClient(): ContainerClient {
    return this.#client;
  }
  get containerName(): string {
    return this.#client.containerName;
  }
  get url(): string {
    return this.#client.url;
  }

  /** An encrypted client for one blob, sharing this container's policy. */
  getBlobClient(blobName: string): EncryptedBlobClient {
    checkString(blobName, "getBlobClient's blobName");
    return new EncryptedBlobClient(this.#client.getBlobClient(blobName), this.#policy);
  }



  /**
   * Lists blobs (metadata always included) with their encryption state from the listing alone:
   * protocol, key id and, for 2.x, the plaintext length. No blob is read.
   */
  async *listBlobs(options: Omit<ContainerListBlobsOptions, "includeMetadata"> = {}): AsyncGenerator<EncryptedBlobItem> {
    options = optionsOf(options, "listBlobs options");
    try {
      const pages = this.#client.listBlobsFlat({ ...options, includeMetadata: true }).byPage({ maxPageSize: 5000 });
      for await (const page of pages as AsyncIterable<ContainerListBlobFlatSegmentResponse>) {
        for (const item of page.segment.blobItems) {
          yield { ...item, ...describeEncryption(item.metadata, item.properties.contentLength, maxReadRegionSize(this.#policy)) };
        }
      }
    } catch (e) {
      throw toTypedError(e, { container: this.#client.containerName });
    }
  }
}
