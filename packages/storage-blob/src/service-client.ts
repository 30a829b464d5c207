// EncryptedBlobServiceClient: hands the one shared policy down to every container and blob.
import type { BlobServiceClient, ContainerCreateOptions } from "@azure/storage-blob";
import { ClientSideEncryptionError, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import type { EncryptedBlobClient } from "./blob-client.js";
import { EncryptedContainerClient } from "./container-client.js";
import { storageCall } from "./errors.js";
import { checkString, optionsOf } from "./internal.js";

/**
 * A storage account's blobs under one client-side encryption policy. Composes an `@azure/storage-blob`
 * `BlobServiceClient` (any credential); account operations (list or delete containers, properties, SAS) are on
 * `blobServiceClient`.
 */
export class EncryptedBlobServiceClient {
  readonly #client: BlobServiceClient;
  readonly #policy: ClientSideEncryptionPolicy;

  constructor(blobServiceClient: BlobServiceClient, policy: ClientSideEncryptionPolicy) {
    if (!blobServiceClient || typeof blobServiceClient.getContainerClient !== "function") {
      throw new ClientSideEncryptionError("INVALID_ARGUMENT", "EncryptedBlobServiceClient needs an @azure/storage-blob BlobServiceClient.");
    }
    if (!policy || typeof policy !== "object") {
      throw new ClientSideEncryptionError("INVALID_ARGUMENT", "EncryptedBlobServiceClient needs a ClientSideEncryptionPolicy.");
    }
    this.#client = blobServiceClient;
    this.#policy = policy;
  }

  /** The wrapped client (account operations; blobs written through it are not encrypted). */
  get blobServiceClient(): BlobServiceClient {
    return this.#client;
  }
  /** The policy given to the constructor, handed unchanged to every container and blob client. */
  get policy(): ClientSideEncryptionPolicy {
    return this.#policy;
  }
  get url(): string {
    return this.#client.url;
  }

  /** An encrypted client for one container, sharing this client's policy. */
  getContainerClient(containerName: string): EncryptedContainerClient {
    checkString(containerName, "getContainerClient's containerName");
    return new EncryptedContainerClient(this.#client.getContainerClient(containerName), this.#policy);
  }

  /** Shorthand for `getContainerClient(containerName).getBlobClient(blobName)`. */
  getBlobClient(containerName: string, blobName: string): EncryptedBlobClient {
    return this.getContainerClient(containerName).getBlobClient(blobName);
  }

  /** Creates the container if it does not exist and returns its encrypted client. Failures are typed (SERVICE_ERROR, ...). */
  async createContainerIfNotExists(containerName: string, options: ContainerCreateOptions = {}): Promise<EncryptedContainerClient> {
    checkString(containerName, "createContainerIfNotExists's containerName");
    options = optionsOf(options, "createContainerIfNotExists options");
    const container = this.#client.getContainerClient(containerName);
    await storageCall({ container: containerName }, () => container.createIfNotExists(options));
    return new EncryptedContainerClient(container, this.#policy);
  }
}
