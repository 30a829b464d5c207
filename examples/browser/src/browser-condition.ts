// Type-level check of tsconfig.json (tsc only; the page does not import this file): with
// `"moduleResolution": "bundler"` and `"customConditions": ["browser"]`, the bare package names resolve to the
// web builds' types — the same modules Vite bundles for `import ... from "@azure-cse/storage-blob"`. Without the
// condition TypeScript would pick the Node entries, and each line below would fail to compile.
import { downloadDecryptedBlob, uploadEncryptedBlob } from "@azure-cse/storage-blob";
import { WebEncryptedQueueClient } from "@azure-cse/storage-queue";
import { WebEncryptedTableClient } from "@azure-cse/data-tables";
import { webKeyFromJwk } from "@azure-cse/core-envelope";
// @ts-expect-error EncryptedContainerClient is the Node entry's; the browser condition does not offer it.
import { EncryptedContainerClient } from "@azure-cse/storage-blob";
import type * as blobWeb from "@azure-cse/storage-blob/web";
import type * as coreWeb from "@azure-cse/core-envelope/web";

export const sameAsWebEntries: [typeof blobWeb.downloadDecryptedBlob, typeof blobWeb.uploadEncryptedBlob, typeof coreWeb.webKeyFromJwk] = [downloadDecryptedBlob, uploadEncryptedBlob, webKeyFromJwk];
export const webClients = [WebEncryptedQueueClient, WebEncryptedTableClient] as const;
export const nodeOnly: unknown = EncryptedContainerClient;
