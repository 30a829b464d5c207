// Public API of @azure-cse/storage-queue/web: encrypted queue messages in the browser with the Web Crypto backend
// (@azure-cse/core-envelope/web), sent and received through the official @azure/storage-queue browser build.
// No Node built-in and no Buffer. Same envelope as the Node entry and the other SDKs.
export { ClientSideEncryptionError, type ClientSideEncryptionPolicy, type KeyEncryptionKey, type KeyResolver } from "@azure-cse/core-envelope/web";
export {
  encryptWebQueueMessage,
  decryptWebQueueMessage,
  isWebEncryptedMessageText,
  WEB_QUEUE_MESSAGE_MAX_LENGTH,
  type WebMessageEncoding,
  type WebQueueEncryptOptions,
  type WebQueueDecryptOptions,
  type WebDecryptedQueueMessage,
} from "./message.js";
export { WebEncryptedQueueClient, type WebQueueClientLike, type WebReceivedQueueMessage, type WebUpdateMessageResult } from "./client.js";
