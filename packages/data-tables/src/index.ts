// Public API of @azure-cse/data-tables. Everything exported here is deliberate.
export {
  EncryptedTableClient,
  type EncryptedTableClientOptions,
  type EncryptedWriteOptions,
  type EncryptedUpdateOptions,
  type EncryptedEntityIterator,
  type UpdateKeyEncryptionKeyOptions,
  type UpdateKeyEncryptionKeyResponse,
} from "./client.js";
export { EncryptedTableServiceClient, type EncryptedTableServiceClientOptions } from "./service-client.js";
export {
  encryptEntity,
  decryptEntity,
  selectProperties,
  type EncryptionResolver,
  type PropertySelection,
  type EntityRecord,
  type EncryptedEntity,
  type DecryptEntityOptions,
} from "./entity-crypto.js";
export {
  METADATA1,
  METADATA2,
  MAX_USER_PROPERTIES,
  MAX_ENTITY_SIZE,
  MAX_PROPERTY_VALUE_SIZE,
  derivePropertyIv,
  formatNameList,
  parseNameList,
  estimateEntitySize,
  isEncryptableName,
} from "./format.js";
export { entityFromODataJson, entityToODataJson } from "./odata.js";
