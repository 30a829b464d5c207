// azcse queue commands: send/receive encrypted messages through the service, and offline
// encrypt-message/decrypt-message for messages moved through other channels.
import type { QueueClient } from "@azure/storage-queue";
import { ClientSideEncryptionError, type EncryptionProtocol } from "@azure-cse/core-envelope";
import { EncryptedQueueClient, decryptQueueMessage, encryptQueueMessage, type MessageEncoding } from "@azure-cse/storage-queue";
import {
  EXIT,
  actionableMessage,
  checkResourceName,
  decodingStoredData,
  defineCommand,
  OVERWRITE_FLAG,
  READ_FLAGS,
  readPolicyOptions,
  UsageError,
  type CommandDef,
  type FlagSpecs,
  type Io,
  type ParsedArgs,
} from "../framework.js";
import { queueOf as accountQueue, SERVICE_FLAGS } from "../account.js";
import { KEY_HELP, KEY_VAULT_FLAGS, policyFromKeys } from "../keys.js";
import { readInputFile, StagedOutputs } from "../files.js";

function protocolOf(a: ParsedArgs, io: Io): EncryptionProtocol {
  const p = a.get("protocol") ?? "2.0";
  if (p !== "2.0" && p !== "1.0") throw new UsageError("--protocol must be 2.0 or 1.0 (queue messages are never written as 2.1)");
  if (p === "1.0") io.stderr("azcse: warning: protocol 1.0 is deprecated and unauthenticated (CVE-2022-30187); use 2.0\n");
  return p;
}

function encodingOf(a: ParsedArgs): MessageEncoding {
  const e = a.get("encoding") ?? "none";
  if (e !== "none" && e !== "base64") throw new UsageError("--encoding must be none or base64");
  return e;
}

function queueOf(a: ParsedArgs): QueueClient {
  const [name, ...rest] = a.positionals;
  if (!name) throw new UsageError("the QUEUE name is required");
  if (rest.length) throw new UsageError(`unexpected argument ${rest[0]}`);
  checkResourceName("QUEUE", name);
  return accountQueue(a, name);
}

const serviceFlags = SERVICE_FLAGS;
const KEY: FlagSpecs = { key: { value: true, repeat: true, required: true, arg: "KEY", help: KEY_HELP } };
const PROTOCOL: FlagSpecs = { protocol: { value: true, arg: "2.0|1.0", help: "envelope protocol (default 2.0; 1.0 is deprecated and unauthenticated)" } };
const ENCODING: FlagSpecs = {
  encoding: { value: true, arg: "none|base64", help: "base64 = Python's TextBase64EncodePolicy/BinaryBase64EncodePolicy (encode, then encrypt); default none" },
};

export const commands: CommandDef[] = [
  defineCommand({
    path: ["queue", "send"],
    args: "QUEUE",
    summary: "Encrypts and enqueues one message.",
    flags: {
      text: { value: true, oneOf: "payload", required: true, arg: "T", help: "the message (UTF-8)" },
      in: { value: true, oneOf: "payload", required: true, arg: "FILE", help: "the message bytes from a file (- = standard input)" },
      ...KEY,
      ...PROTOCOL,
      ...ENCODING,
      "create-queue": { help: "create the queue when it does not exist" },
      ...KEY_VAULT_FLAGS,
      ...serviceFlags,
    },
    async run(a, io) {
      const payload = a.has("text") ? Buffer.from(a.get("text")!, "utf8") : await readInputFile("--in", a.get("in"));
      const protocol = protocolOf(a, io);
      const policy = policyFromKeys(a, { encryptionVersion: protocol, allowDeprecatedV1Encryption: protocol === "1.0" });
      const queue = queueOf(a);
      const client = new EncryptedQueueClient(queue, policy, { messageEncoding: encodingOf(a) });
      if (a.has("create-queue")) await queue.createIfNotExists();
      const sent = await client.sendMessage(payload);
      io.stdout(JSON.stringify({ id: sent.messageId, protocol, plaintextBytes: payload.length }) + "\n");
      return EXIT.ok;
    },
  }),
  defineCommand({
    path: ["queue", "receive"],
    args: "QUEUE",
    summary: "Receives (or peeks) and decrypts; per-message failures are reported with their id (failed messages stay in the queue).",
    flags: {
      ...KEY,
      out: { value: true, arg: "FILE", help: "write the first message's bytes to FILE" },
      peek: { help: "peek: do not dequeue or delete" },
      count: { value: true, arg: "N", help: "messages to receive, 1-32 (default 1)" },
      ...ENCODING,
      ...READ_FLAGS,
      ...OVERWRITE_FLAG,
      ...KEY_VAULT_FLAGS,
      ...serviceFlags,
    },
    async run(a, io) {
      const count = a.int("count") ?? 1;
      if (count < 1 || count > 32) throw new UsageError("--count must be from 1 to 32");
      const client = new EncryptedQueueClient(queueOf(a), policyFromKeys(a, readPolicyOptions(a)), { messageEncoding: encodingOf(a) });
      const peek = a.has("peek");
      const out = a.get("out");
      // --out is checked and staged before anything is received; it appears only once the message decrypted.
      const outputs = out === undefined ? undefined : new StagedOutputs([{ label: "--out", path: out }], { overwrite: a.has("overwrite") });
      let batch: Awaited<ReturnType<typeof client.receiveMessages>> | Awaited<ReturnType<typeof client.peekMessages>>;
      let delivered: Array<{ messageId: string; dequeueCount: number; messageText: string; messageBytes: Uint8Array }>;
      try {
        batch = peek
          ? await decodingStoredData(() => client.peekMessages({ numberOfMessages: count }))
          : await decodingStoredData(() => client.receiveMessages({ numberOfMessages: count }));
        delivered = "peekedMessageItems" in batch ? batch.peekedMessageItems : batch.receivedMessageItems;
        if (outputs && delivered[0]) {
          outputs.writeFile(0, delivered[0].messageBytes);
          outputs.commit();
        } else outputs?.abort();
      } catch (e) {
        outputs?.abort();
        throw e;
      }
      for (const m of delivered) io.stdout(JSON.stringify({ id: m.messageId, dequeueCount: m.dequeueCount, text: m.messageText }) + "\n");
      // Delete only what was delivered (and written); failed messages stay for a retry or a poison queue.
      if (!peek && "receivedMessageItems" in batch) {
        for (const m of batch.receivedMessageItems) await client.deleteMessage(m.messageId, m.popReceipt);
      }
      for (const f of batch.failures) io.stderr(`azcse: ${f.error.code}: message ${f.messageId}: ${actionableMessage(f.error)}\n`);
      if (batch.failures.length > 0) return EXIT.crypto;
      if (out !== undefined && !delivered[0]) {
        throw new ClientSideEncryptionError("NOT_FOUND", `The queue has no visible message; nothing was written to ${out}.`);
      }
      return EXIT.ok;
    },
  }),
  defineCommand({
    path: ["queue", "encrypt-message"],
    summary: "Offline: the exact MessageText of an encrypted message.",
    offline: "encrypt",
    flags: {
      in: { value: true, required: true, arg: "PLAIN", help: "the message bytes (- = standard input)" },
      out: { value: true, required: true, arg: "MESSAGE.txt", help: "the MessageText" },
      ...KEY,
      ...PROTOCOL,
      ...ENCODING,
      ...OVERWRITE_FLAG,
      ...KEY_VAULT_FLAGS,
    },
    async run(a, io) {
      if (a.positionals.length) throw new UsageError(`unexpected argument ${a.positionals[0]}`);
      const protocol = protocolOf(a, io);
      const encoding = encodingOf(a);
      const policy = policyFromKeys(a, { encryptionVersion: protocol, allowDeprecatedV1Encryption: protocol === "1.0" });
      const outputs = new StagedOutputs([{ label: "--out", path: a.get("out") }], { overwrite: a.has("overwrite") });
      const { payload, text } = await outputs.run(async (o) => {
        const payload = await readInputFile("--in", a.get("in"));
        const text = await encryptQueueMessage(payload, policy, { messageEncoding: encoding });
        o.writeFile(0, text);
        return { payload, text };
      });
      io.stdout(JSON.stringify({ protocol, plaintextBytes: payload.length, messageLength: text.length }) + "\n");
      return EXIT.ok;
    },
  }),
  defineCommand({
    path: ["queue", "decrypt-message"],
    summary: "Offline: decrypts a MessageText (e.g. from a dead-letter dump).",
    offline: "decrypt",
    flags: {
      in: { value: true, required: true, arg: "MESSAGE.txt", help: "the MessageText (- = standard input)" },
      out: { value: true, required: true, arg: "PLAIN", help: "the message bytes" },
      ...KEY,
      ...ENCODING,
      ...READ_FLAGS,
      ...OVERWRITE_FLAG,
      ...KEY_VAULT_FLAGS,
    },
    async run(a, io) {
      if (a.positionals.length) throw new UsageError(`unexpected argument ${a.positionals[0]}`);
      const encoding = encodingOf(a);
      const policy = policyFromKeys(a, readPolicyOptions(a));
      const outputs = new StagedOutputs([{ label: "--out", path: a.get("out") }], { overwrite: a.has("overwrite") });
      const message = await outputs.run(async (o) => {
        const text = (await readInputFile("--in", a.get("in"))).toString("utf8");
        const message = await decodingStoredData(() => decryptQueueMessage(text, policy, { messageEncoding: encoding }));
        o.writeFile(0, message.messageBytes);
        return message;
      });
      io.stdout(JSON.stringify({ protocol: message.protocol, keyId: message.keyId, plaintextBytes: message.messageBytes.length }) + "\n");
      return EXIT.ok;
    },
  }),
];
