// EncryptedQueueClient: composes an @azure/storage-queue QueueClient; encrypts on send/update, decrypts on
// receive/peek with per-message failures.
import { ClientSideEncryptionError, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import type {
  PeekedMessageItem,
  QueueClient,
  QueueDeleteMessageOptions,
  QueueDeleteMessageResponse,
  QueuePeekMessagesOptions,
  QueueReceiveMessageOptions,
  QueueSendMessageOptions,
  QueueSendMessageResponse,
  QueueUpdateMessageOptions,
  QueueUpdateMessageResponse,
  ReceivedMessageItem,
} from "@azure/storage-queue";
import {
  checkClaimCheckOptions,
  deletePayload,
  formatPointer,
  newClaimCheckName,
  parsePointer,
  putPayload,
  resolvePointer,
  type ClaimCheckOptions,
  type ClaimCheckReference,
  type ClaimCheckStoreOptions,
  type ResolvedClaimCheck,
} from "./claim-check.js";
import { plaintextBudget, type MessageEncoding } from "./envelope.js";
import { checkOptionsObject, describeValue, guardPolicy, invalidArgument, serviceCall } from "@azure-cse/core-envelope/internal";
import {
  checkMaxMessageLength,
  checkMessageEncoding,
  payloadBytes,
  decryptQueueMessage,
  encryptQueueMessage,
  type DecryptedQueueMessage,
  type QueueMessageDecryptOptions,
  type QueueMessageEncryptOptions,
} from "./message.js";

/** Queue-specific settings; the encryption policy itself is the shared `ClientSideEncryptionPolicy`. */
export interface EncryptedQueueClientOptions {
  /** `"none"` (default, every SDK) or `"base64"` (Python's TextBase64/BinaryBase64 encode policies). */
  messageEncoding?: MessageEncoding;
  /** Longest MessageText the client sends; default 65536, the service limit. */
  maxMessageLength?: number;
  /**
   * Opt-in claim check: payloads that do not fit in one message (or exceed `thresholdBytes`) are put into
   * `store` and a small encrypted pointer message is sent; receive and peek resolve pointers transparently.
   */
  claimCheck?: ClaimCheckOptions;
}

/** The service response, plus the stored payload's reference when the message went through the claim check. */
export type EncryptedQueueSendMessageResponse = QueueSendMessageResponse & { claimCheck?: ClaimCheckReference };

/** The service response, plus the stored payload's reference when the new content went through the claim check. */
export type EncryptedQueueUpdateMessageResponse = QueueUpdateMessageResponse & {
  claimCheck?: ClaimCheckReference;
  /**
   * With `previousClaimCheckName`: whether that payload was deleted after the update. A failed deletion does not
   * fail the update (the response carries the new pop receipt); the payload is then left in the store and `error`
   * says why.
   */
  previousClaimCheck?: { name: string; deleted: true } | { name: string; deleted: false; error: ClientSideEncryptionError };
};

/** `updateMessage` options: with `previousClaimCheckName`, the replaced content's claim-check payload is deleted. */
export interface EncryptedQueueUpdateMessageOptions extends QueueUpdateMessageOptions {
  /**
   * `claimCheck.name` of the message being replaced (the received item's): once the new content is in place, that
   * payload is deleted from the store, so replacing a claim-checked message leaves no orphan. Only with new content.
   */
  previousClaimCheckName?: string;
}

/** `deleteMessage` options: with `claimCheckName`, the claim-check payload is deleted after the message. */
export interface EncryptedQueueDeleteMessageOptions extends QueueDeleteMessageOptions {
  /** `claimCheck.name` of the received item: its payload is deleted from the store once the message is deleted. */
  claimCheckName?: string;
}

/** A received message, decrypted. `messageText` replaces the stored envelope. */
export interface DecryptedReceivedMessageItem extends Omit<ReceivedMessageItem, "messageText">, DecryptedQueueMessage {}

/** A peeked message, decrypted. */
export interface DecryptedPeekedMessageItem extends Omit<PeekedMessageItem, "messageText">, DecryptedQueueMessage {}

/**
 * A message of a batch that could not be delivered: not encrypted while encryption is required, malformed
 * metadata, unknown key, or failed authentication. It stays in the queue (receive made it invisible until its
 * visibility timeout); `popReceipt` lets the caller delete it or move it to a poison queue.
 */
export interface QueueMessageFailure {
  messageId: string;
  /** Present for received messages (not for peeked ones). */
  popReceipt?: string;
  dequeueCount: number;
  insertedOn: Date;
  expiresOn: Date;
  nextVisibleOn?: Date;
  /** The typed reason; its message never contains key material or plaintext. */
  error: ClientSideEncryptionError;
}

interface ResponseHeaders {
  requestId?: string;
  clientRequestId?: string;
  version?: string;
  date?: Date;
}

/** Response of `receiveMessages`: every message of the batch is in exactly one of the two lists. */
export interface EncryptedQueueReceiveMessageResponse extends ResponseHeaders {
  receivedMessageItems: DecryptedReceivedMessageItem[];
  failures: QueueMessageFailure[];
}

/** Response of `peekMessages`: every message of the batch is in exactly one of the two lists. */
export interface EncryptedQueuePeekMessagesResponse extends ResponseHeaders {
  peekedMessageItems: DecryptedPeekedMessageItem[];
  failures: QueueMessageFailure[];
}

function headers(r: ResponseHeaders): ResponseHeaders {
  return { requestId: r.requestId, clientRequestId: r.clientRequestId, version: r.version, date: r.date };
}

/**
 * Client-side encrypted queue messages over an `@azure/storage-queue` `QueueClient`, byte-compatible with the
 * .NET and Python SDKs (spec queue-table-keys-format §1). Sending always encrypts; there is no plaintext path.
 * Operations without message content (create, delete queue, clear, properties) are on `queueClient`.
 *
 * Service failures of its calls are typed by core's one mapping (as for blobs and tables): a missing queue is
 * `NOT_FOUND`, a 412 `CONDITION_NOT_MET`, other HTTP statuses and socket failures `SERVICE_ERROR` (`details.statusCode`,
 * `details.errorCode`), an abort of the caller's `abortSignal` `ABORTED`; `details` names the queue (and the
 * message id), and the SDK's `RestError` is the `cause`.
 */
export class EncryptedQueueClient {
  readonly queueClient: QueueClient;
  readonly policy: ClientSideEncryptionPolicy;
  readonly messageEncoding: MessageEncoding;
  readonly maxMessageLength: number;
  readonly #claimCheck: ResolvedClaimCheck | undefined;

  constructor(queueClient: QueueClient, policy: ClientSideEncryptionPolicy, options: EncryptedQueueClientOptions = {}) {
    if (!queueClient || typeof queueClient.sendMessage !== "function") {
      throw new ClientSideEncryptionError("INVALID_ARGUMENT", "EncryptedQueueClient needs an @azure/storage-queue QueueClient.");
    }
    guardPolicy(policy);
    checkOptionsObject(options);
    this.queueClient = queueClient;
    this.policy = policy;
    this.messageEncoding = checkMessageEncoding(options.messageEncoding);
    this.maxMessageLength = checkMaxMessageLength(options.maxMessageLength);
    this.#claimCheck = checkClaimCheckOptions(options.claimCheck);
  }

  /** Whether claim checks are on (a store is configured). */
  get claimCheckEnabled(): boolean {
    return this.#claimCheck !== undefined;
  }

  get name(): string {
    return this.queueClient.name;
  }

  /** One service call, its failure typed (core's toTypedError) with the queue (and message id) in details. */
  #call<T>(fn: () => Promise<T>, abortSignal: { readonly aborted: boolean } | undefined, messageId?: string): Promise<T> {
    return serviceCall({ queue: this.queueClient.name, ...(messageId !== undefined ? { messageId } : {}) }, fn, { callerSignal: abortSignal });
  }

  get url(): string {
    return this.queueClient.url;
  }

  /** Encrypts a message into the MessageText to enqueue (for callers that move messages through other channels). */
  async encryptMessageText(message: string | Uint8Array, options: Omit<QueueMessageEncryptOptions, "messageEncoding" | "maxMessageLength"> = {}): Promise<string> {
    checkOptionsObject(options);
    return encryptQueueMessage(message, this.policy, { ...options, messageEncoding: this.messageEncoding, maxMessageLength: this.maxMessageLength });
  }

  /**
   * Decrypts one raw MessageText, e.g. what an Azure Functions queue trigger hands over. Throws a typed error
   * (ENCRYPTION_REQUIRED for plaintext unless the policy allows it, DECRYPTION_FAILED, KEY_NOT_FOUND, ...).
   */
  async decryptMessageText(messageText: string, options: Omit<QueueMessageDecryptOptions, "messageEncoding"> = {}): Promise<DecryptedQueueMessage> {
    checkOptionsObject(options);
    const d = await decryptQueueMessage(messageText, this.policy, { ...options, messageEncoding: this.messageEncoding });
    // Only an encrypted (authenticated) pointer is followed; plaintext that looks like one is returned as is.
    if (!d.encrypted) return d;
    const pointer = parsePointer(d.messageBytes);
    if (!pointer) return d;
    const payload = await resolvePointer(this.#claimCheck, pointer, { abortSignal: options.abortSignal });
    return { ...d, messageBytes: payload, messageText: payload.toString("utf8"), claimCheck: { name: pointer.name, size: pointer.size } };
  }

  /**
   * Encrypts with a fresh content key and enqueues. Without a claim check it refuses (PAYLOAD_TOO_LARGE) before
   * sending when the envelope would exceed the limit; with one, such payloads go to the store and an encrypted
   * pointer is sent (`claimCheck` in the response names the stored payload).
   */
  async sendMessage(message: string | Uint8Array, options: QueueSendMessageOptions = {}): Promise<EncryptedQueueSendMessageResponse> {
    payloadBytes(message);
    checkOptionsObject(options);
    const prepared = await this.#prepare(message, options.abortSignal);
    try {
      const res: EncryptedQueueSendMessageResponse = await this.#call(() => this.queueClient.sendMessage(prepared.text, options), options.abortSignal);
      if (prepared.claimCheck) res.claimCheck = prepared.claimCheck;
      return res;
    } catch (e) {
      await prepared.discard();
      throw e;
    }
  }

  /** The MessageText to send: the encrypted payload, or (claim check) an encrypted pointer to the stored payload. */
  async #prepare(message: string | Uint8Array, abortSignal: ClaimCheckStoreOptions["abortSignal"]): Promise<{ text: string; claimCheck?: ClaimCheckReference; discard: () => Promise<void> }> {
    const noop = async () => {};
    const cc = this.#claimCheck;
    if (!cc) return { text: await this.encryptMessageText(message, { abortSignal }), discard: noop };
    const payload = payloadBytes(message);
    const protocol = (this.policy.encryptionVersion ?? "2.0") === "1.0" ? "1.0" : "2.0";
    // Upper bound of what one message can hold (no envelope overhead counted): above it, skip the attempt.
    const cannotFit = payload.length > plaintextBudget(protocol, this.messageEncoding, 0, this.maxMessageLength);
    if (!cannotFit && (cc.thresholdBytes === undefined || payload.length <= cc.thresholdBytes)) {
      try {
        return { text: await this.encryptMessageText(payload, { abortSignal }), discard: noop };
      } catch (e) {
        if (!ClientSideEncryptionError.hasCode(e, "PAYLOAD_TOO_LARGE")) throw e;
      }
    }
    const name = newClaimCheckName(cc);
    // The pointer is encrypted before the payload is stored, so a policy error leaves nothing behind.
    const text = await this.encryptMessageText(formatPointer(name, payload), { abortSignal });
    await putPayload(cc, name, payload, { abortSignal });
    return {
      text,
      claimCheck: { name, size: payload.length },
      // Best effort: the message was not enqueued, so its payload is garbage. The send error is what matters.
      discard: () => deletePayload(cc, name, {}).catch(() => undefined),
    };
  }

  /** Dequeues and decrypts. Messages that cannot be delivered are listed in `failures` with their id; the others are returned. */
  async receiveMessages(options: QueueReceiveMessageOptions = {}): Promise<EncryptedQueueReceiveMessageResponse> {
    checkOptionsObject(options);
    checkBatchOptions(options);
    const response = await this.#call(() => this.queueClient.receiveMessages(options), options.abortSignal);
    const { items, failures } = await this.#decryptBatch(response.receivedMessageItems, options, (item, error) => ({
      messageId: item.messageId,
      popReceipt: item.popReceipt,
      dequeueCount: item.dequeueCount,
      insertedOn: item.insertedOn,
      expiresOn: item.expiresOn,
      nextVisibleOn: item.nextVisibleOn,
      error,
    }));
    return { ...headers(response), receivedMessageItems: items, failures };
  }

  /** Peeks and decrypts (visibility unchanged). Same failure reporting as `receiveMessages`. */
  async peekMessages(options: QueuePeekMessagesOptions = {}): Promise<EncryptedQueuePeekMessagesResponse> {
    checkOptionsObject(options);
    checkBatchOptions(options);
    const response = await this.#call(() => this.queueClient.peekMessages(options), options.abortSignal);
    const { items, failures } = await this.#decryptBatch(response.peekedMessageItems, options, (item, error) => ({
      messageId: item.messageId,
      dequeueCount: item.dequeueCount,
      insertedOn: item.insertedOn,
      expiresOn: item.expiresOn,
      error,
    }));
    return { ...headers(response), peekedMessageItems: items, failures };
  }

  /**
   * Updates a message. With new content it is encrypted with a fresh content key; with `message` undefined only
   * the visibility timeout changes and the stored body is left untouched (no encryption, no body sent).
   */
  async updateMessage(
    messageId: string,
    popReceipt: string,
    message?: string | Uint8Array,
    visibilityTimeout?: number,
    options: EncryptedQueueUpdateMessageOptions = {},
  ): Promise<EncryptedQueueUpdateMessageResponse> {
    checkMessageRef(messageId, popReceipt);
    if (message !== undefined) payloadBytes(message);
    if (visibilityTimeout !== undefined && !(typeof visibilityTimeout === "number" && Number.isSafeInteger(visibilityTimeout) && visibilityTimeout >= 0)) {
      throw invalidArgument(`visibilityTimeout must be a non-negative integer number of seconds; it is ${describeValue(visibilityTimeout)}.`);
    }
    checkOptionsObject(options);
    const { previousClaimCheckName, ...rest } = options;
    if (previousClaimCheckName !== undefined) {
      this.#checkClaimCheckName(previousClaimCheckName, "previousClaimCheckName");
      if (message === undefined) {
        throw new ClientSideEncryptionError("INVALID_ARGUMENT", "previousClaimCheckName needs new message content: a visibility-only update keeps the payload in use.");
      }
    }
    if (message === undefined) return this.#call(() => this.queueClient.updateMessage(messageId, popReceipt, undefined, visibilityTimeout, rest), rest.abortSignal, messageId);
    const prepared = await this.#prepare(message, rest.abortSignal);
    let res: EncryptedQueueUpdateMessageResponse;
    try {
      res = await this.#call(() => this.queueClient.updateMessage(messageId, popReceipt, prepared.text, visibilityTimeout, rest), rest.abortSignal, messageId);
      if (prepared.claimCheck) res.claimCheck = prepared.claimCheck;
    } catch (e) {
      await prepared.discard();
      throw e;
    }
    // The old payload goes only after the new content is in place, and never the payload just written.
    if (previousClaimCheckName !== undefined && previousClaimCheckName !== prepared.claimCheck?.name) {
      try {
        await deletePayload(this.#claimCheck, previousClaimCheckName, { abortSignal: rest.abortSignal });
        res.previousClaimCheck = { name: previousClaimCheckName, deleted: true };
      } catch (e) {
        const error = ClientSideEncryptionError.is(e) ? e : new ClientSideEncryptionError("SERVICE_ERROR", "Deleting the previous claim-check payload failed.", { cause: e, details: { claimCheckName: previousClaimCheckName } });
        res.previousClaimCheck = { name: previousClaimCheckName, deleted: false, error };
      }
    }
    return res;
  }

  #checkClaimCheckName(name: unknown, option: string): void {
    if (typeof name !== "string" || name.length === 0) throw invalidArgument(`${option} must be a non-empty string; it is ${describeValue(name)}.`);
    if (!this.#claimCheck) throw new ClientSideEncryptionError("INVALID_ARGUMENT", `${option} was given, but this client has no claimCheck store configured.`);
  }

  /**
   * Deletes a message. With `claimCheckName` (the received item's `claimCheck.name`), the payload is deleted from
   * the store after the message, so a failure never leaves a message whose payload is gone.
   */
  async deleteMessage(messageId: string, popReceipt: string, options: EncryptedQueueDeleteMessageOptions = {}): Promise<QueueDeleteMessageResponse> {
    checkMessageRef(messageId, popReceipt);
    checkOptionsObject(options);
    const { claimCheckName, ...rest } = options;
    if (claimCheckName !== undefined) this.#checkClaimCheckName(claimCheckName, "claimCheckName");
    const res = await this.#call(() => this.queueClient.deleteMessage(messageId, popReceipt, rest), rest.abortSignal, messageId);
    if (claimCheckName !== undefined) await deletePayload(this.#claimCheck, claimCheckName, { abortSignal: rest.abortSignal });
    return res;
  }

  async #decryptBatch<T extends { messageText: string; messageId: string }>(
    raw: T[],
    options: { abortSignal?: QueueMessageDecryptOptions["abortSignal"] },
    failure: (item: T, error: ClientSideEncryptionError) => QueueMessageFailure,
  ): Promise<{ items: (Omit<T, "messageText"> & DecryptedQueueMessage)[]; failures: QueueMessageFailure[] }> {
    const outcomes = await Promise.all(
      raw.map(async (item) => {
        try {
          // A message without text (never sent by this library) reads like the empty message.
          const text = typeof item.messageText === "string" ? item.messageText : "";
          const d = await this.decryptMessageText(text, { abortSignal: options.abortSignal });
          const { messageText: _stored, ...rest } = item;
          return { ok: { ...rest, ...d } };
        } catch (e) {
          // An abort ends the whole call; anything else fails only this message.
          if (ClientSideEncryptionError.hasCode(e, "ABORTED")) throw e;
          const error = ClientSideEncryptionError.is(e)
            ? e
            : new ClientSideEncryptionError("KEY_OPERATION_FAILED", "Decrypting the message failed for an operational reason.", { cause: e });
          return { failed: failure(item, withMessageId(error, item)) };
        }
      }),
    );
    const items: (Omit<T, "messageText"> & DecryptedQueueMessage)[] = [];
    const failures: QueueMessageFailure[] = [];
    for (const o of outcomes) {
      if (o.ok) items.push(o.ok);
      else if (o.failed) failures.push(o.failed);
    }
    return { items, failures };
  }
}

/** `numberOfMessages` (1–32) and `visibilityTimeout` (seconds), checked before the request. */
function checkBatchOptions(options: { numberOfMessages?: unknown; visibilityTimeout?: unknown }): void {
  const n = options.numberOfMessages;
  if (n !== undefined && !(typeof n === "number" && Number.isInteger(n) && n >= 1 && n <= 32)) {
    throw invalidArgument(`numberOfMessages must be an integer from 1 to 32; it is ${describeValue(n)}${typeof n === "number" ? ` (${n})` : ""}.`);
  }
  const v = options.visibilityTimeout;
  if (v !== undefined && !(typeof v === "number" && Number.isSafeInteger(v) && v >= 0)) {
    throw invalidArgument(`visibilityTimeout must be a non-negative integer number of seconds; it is ${describeValue(v)}.`);
  }
}

function checkMessageRef(messageId: unknown, popReceipt: unknown): void {
  if (typeof messageId !== "string" || messageId.length === 0) throw invalidArgument(`messageId must be a non-empty string; it is ${describeValue(messageId)}.`);
  if (typeof popReceipt !== "string" || popReceipt.length === 0) throw invalidArgument(`popReceipt must be a non-empty string; it is ${describeValue(popReceipt)}.`);
}

/** The same error with the message id added to its details (messages stay identical; no secrets added). */
function withMessageId(e: ClientSideEncryptionError, item: { messageId?: string }): ClientSideEncryptionError {
  if (item.messageId === undefined || e.details.messageId !== undefined) return e;
  return new ClientSideEncryptionError(e.code, e.message, { cause: e.cause, details: { ...e.details, messageId: item.messageId } });
}
