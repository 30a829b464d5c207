// A thin wrapper over the official QueueClient (browser or Node build): encrypts on send, decrypts on receive/peek.
import type { AbortSignalLike, ClientSideEncryptionPolicy } from "@azure-cse/core-envelope/web";
import { decryptWebQueueMessage, encryptWebQueueMessage, type WebDecryptedQueueMessage, type WebMessageEncoding } from "./message.js";

/** What the wrapper uses of `QueueClient` from @azure/storage-queue. */
export interface WebQueueClientLike {
  sendMessage(messageText: string, options?: { visibilityTimeout?: number; messageTimeToLive?: number; abortSignal?: AbortSignalLike }): Promise<{ messageId: string; popReceipt: string }>;
  receiveMessages(options?: { numberOfMessages?: number; visibilityTimeout?: number; abortSignal?: AbortSignalLike }): Promise<{
    receivedMessageItems: { messageId: string; popReceipt: string; dequeueCount: number; messageText: string }[];
  }>;
  peekMessages(options?: { numberOfMessages?: number; abortSignal?: AbortSignalLike }): Promise<{ peekedMessageItems: { messageId: string; dequeueCount: number; messageText: string }[] }>;
  deleteMessage(messageId: string, popReceipt: string, options?: { abortSignal?: AbortSignalLike }): Promise<unknown>;
}

export interface WebReceivedQueueMessage extends WebDecryptedQueueMessage {
  messageId: string;
  /** Absent for peeked messages. */
  popReceipt?: string;
  dequeueCount: number;
}

export class WebEncryptedQueueClient {
  constructor(
    readonly queue: WebQueueClientLike,
    readonly policy: ClientSideEncryptionPolicy,
    readonly options: { messageEncoding?: WebMessageEncoding } = {},
  ) {}

  /** Encrypts and sends one message (a fresh content key each). */
  async sendMessage(message: string | Uint8Array, options: { visibilityTimeout?: number; messageTimeToLive?: number; abortSignal?: AbortSignalLike } = {}): Promise<{ messageId: string; popReceipt: string }> {
    const text = await encryptWebQueueMessage(message, this.policy, { ...this.options, ...(options.abortSignal ? { abortSignal: options.abortSignal } : {}) });
    const r = await this.queue.sendMessage(text, options);
    return { messageId: r.messageId, popReceipt: r.popReceipt };
  }

  /** Receives and decrypts; a message that does not decrypt rejects the call (it stays in the queue until its visibility timeout). */
  async receiveMessages(options: { numberOfMessages?: number; visibilityTimeout?: number; abortSignal?: AbortSignalLike } = {}): Promise<WebReceivedQueueMessage[]> {
    const r = await this.queue.receiveMessages(options);
    const out: WebReceivedQueueMessage[] = [];
    for (const m of r.receivedMessageItems) {
      const d = await decryptWebQueueMessage(m.messageText, this.policy, this.options);
      out.push({ ...d, messageId: m.messageId, popReceipt: m.popReceipt, dequeueCount: m.dequeueCount });
    }
    return out;
  }

  async peekMessages(options: { numberOfMessages?: number; abortSignal?: AbortSignalLike } = {}): Promise<WebReceivedQueueMessage[]> {
    const r = await this.queue.peekMessages(options);
    const out: WebReceivedQueueMessage[] = [];
    for (const m of r.peekedMessageItems) out.push({ ...(await decryptWebQueueMessage(m.messageText, this.policy, this.options)), messageId: m.messageId, dequeueCount: m.dequeueCount });
    return out;
  }

  deleteMessage(messageId: string, popReceipt: string): Promise<unknown> {
    return this.queue.deleteMessage(messageId, popReceipt);
  }
}
