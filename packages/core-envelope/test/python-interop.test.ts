// Live interop with the real Python SDK (azure-storage-blob's own helpers in
// azure/storage/blob/_encryption.py): our 2.0 (and opt-in 1.0) output decrypts with `decrypt_blob`,
// and `encrypt_blob` output decrypts with us. No Azurite needed: these are the SDK's offline helpers
// (the blob package adds the round trip through the service).
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AesKeyWrapKey,
  RsaKey,
  collectBytes,
  createContentEncryption,
  decryptRange,
  findEncryptionDataInMetadata,
  parseEncryptionData,
  type ClientSideEncryptionPolicy,
  type KeyEncryptionKey,
} from "@azure-cse/core-envelope";
import { PYTHON_KEK_PRELUDE, assertPythonPeer, runPython, tempDir } from "@azure-cse/testkit";
import { chunked, patternBytes, sha256hex } from "./helpers.js";

const MiB = 1024 * 1024;
const aesKey = patternBytes(32, 61);
const aes = new AesKeyWrapKey("local:py-interop-a256kw", aesKey);
const rsa = RsaKey.generate("local:py-interop-rsa", 2048, "RSA-OAEP");
let tmp: { dir: string; cleanup: () => void };

beforeAll(() => {
  assertPythonPeer(); // throws with the install command; interop tests never skip
  tmp = tempDir("azcse-core-py-");
});
afterAll(() => tmp?.cleanup());

const PY_DECRYPT = `${PYTHON_KEK_PRELUDE}
import hashlib
from azure.storage.blob._encryption import decrypt_blob
inp = json.load(sys.stdin)
keks = {'A256KW': AesKek(inp['aes_kid'], base64.b64decode(inp['aes_key'])), 'RSA-OAEP': RsaKek(inp['rsa_kid'], inp['rsa_pem'])}
out = []
for c in inp['cases']:
    content = open(c['path'], 'rb').read()
    headers = {'x-ms-meta-encryptiondata': c['encryptiondata'], 'x-ms-blob-type': 'BlockBlob'}
    kek = keks[json.loads(c['encryptiondata'])['WrappedContentKey']['Algorithm']]
    # Whole download: V1 end_offset counts from the end (0), V2 end_offset is an index (None = end).
    end = 0 if c['protocol'] == '1.0' else None
    try:
        pt = decrypt_blob(True, kek, None, content, 0, end, headers)
        out.append({'ok': True, 'size': len(pt), 'sha256': hashlib.sha256(bytes(pt)).hexdigest()})
    except Exception as e:
        out.append({'ok': False, 'error': type(e).__name__})
print(json.dumps(out))
`;

const PY_ENCRYPT = `${PYTHON_KEK_PRELUDE}
import hashlib
from azure.storage.blob._encryption import encrypt_blob
inp = json.load(sys.stdin)
kek = AesKek(inp['aes_kid'], base64.b64decode(inp['aes_key']))
out = []
for c in inp['cases']:
    plain = open(c['plain'], 'rb').read()
    meta, stored = encrypt_blob(plain, kek, c['protocol'])
    open(c['out'], 'wb').write(stored)
    out.append({'encryptiondata': meta, 'size': len(stored)})
print(json.dumps(out))
`;

interface PyDecryptResult {
  ok: boolean;
  size?: number;
  sha256?: string;
  error?: string;
}

async function ourEncrypt(policy: ClientSideEncryptionPolicy, plain: Buffer) {
  const enc = await createContentEncryption(policy);
  const stored = await collectBytes(enc.encrypt(chunked(plain, [65536, 1])));
  return { stored, encryptiondata: enc.toJson(true), protocol: enc.protocol };
}

function pyInput(cases: unknown[]) {
  return { aes_kid: aes.keyId, aes_key: aesKey.toString("base64"), rsa_kid: rsa.keyId, rsa_pem: rsa.privateKeyPem(), cases };
}

describe("our output decrypts with the real Python SDK (azure.storage.blob._encryption.decrypt_blob)", () => {
  it("protocol 2.0, A256KW, sizes 0, 1, 4 MiB−1, 4 MiB, 4 MiB+1, 8 MiB+5; and RSA-OAEP wrapped 2.0; and opt-in 1.0", async () => {
    const jobs: { label: string; policy: ClientSideEncryptionPolicy; size: number }[] = [
      ...[0, 1, 4 * MiB - 1, 4 * MiB, 4 * MiB + 1, 8 * MiB + 5].map((size) => ({ label: `2.0 A256KW ${size}`, policy: { keyEncryptionKey: aes }, size })),
      { label: "2.0 RSA-OAEP 1000", policy: { keyEncryptionKey: rsa as KeyEncryptionKey }, size: 1000 },
      ...[0, 17, 4 * MiB + 1].map((size) => ({
        label: `1.0 A256KW ${size}`,
        policy: { keyEncryptionKey: aes, encryptionVersion: "1.0" as const, allowDeprecatedV1Encryption: true },
        size,
      })),
    ];
    const cases: { path: string; encryptiondata: string; protocol: string }[] = [];
    const expected: PyDecryptResult[] = [];
    for (const [i, job] of jobs.entries()) {
      const plain = patternBytes(job.size, i + 100);
      const { stored, encryptiondata, protocol } = await ourEncrypt(job.policy, plain);
      const file = path.join(tmp.dir, `ours-${i}.bin`);
      writeFileSync(file, stored);
      cases.push({ path: file, encryptiondata, protocol });
      expected.push({ ok: true, size: plain.length, sha256: sha256hex(plain) });
    }
    const results = await runPython<PyDecryptResult[]>(PY_DECRYPT, pyInput(cases), { timeoutMs: 120_000 });
    results.forEach((r, i) => expect(r, jobs[i]!.label).toEqual(expected[i]));
  });

  it("Python refuses our 2.0 body when one tag bit is flipped (its own integrity check agrees with ours)", async () => {
    const { stored, encryptiondata } = await ourEncrypt({ keyEncryptionKey: aes }, patternBytes(5000, 9));
    stored[stored.length - 1]! ^= 1;
    const file = path.join(tmp.dir, "ours-bad.bin");
    writeFileSync(file, stored);
    const [r] = await runPython<PyDecryptResult[]>(PY_DECRYPT, pyInput([{ path: file, encryptiondata, protocol: "2.0" }]));
    expect(r).toEqual({ ok: false, error: "InvalidTag" });
  });
});

describe("the Python SDK's encrypt_blob output decrypts with us", () => {
  it("protocol 2.0 sizes 0, 1, 4 MiB, 4 MiB+1 and protocol 1.0 sizes 0, 17, 1000", async () => {
    const jobs = [
      ...[0, 1, 4 * MiB, 4 * MiB + 1].map((size) => ({ protocol: "2.0", size })),
      ...[0, 17, 1000].map((size) => ({ protocol: "1.0", size })),
    ];
    const cases = jobs.map((j, i) => {
      const plainFile = path.join(tmp.dir, `py-plain-${i}.bin`);
      writeFileSync(plainFile, patternBytes(j.size, i + 200));
      return { plain: plainFile, out: path.join(tmp.dir, `py-stored-${i}.bin`), protocol: j.protocol };
    });
    const results = await runPython<{ encryptiondata: string; size: number }[]>(PY_ENCRYPT, pyInput(cases), { timeoutMs: 120_000 });
    for (const [i, r] of results.entries()) {
      const job = jobs[i]!;
      const stored = readFileSync(cases[i]!.out);
      expect(stored.length).toBe(r.size);
      const json = findEncryptionDataInMetadata({ encryptiondata: r.encryptiondata })!;
      const data = parseEncryptionData(json);
      expect(data.protocol).toBe(job.protocol);
      const out = await collectBytes(await decryptRange(data, { keyEncryptionKey: aes }, stored.length, (o, n) => chunked(stored.subarray(o, n === undefined ? undefined : o + n), [4099])));
      expect(out.equals(patternBytes(job.size, i + 200)), `${job.protocol} ${job.size}`).toBe(true);
    }
  });
});
