// Public API of @azure-cse/data-tables/web: encrypted table entities (the legacy SDKs' protocol 1.0 format) in the
// browser with Web Crypto, written and read through the official @azure/data-tables browser build. No Node
// built-in and no Buffer.
export { ClientSideEncryptionError, type ClientSideEncryptionPolicy, type KeyEncryptionKey, type KeyResolver } from "@azure-cse/core-envelope/web";
export {
  encryptWebEntity,
  decryptWebEntity,
  WEB_METADATA1,
  WEB_METADATA2,
  type WebEncryptionResolver,
  type WebPropertySelection,
  type WebEntityRecord,
  type WebEncryptedEntity,
  type WebDecryptEntityOptions,
} from "./entity.js";
export {
  WebEncryptedTableClient,
  type WebTableClientLike,
  type WebTransactionAction,
  type WebUpdateKeyEncryptionKeyOptions,
  type WebUpdateKeyEncryptionKeyResult,
} from "./client.js";
