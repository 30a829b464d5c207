// One queue MessageText encrypted or decrypted with the Web Crypto backend: the envelope
// `{"EncryptedMessageContents": base64(C), "EncryptionData": {...}}` of the Node entry (src/envelope.ts,
// src/message.ts) and the other SDKs. Writes protocol 2.0 (one GCM region with .NET's nonce, like the Node
// entry); reads 2.0, 2.1 and 1.0. The envelope's key names, strict detection, serialization and base64 size math
// are src/shared/envelope-format.ts, shared with the Node entry; test/web.test.ts checks the entries against each other.
import {
  ClientSideEncryptionError,
  base64DecodeStrict,
  base64Encode,
  collectWebBytes,
  createWebContentEncryption,
  decryptWebCbc,
  decryptWebGcmRegions,
  parseEncryptionData,
  unwrapWebContentKey,
  webRandomBytes,
  type AbortSignalLike,
  type ClientSideEncryptionPolicy,
  type EncryptionProtocol,
} from "@azure-cse/core-envelope/web";
import { QUEUE_MESSAGE_MAX_LENGTH, base64Length, detectEnvelope, formatEnvelope, isEncryptedMessageText } from "../shared/envelope-format.js";

/** The service limit for a MessageText (64 KiB). */
export const WEB_QUEUE_MESSAGE_MAX_LENGTH = QUEUE_MESSAGE_MAX_LENGTH;
const REGION_OVERHEAD = 28;
const MAX_V2_MESSAGE = 4 * 1024 * 1024;
/** Longest EncryptionData part of an envelope read (core's 16 KiB metadata bound + the key names). */
const MAX_ENVELOPE_OVERHEAD = 16 * 1024 + 64;

/** How the payload becomes the encrypted bytes: "none" (UTF-8 / the bytes) or "base64" (Python's encode-then-encrypt). */
export type WebMessageEncoding = "none" | "base64";

export interface WebQueueEncryptOptions {
  messageEncoding?: WebMessageEncoding;
  /** Longest MessageText allowed; default 65536. */
  maxMessageLength?: number;
  abortSignal?: AbortSignalLike;
}

export interface WebQueueDecryptOptions {
  messageEncoding?: WebMessageEncoding;
  abortSignal?: AbortSignalLike;
}

export interface WebDecryptedQueueMessage {
  /** UTF-8 decoding of `messageBytes` (invalid sequences become U+FFFD). */
  messageText: string;
  messageBytes: Uint8Array;
  /** False only for a plaintext message read with `requireEncryption: false`. */
  encrypted: boolean;
  protocol?: EncryptionProtocol;
  keyId?: string;
}

const invalid = (m: string) => new ClientSideEncryptionError("INVALID_ARGUMENT", m);
const decryptionFailed = () => new ClientSideEncryptionError("DECRYPTION_FAILED", "Decryption failed.");
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function checkEncoding(e: unknown): WebMessageEncoding {
  if (e === undefined) return "none";
  if (e === "none" || e === "base64") return e;
  throw invalid('messageEncoding must be "none" or "base64".');
}

function payloadBytes(message: unknown): Uint8Array {
  if (typeof message === "string") return encoder.encode(message);
  if (message instanceof Uint8Array) return message;
  throw invalid("The message must be a string or a Uint8Array.");
}

/** Whether a MessageText is an encrypted-message envelope (strict rule). */
export function isWebEncryptedMessageText(messageText: string): boolean {
  return typeof messageText === "string" && isEncryptedMessageText(messageText);
}

interface GcmSubtle {
  importKey(format: "raw", key: Uint8Array<ArrayBuffer>, algorithm: { name: "AES-GCM" }, extractable: false, usages: ["encrypt"]): Promise<unknown>;
  encrypt(algorithm: { name: "AES-GCM"; iv: Uint8Array<ArrayBuffer>; tagLength: 128 }, key: unknown, data: Uint8Array<ArrayBuffer>): Promise<ArrayBuffer>;
}
const subtle = (): GcmSubtle => {
  const s = (globalThis as { crypto?: { subtle?: GcmSubtle } }).crypto?.subtle;
  if (!s) throw new ClientSideEncryptionError("UNSUPPORTED_OPERATION", "Web Crypto (crypto.subtle) is not available here (browsers need a secure context).");
  return s;
};

/** .NET's nonce for a message's single region: 4 zero bytes, then 1 as 8-byte little-endian (see the Node entry's QUEUE_V2_NONCE). */
function queueNonce(): Uint8Array<ArrayBuffer> {
  const n = new Uint8Array(12);
  n[4] = 1;
  return n;
}

/**
 * Encrypts one message into the MessageText to send with the official QueueClient's `sendMessage`: a fresh content
 * key per message, protocol 2.0 (the web backend writes no 1.0), the size checked against the 64 KiB limit
 * before anything is encrypted (PAYLOAD_TOO_LARGE).
 */
export async function encryptWebQueueMessage(message: string | Uint8Array, policy: ClientSideEncryptionPolicy, options: WebQueueEncryptOptions = {}): Promise<string> {
  if (typeof options !== "object" || options === null) throw invalid("options must be an object.");
  const payload = payloadBytes(message);
  const encoding = checkEncoding(options.messageEncoding);
  const limit = options.maxMessageLength ?? WEB_QUEUE_MESSAGE_MAX_LENGTH;
  if (!Number.isSafeInteger(limit) || limit <= 0) throw invalid("maxMessageLength must be a positive integer.");
  if (typeof policy !== "object" || policy === null) throw invalid("The encryption policy must be an object.");
  if ((policy.encryptionVersion ?? "2.0") !== "2.0") {
    throw new ClientSideEncryptionError("UNSUPPORTED_OPERATION", 'Queue messages are written with protocol "2.0" in the browser (no SDK writes 2.1 messages; the web backend writes no 1.0).');
  }
  const inner = encoding === "base64" ? encoder.encode(base64Encode(payload)) : payload;
  if (inner.length > MAX_V2_MESSAGE) throw new ClientSideEncryptionError("PAYLOAD_TOO_LARGE", `A protocol 2.0 message holds at most ${MAX_V2_MESSAGE} bytes (one region).`, { details: { payloadBytes: payload.length } });
  // The content key is taken from the policy's random source as createWebContentEncryption draws it (the first
  // 32 bytes), so one region can be sealed with .NET's message nonce rather than the blob nonces.
  let cek: Uint8Array | undefined;
  const random = policy.random ?? webRandomBytes;
  const ce = await createWebContentEncryption(
    {
      ...policy,
      random: (n: number) => {
        const b = Uint8Array.from(random(n));
        if (cek === undefined) cek = b.slice();
        return b;
      },
    },
    options.abortSignal ? { abortSignal: options.abortSignal } : {},
  );
  try {
    const dataJson = ce.toJson(false);
    const overhead = formatEnvelope("", dataJson).length;
    const envelopeLength = overhead + base64Length(inner.length + REGION_OVERHEAD);
    if (envelopeLength > limit) {
      const budget = Math.floor(Math.max(0, limit - overhead) / 4) * 3 - REGION_OVERHEAD;
      throw new ClientSideEncryptionError(
        "PAYLOAD_TOO_LARGE",
        `The encrypted message would be ${envelopeLength} characters, over the limit of ${limit}: it has ${payload.length} bytes, at most ${encoding === "base64" ? Math.floor(budget / 4) * 3 : budget} fit. Store large payloads in a blob and enqueue a reference.`,
        { details: { payloadBytes: payload.length, envelopeLength, limit } },
      );
    }
    const key = await subtle().importKey("raw", Uint8Array.from(cek!), { name: "AES-GCM" }, false, ["encrypt"]);
    const nonce = queueNonce();
    const sealed = new Uint8Array(await subtle().encrypt({ name: "AES-GCM", iv: nonce, tagLength: 128 }, key, Uint8Array.from(inner)));
    const c = new Uint8Array(12 + sealed.length);
    c.set(nonce);
    c.set(sealed, 12);
    return formatEnvelope(base64Encode(c), dataJson);
  } finally {
    cek?.fill(0);
    ce.dispose();
  }
}

function result(bytes: Uint8Array, encoding: WebMessageEncoding, data?: { protocol: EncryptionProtocol; keyId: string }): WebDecryptedQueueMessage {
  let messageBytes = bytes;
  if (encoding === "base64") {
    const decoded = base64DecodeStrict(decoder.decode(bytes));
    if (!decoded) throw decryptionFailed();
    messageBytes = decoded;
  }
  return { messageText: decoder.decode(messageBytes), messageBytes, encrypted: data !== undefined, ...(data ?? {}) };
}

/**
 * Decrypts one MessageText (from the official QueueClient's `receiveMessages` / `peekMessages`). Anything that is
 * not a strict envelope is ENCRYPTION_REQUIRED unless the policy sets `requireEncryption: false`; stored data
 * that does not decrypt is DECRYPTION_FAILED.
 */
export async function decryptWebQueueMessage(messageText: string, policy: ClientSideEncryptionPolicy, options: WebQueueDecryptOptions = {}): Promise<WebDecryptedQueueMessage> {
  if (typeof messageText !== "string") throw invalid("messageText must be a string.");
  if (typeof options !== "object" || options === null) throw invalid("options must be an object.");
  if (typeof policy !== "object" || policy === null) throw invalid("The encryption policy must be an object.");
  const encoding = checkEncoding(options.messageEncoding);
  const env = detectEnvelope(messageText);
  if (!env) {
    if (policy.requireEncryption ?? true) {
      throw new ClientSideEncryptionError("ENCRYPTION_REQUIRED", "The message is not encrypted; it was not returned because requireEncryption is on (set requireEncryption: false to read plaintext messages).");
    }
    return result(encoder.encode(messageText), encoding);
  }
  if (typeof env.encryptionData !== "object" || env.encryptionData === null || Array.isArray(env.encryptionData)) throw new ClientSideEncryptionError("INVALID_ENCRYPTION_DATA", "Invalid encryption metadata: EncryptionData is not a JSON object");
  if (typeof env.encryptedMessageContents !== "string") throw new ClientSideEncryptionError("INVALID_ENCRYPTION_DATA", "Invalid encryption metadata: EncryptedMessageContents is not a string");
  if (messageText.length - env.encryptedMessageContents.length > MAX_ENVELOPE_OVERHEAD) throw new ClientSideEncryptionError("INVALID_ENCRYPTION_DATA", "Invalid encryption metadata: EncryptionData is too long");
  const data = parseEncryptionData(JSON.stringify(env.encryptionData), policy.maxRegionSize !== undefined ? { maxRegionSize: policy.maxRegionSize } : {});
  const c = base64DecodeStrict(env.encryptedMessageContents);
  if (!c) throw new ClientSideEncryptionError("INVALID_ENCRYPTION_DATA", "Invalid encryption metadata: EncryptedMessageContents is not standard padded base64");
  const cek = await unwrapWebContentKey(data, policy, options.abortSignal ? { abortSignal: options.abortSignal } : {});
  try {
    let plain: Uint8Array;
    if (data.protocol === "1.0") {
      plain = await collectWebBytes(decryptWebCbc(c, cek, data.contentEncryptionIV, { unpad: true }));
    } else if (c.length === 0) {
      plain = new Uint8Array(0); // .NET may write an empty body as zero regions; the key was unwrapped above.
    } else {
      const R = data.encryptedRegionInfo.dataLength + REGION_OVERHEAD;
      // Python writes one region with a random nonce: the order check applies only to several regions.
      plain = await collectWebBytes(decryptWebGcmRegions(c, cek, data.encryptedRegionInfo.dataLength, { checkRegionOrder: c.length > R && !(policy.allowMisorderedRegions ?? false) }));
    }
    return result(plain, encoding, { protocol: data.protocol, keyId: data.wrappedContentKey.keyId });
  } finally {
    cek.fill(0);
  }
}
