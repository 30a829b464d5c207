// The claim-check store of @azure-cse/storage-queue, implemented with an encrypted blob container.
// @azure-cse/storage-queue does not depend on any blob package, so this adapter lives with the application.
import { ClientSideEncryptionError } from "@azure-cse/core-envelope";
import type { EncryptedContainerClient } from "@azure-cse/storage-blob";
import type { ClaimCheckStore } from "@azure-cse/storage-queue";

/**
 * Keeps claim-check payloads as client-side encrypted blobs in `container` (same policy as the container's):
 * create-only writes, NOT_FOUND → undefined on read, idempotent delete.
 */
export function encryptedContainerClaimCheckStore(container: EncryptedContainerClient): ClaimCheckStore {
  return {
    async put(name, payload, options) {
      await container.getBlobClient(name).uploadData(payload, { abortSignal: options?.abortSignal, conditions: { ifNoneMatch: "*" } });
    },
    async get(name, options) {
      try {
        return await container.getBlobClient(name).downloadToBuffer(0, undefined, { abortSignal: options?.abortSignal });
      } catch (e) {
        if (ClientSideEncryptionError.hasCode(e, "NOT_FOUND")) return undefined;
        throw e;
      }
    },
    async delete(name, options) {
      await container.getBlobClient(name).deleteIfExists({ abortSignal: options?.abortSignal });
    },
  };
}
