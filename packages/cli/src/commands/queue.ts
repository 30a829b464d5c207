// azcse queue commands: send/receive encrypted messages through the service, and offline
// encrypt-message/decrypt-message for messages moved through other channels.
import { QueueClient } from "@azure/storage-queue";
import { ClientSideEncryptionError, type EncryptionProtocol } from "@azure-cse/core-envelope";
import { EncryptedQueueClient, decryptQueueMessage, encryptQueueMessage, type MessageEncoding } from "@azure-cse/storage-queue";
import {
  EXIT,
  checkResourceName,
  decodingStoredData,
  fromConnection,
  parseArgs,
  policyFromKeyFiles,
  READ_FLAGS,
  READ_USAGE,
  readPolicyOptions,
  SERVICE_FLAGS,
  SERVICE_USAGE,
  storageClientOptions,
  UsageError,
  type CommandDef,
  type Io,
  type ParsedArgs,
} from "../framework.js";
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
  return fromConnection(a, (cs) => new QueueClient(cs, name, storageClientOptions(a)));
}

const serviceFlags = SERVICE_FLAGS;

export const commands: CommandDef[] = [
  {
    path: ["queue", "send"],
    usage: `queue send QUEUE (--text T | --in FILE) --key K [--protocol 2.0|1.0] [--encoding none|base64] ${SERVICE_USAGE}`,
    async run(argv, io) {
      const a = parseArgs(argv, {
        text: { value: true },
        in: { value: true },
        key: { value: true, repeat: true, required: true },
        protocol: { value: true },
        encoding: { value: true },
        ...serviceFlags,
      });
      if (a.has("text") === a.has("in")) throw new UsageError("give exactly one of --text T or --in FILE");
      const payload = a.has("text") ? Buffer.from(a.get("text")!, "utf8") : await readInputFile("--in", a.get("in"));
      const protocol = protocolOf(a, io);
      const policy = policyFromKeyFiles(a.all("key"), { encryptionVersion: protocol, allowDeprecatedV1Encryption: protocol === "1.0" });
      const client = new EncryptedQueueClient(queueOf(a), policy, { messageEncoding: encodingOf(a) });
      const sent = await client.sendMessage(payload);
      io.stdout(JSON.stringify({ id: sent.messageId, protocol, plaintextBytes: payload.length }) + "\n");
      return EXIT.ok;
    },
  },
  {
    path: ["queue", "receive"],
    usage: `queue receive QUEUE --key K [--out FILE] [--peek] [--count N] [--encoding none|base64] ${READ_USAGE} ${SERVICE_USAGE}`,
    async run(argv, io) {
      const a = parseArgs(argv, {
        key: { value: true, repeat: true, required: true },
        out: { value: true },
        peek: {},
        count: { value: true },
        encoding: { value: true },
        ...READ_FLAGS,
        ...serviceFlags,
      });
      const count = a.int("count") ?? 1;
      if (count < 1 || count > 32) throw new UsageError("--count must be from 1 to 32");
      const client = new EncryptedQueueClient(queueOf(a), policyFromKeyFiles(a.all("key"), readPolicyOptions(a)), { messageEncoding: encodingOf(a) });
      const peek = a.has("peek");
      const out = a.get("out");
      // --out is checked and staged before anything is received; it appears only once the message decrypted.
      const outputs = out === undefined ? undefined : new StagedOutputs([{ label: "--out", path: out }]);
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
      for (const f of batch.failures) io.stderr(`azcse: ${f.error.code}: message ${f.messageId}: ${f.error.message}\n`);
      if (batch.failures.length > 0) return EXIT.crypto;
      if (out !== undefined && !delivered[0]) {
        throw new ClientSideEncryptionError("NOT_FOUND", `The queue has no visible message; nothing was written to ${out}.`);
      }
      return EXIT.ok;
    },
  },
  {
    path: ["queue", "encrypt-message"],
    usage: "queue encrypt-message --in PLAIN --out MESSAGE.txt --key K [--protocol 2.0|1.0] [--encoding none|base64]",
    offline: "encrypt",
    async run(argv, io) {
      const a = parseArgs(argv, {
        in: { value: true, required: true },
        out: { value: true, required: true },
        key: { value: true, repeat: true, required: true },
        protocol: { value: true },
        encoding: { value: true },
      });
      if (a.positionals.length) throw new UsageError(`unexpected argument ${a.positionals[0]}`);
      const protocol = protocolOf(a, io);
      const encoding = encodingOf(a);
      const policy = policyFromKeyFiles(a.all("key"), { encryptionVersion: protocol, allowDeprecatedV1Encryption: protocol === "1.0" });
      const outputs = new StagedOutputs([{ label: "--out", path: a.get("out") }]);
      const { payload, text } = await outputs.run(async (o) => {
        const payload = await readInputFile("--in", a.get("in"));
        const text = await encryptQueueMessage(payload, policy, { messageEncoding: encoding });
        o.writeFile(0, text);
        return { payload, text };
      });
      io.stdout(JSON.stringify({ protocol, plaintextBytes: payload.length, messageLength: text.length }) + "\n");
      return EXIT.ok;
    },
  },
  {
    path: ["queue", "decrypt-message"],
    usage: `queue decrypt-message --in MESSAGE.txt --out PLAIN --key K [--encoding none|base64] ${READ_USAGE}`,
    offline: "decrypt",
    async run(argv, io) {
      const a = parseArgs(argv, {
        in: { value: true, required: true },
        out: { value: true, required: true },
        key: { value: true, repeat: true, required: true },
        encoding: { value: true },
        ...READ_FLAGS,
      });
      if (a.positionals.length) throw new UsageError(`unexpected argument ${a.positionals[0]}`);
      const encoding = encodingOf(a);
      const policy = policyFromKeyFiles(a.all("key"), readPolicyOptions(a));
      const outputs = new StagedOutputs([{ label: "--out", path: a.get("out") }]);
      const message = await outputs.run(async (o) => {
        const text = (await readInputFile("--in", a.get("in"))).toString("utf8");
        const message = await decodingStoredData(() => decryptQueueMessage(text, policy, { messageEncoding: encoding }));
        o.writeFile(0, message.messageBytes);
        return message;
      });
      io.stdout(JSON.stringify({ protocol: message.protocol, keyId: message.keyId, plaintextBytes: message.messageBytes.length }) + "\n");
      return EXIT.ok;
    },
  },
];
