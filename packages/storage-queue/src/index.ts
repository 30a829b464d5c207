// Public API of @azure-cse/storage-queue. Everything exported here is deliberate.
export {
  EncryptedQueueClient,
  type EncryptedQueueClientOptions,
  type DecryptedReceivedMessageItem,
  type DecryptedPeekedMessageItem,
  type QueueMessageFailure,
  type EncryptedQueueReceiveMessageResponse,
  type EncryptedQueuePeekMessagesResponse,
  type EncryptedQueueSendMessageResponse,
  type EncryptedQueueUpdateMessageResponse,
  type EncryptedQueueDeleteMessageOptions,
  type EncryptedQueueUpdateMessageOptions,
} from "./client.js";
export { EncryptedQueueServiceClient } from "./service-client.js";
export {
  CLAIM_CHECK_POINTER_KEY,
  CLAIM_CHECK_POINTER_VERSION,
  type ClaimCheckStore,
  type ClaimCheckStoreOptions,
  type ClaimCheckOptions,
  type ClaimCheckReference,
} from "./claim-check.js";
export {
  encryptQueueMessage,
  decryptQueueMessage,
  QUEUE_V2_NONCE,
  type DecryptedQueueMessage,
  type QueueMessageEncryptOptions,
  type QueueMessageDecryptOptions,
} from "./message.js";
export {
  isEncryptedMessageText,
  plaintextBudget,
  QUEUE_MESSAGE_MAX_LENGTH,
  ENCRYPTED_MESSAGE_CONTENTS_KEY,
  ENCRYPTION_DATA_KEY,
  type MessageEncoding,
} from "./envelope.js";
