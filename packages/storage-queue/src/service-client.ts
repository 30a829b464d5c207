// EncryptedQueueServiceClient: hands the one shared policy (and queue options) down to every queue.
import { ClientSideEncryptionError, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { serviceCall } from "@azure-cse/core-envelope/internal";
import type { QueueServiceClient } from "@azure/storage-queue";
import { checkClaimCheckOptions } from "./claim-check.js";
import { EncryptedQueueClient, type EncryptedQueueClientOptions } from "./client.js";
import { checkMaxMessageLength, checkMessageEncoding } from "./message.js";
import { checkOptionsObject, describeValue, guardPolicy, invalidArgument } from "@azure-cse/core-envelope/internal";

/**
 * A storage account's queues under one client-side encryption policy. Composes an `@azure/storage-queue`
 * `QueueServiceClient` (any credential); `createQueueIfNotExists` creates a queue, other account operations (list,
 * delete queues, properties) are on `queueServiceClient`.
 */
export class EncryptedQueueServiceClient {
  readonly queueServiceClient: QueueServiceClient;
  /** The policy given to the constructor, handed unchanged to every queue client. */
  readonly policy: ClientSideEncryptionPolicy;
  readonly #options: EncryptedQueueClientOptions;

  constructor(queueServiceClient: QueueServiceClient, policy: ClientSideEncryptionPolicy, options: EncryptedQueueClientOptions = {}) {
    if (!queueServiceClient || typeof queueServiceClient.getQueueClient !== "function") {
      throw new ClientSideEncryptionError("INVALID_ARGUMENT", "EncryptedQueueServiceClient needs an @azure/storage-queue QueueServiceClient.");
    }
    guardPolicy(policy);
    checkOptionsObject(options);
    this.queueServiceClient = queueServiceClient;
    this.policy = policy;
    this.#options = { ...options };
    // Validate the shared options here rather than on the first getQueueClient.
    checkMessageEncoding(options.messageEncoding);
    checkMaxMessageLength(options.maxMessageLength);
    checkClaimCheckOptions(options.claimCheck);
  }

  get url(): string {
    return this.queueServiceClient.url;
  }

  /** An encrypted client for one queue: this client's policy, and its options overridden by `options`. */
  getQueueClient(queueName: string, options: EncryptedQueueClientOptions = {}): EncryptedQueueClient {
    if (typeof queueName !== "string" || queueName.length === 0) throw invalidArgument(`queueName must be a non-empty string; it is ${describeValue(queueName)}.`);
    checkOptionsObject(options);
    return new EncryptedQueueClient(this.queueServiceClient.getQueueClient(queueName), this.policy, { ...this.#options, ...options });
  }

  /**
   * Creates the queue if it does not exist (like the blob and table service clients' createContainerIfNotExists /
   * createTableIfNotExists) and returns its encrypted client. Service failures are typed (core's toTypedError).
   */
  async createQueueIfNotExists(queueName: string, options: EncryptedQueueClientOptions = {}): Promise<EncryptedQueueClient> {
    const client = this.getQueueClient(queueName, options);
    // No caller signal exists here: an AbortError can only be a response cut short (SERVICE_ERROR, retryable).
    await serviceCall({ queue: queueName }, () => client.queueClient.createIfNotExists(), { callerSignal: undefined });
    return client;
  }
}
