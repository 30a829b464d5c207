// A thin wrapper over the official QueueClient (browser or Node build): encrypts on send, decrypts on receive/peek.
import { ClientSideEncryptionError, toTypedError, type AbortSignalLike, type ClientSideEncryptionPolicy, type ServiceErrorContext } from "@azure-cse/core-envelope/web";
import { decryptWebQueueMessage, encryptWebQueueMessage, type WebDecryptedQueueMessage, type WebMessageEncoding } from "./message.js";

/** What the wrapper uses of `QueueClient` from @azure/storage-queue. */
export interface WebQueueClientLike {
  sendMessage(messageText: string, options?: { visibilityTimeout?: number; messageTimeToLive?: number; abortSignal?: AbortSignalLike }): Promise<{ messageId: string; popReceipt: string }>;
  receiveMessages(options?: { numberOfMessages?: number; visibilityTimeout?: number; abortSignal?: AbortSignalLike }): Promise<{
    receivedMessageItems: { messageId: string; popReceipt: string; dequeueCount: number; messageText: string }[];
  }>;
  peekMessages(options?: { numberOfMessages?: number; abortSignal?: AbortSignalLike }): Promise<{ peekedMessageItems: { messageId: string; dequeueCount: number; messageText: string }[] }>;
  deleteMessage(messageId: string, popReceipt: string, options?: { abortSignal?: AbortSignalLike }): Promise<unknown>;
  /** Used by `updateMessage` (optional so that older shapes still fit the other methods). */
  updateMessage?(
    messageId: string,
    popReceipt: string,
    message?: string,
    visibilityTimeout?: number,
    options?: { abortSignal?: AbortSignalLike },
  ): Promise<{ popReceipt?: string; nextVisibleOn?: Date }>;
  /** Used by `clearMessages`. */
  clearMessages?(options?: { abortSignal?: AbortSignalLike }): Promise<unknown>;
}

/** What `updateMessage` returns: the new pop receipt (the old one is no longer valid) and when the message is visible again. */
export interface WebUpdateMessageResult {
  popReceipt: string | undefined;
  nextVisibleOn: Date | undefined;
}

export interface WebReceivedQueueMessage extends WebDecryptedQueueMessage {
  messageId: string;
  /** Absent for peeked messages. */
  popReceipt?: string;
  dequeueCount: number;
}

const invalid = (m: string) => new ClientSideEncryptionError("INVALID_ARGUMENT", m);

function checkMessageRef(messageId: unknown, popReceipt: unknown): void {
  if (typeof messageId !== "string" || messageId.length === 0) throw invalid("messageId must be a non-empty string.");
  if (typeof popReceipt !== "string" || popReceipt.length === 0) throw invalid("popReceipt must be a non-empty string.");
}

export class WebEncryptedQueueClient {
  /** Runs a queue request; failures become core's typed errors (the queue named, the caller's signal decides ABORTED). */
  async #call<T>(request: () => Promise<T>, signal: AbortSignalLike | undefined, extra: ServiceErrorContext = {}): Promise<T> {
    try {
      return await request();
    } catch (e) {
      const queue = (this.queue as { name?: unknown }).name;
      throw toTypedError(e, { queue: typeof queue === "string" ? queue : "", ...extra }, { callerSignal: signal });
    }
  }

  constructor(
    readonly queue: WebQueueClientLike,
    readonly policy: ClientSideEncryptionPolicy,
    readonly options: { messageEncoding?: WebMessageEncoding } = {},
  ) {}

  /** Encrypts and sends one message (a fresh content key each). */
  async sendMessage(message: string | Uint8Array, options: { visibilityTimeout?: number; messageTimeToLive?: number; abortSignal?: AbortSignalLike } = {}): Promise<{ messageId: string; popReceipt: string }> {
    const text = await encryptWebQueueMessage(message, this.policy, { ...this.options, ...(options.abortSignal ? { abortSignal: options.abortSignal } : {}) });
    const r = await this.#call(() => this.queue.sendMessage(text, options), options.abortSignal);
    return { messageId: r.messageId, popReceipt: r.popReceipt };
  }

  /** Receives and decrypts; a message that does not decrypt rejects the call (it stays in the queue until its visibility timeout). */
  async receiveMessages(options: { numberOfMessages?: number; visibilityTimeout?: number; abortSignal?: AbortSignalLike } = {}): Promise<WebReceivedQueueMessage[]> {
    const r = await this.#call(() => this.queue.receiveMessages(options), options.abortSignal);
    const out: WebReceivedQueueMessage[] = [];
    for (const m of r.receivedMessageItems) {
      const d = await decryptWebQueueMessage(m.messageText, this.policy, this.options);
      out.push({ ...d, messageId: m.messageId, popReceipt: m.popReceipt, dequeueCount: m.dequeueCount });
    }
    return out;
  }

  async peekMessages(options: { numberOfMessages?: number; abortSignal?: AbortSignalLike } = {}): Promise<WebReceivedQueueMessage[]> {
    const r = await this.#call(() => this.queue.peekMessages(options), options.abortSignal);
    const out: WebReceivedQueueMessage[] = [];
    for (const m of r.peekedMessageItems) out.push({ ...(await decryptWebQueueMessage(m.messageText, this.policy, this.options)), messageId: m.messageId, dequeueCount: m.dequeueCount });
    return out;
  }

  deleteMessage(messageId: string, popReceipt: string, options: { abortSignal?: AbortSignalLike } = {}): Promise<unknown> {
    checkMessageRef(messageId, popReceipt);
    return this.#call(() => this.queue.deleteMessage(messageId, popReceipt, options), options.abortSignal, { messageId });
  }

  /**
   * Updates a received message, like the Node client's `updateMessage`: new content is encrypted with a fresh
   * content key (never the old one); with `message` undefined only the visibility timeout changes and the stored
   * envelope is left untouched (nothing is encrypted, no body is sent). Returns the new pop receipt.
   */
  async updateMessage(
    messageId: string,
    popReceipt: string,
    message?: string | Uint8Array,
    visibilityTimeout?: number,
    options: { abortSignal?: AbortSignalLike } = {},
  ): Promise<WebUpdateMessageResult> {
    checkMessageRef(messageId, popReceipt);
    if (message !== undefined && typeof message !== "string" && !(message instanceof Uint8Array)) throw invalid("The message must be a string, a Uint8Array or undefined.");
    if (visibilityTimeout !== undefined && !(typeof visibilityTimeout === "number" && Number.isSafeInteger(visibilityTimeout) && visibilityTimeout >= 0)) {
      throw invalid("visibilityTimeout must be a non-negative integer number of seconds.");
    }
    if (typeof options !== "object" || options === null) throw invalid("options must be an object.");
    if (typeof this.queue.updateMessage !== "function") throw invalid("The queue client has no updateMessage (pass the official QueueClient).");
    const callOptions = options.abortSignal ? { abortSignal: options.abortSignal } : {};
    const text = message === undefined ? undefined : await encryptWebQueueMessage(message, this.policy, { ...this.options, ...callOptions });
    const r = await this.#call(() => this.queue.updateMessage!(messageId, popReceipt, text, visibilityTimeout, callOptions), options.abortSignal, { messageId });
    return { popReceipt: r.popReceipt, nextVisibleOn: r.nextVisibleOn };
  }

  /** Deletes every message of the queue (no encryption involved). */
  clearMessages(options: { abortSignal?: AbortSignalLike } = {}): Promise<unknown> {
    if (typeof this.queue.clearMessages !== "function") return Promise.reject(invalid("The queue client has no clearMessages (pass the official QueueClient)."));
    return this.#call(() => this.queue.clearMessages!(options), options.abortSignal);
  }
}
