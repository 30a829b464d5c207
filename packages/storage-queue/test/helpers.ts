// Test helpers: the Python SDK vector set (queue cases), its keys, typed-error assertions, Azurite queues.
import { QueueServiceClient } from "@azure/storage-queue";
import { PYTHON_KEK_PRELUDE } from "@azure-cse/testkit";
import {
  AesKeyWrapKey,
  ClientSideEncryptionError,
  RsaKey,
  createLocalKeyResolver,
  type KeyEncryptionKey,
} from "@azure-cse/core-envelope";
import { typedErrorAssertions } from "@azure-cse/testkit/assertions";
import { vectorCases, vectorKeks } from "@azure-cse/testkit/vectors";

export { expectNoSecrets } from "@azure-cse/testkit/assertions";
export { fixedRandom } from "@azure-cse/testkit/random";

export type { VectorKek as Kek } from "@azure-cse/testkit/vectors";
export { vectorManifest as manifest, vectorKek as manifestKek } from "@azure-cse/testkit/vectors";

export interface QueueCase {
  id: string;
  kind: "queue";
  description: string;
  protocol: "1.0" | "2.0";
  kek_kid: string;
  kek_algorithm: string;
  encode_policy: "none" | "text_base64" | "binary_base64";
  plaintext: { text?: string; utf8_size?: number; chars?: number; b64?: string; size?: number };
  stored: { message_text: string; encrypted: boolean };
  envelope?: Record<string, unknown>;
  debug?: { cek_b64?: string; iv_b64?: string; nonce_b64?: string; encrypted_plaintext_utf8?: string; encrypted_bytes_size?: number };
}

export interface QueueNegativeCase {
  id: string;
  kind: "negative";
  target_kind: "queue";
  description: string;
  base_case: string;
  protocol: "1.0" | "2.0";
  encode_policy: "none" | "text_base64" | "binary_base64";
  error_category: string;
  stored: { message_text: string };
}

export function queueCases(): QueueCase[] {
  return vectorCases<QueueCase>("queue");
}

export function queueNegativeCases(): QueueNegativeCase[] {
  return vectorCases<QueueNegativeCase>("negative", "queue");
}

/** The expected payload bytes of a vector (UTF-8 text, or the binary payload). */
export function expectedPayload(c: QueueCase): Buffer {
  if (c.plaintext.b64 !== undefined) return Buffer.from(c.plaintext.b64, "base64");
  return Buffer.from(c.plaintext.text ?? "", "utf8");
}

export function manifestKeks(): KeyEncryptionKey[] {
  return vectorKeks<KeyEncryptionKey>({ AesKeyWrapKey, RsaKey });
}

/** Resolves the manifest's KEKs by the stored KeyId. */
export function manifestResolver() {
  return createLocalKeyResolver(manifestKeks());
}

/** `caught(fn)`: the ClientSideEncryptionError `fn` throws (fails the test otherwise); `expectCode` checks its code. */
export const { caught, expectCode } = typedErrorAssertions(ClientSideEncryptionError);

let queueCounter = 0;
/** A fresh queue on Azurite (queue names: lowercase letters, digits, dashes). */
export async function newQueue(connectionString: string, prefix = "q") {
  const service = QueueServiceClient.fromConnectionString(connectionString);
  const name = `${prefix}-${process.pid}-${Date.now().toString(36)}-${queueCounter++}`.toLowerCase();
  const client = service.getQueueClient(name);
  await client.create();
  return client;
}

/** The Python SDK peer (azure-storage-queue): stdin {cs, queue, kek, protocol, encoding, op: "send" | "receive", messages?, require?}; prints JSON. */
export const PY = `${PYTHON_KEK_PRELUDE}
from azure.storage.queue import QueueClient
from azure.storage.queue._message_encoding import (NoEncodePolicy, NoDecodePolicy, TextBase64EncodePolicy,
    TextBase64DecodePolicy, BinaryBase64EncodePolicy, BinaryBase64DecodePolicy)
inp = json.load(sys.stdin)
k = inp['kek']
kek = AesKek(k['kid'], base64.b64decode(k['key_b64'])) if k['type'] == 'aes' else RsaKek(k['kid'], k['pem'])
policies = {'none': (NoEncodePolicy, NoDecodePolicy), 'text_base64': (TextBase64EncodePolicy, TextBase64DecodePolicy),
            'binary_base64': (BinaryBase64EncodePolicy, BinaryBase64DecodePolicy)}
enc, dec = policies[inp['encoding']]
qc = QueueClient.from_connection_string(inp['cs'], inp['queue'], key_encryption_key=kek,
    require_encryption=inp.get('require', True), encryption_version=inp['protocol'],
    message_encode_policy=enc(), message_decode_policy=dec())
out = []
if inp['op'] == 'send':
    for m in inp['messages']:
        content = base64.b64decode(m['b64']) if inp['encoding'] == 'binary_base64' else m['text']
        out.append(qc.send_message(content).id)
else:
    for page in qc.receive_messages(messages_per_page=32).by_page():
        for msg in page:
            c = msg.content
            out.append({'id': msg.id, 'b64': base64.b64encode(c).decode() if isinstance(c, bytes) else None,
                        'text': c if isinstance(c, str) else None})
            qc.delete_message(msg)
print(json.dumps(out))
`;
