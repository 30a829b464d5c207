// The web entry's metadata writes read by the official Python SDK (azure-storage-blob, tools/interop/blob_peer.py)
// through Azurite: a blob uploaded and key-rotated by @azure-cse/storage-blob/web (Web Crypto) decrypts in Python
// with the new key only; after the web setMetadata Python still decrypts it. Never skipped: assertPythonPeer()
// fails with the install command.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AesKeyWrapKey } from "@azure-cse/core-envelope";
import { WebAesKeyWrapKey } from "@azure-cse/core-envelope/web";
import { assertPythonPeer, PYTHON_KEK_PRELUDE, repoRoot, runPython } from "@azure-cse/testkit";
import { WebEncryptedBlobClient } from "@azure-cse/storage-blob/web";
import { plaintext, startEnv, uniqueName, type Env } from "./helpers.js";

const peer = PYTHON_KEK_PRELUDE + readFileSync(path.join(repoRoot, "tools", "interop", "blob_peer.py"), "utf8");
let env: Env;
let dir: string;

interface PeerResult {
  ok: boolean;
  size?: number;
  error?: string;
}

function py(req: Record<string, unknown>): Promise<PeerResult> {
  return runPython<PeerResult>(peer, { connection_string: env.azurite.connectionString, container: env.container.containerName, kek: env.kek.toJwk(), ...req }, { timeoutMs: 120_000 });
}

beforeAll(async () => {
  assertPythonPeer();
  env = await startEnv();
  dir = mkdtempSync(path.join(tmpdir(), "azcse-blob-webpy-"));
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await env?.stop();
});

describe("web metadata writes → Python SDK reads", () => {
  it("web upload + web setMetadata + web updateKeyEncryptionKey (Web Crypto AES-KW): Python reads with the new key and refuses the old one", async () => {
    const name = uniqueName("webpy");
    const p = plaintext(4 * 1024 * 1024 + 999);
    const oldWeb = await WebAesKeyWrapKey.fromRaw(env.kek.keyId, Buffer.from(env.kek.toJwk().k!, "base64url"));
    const blob = new WebEncryptedBlobClient(env.container.getBlockBlobClient(name), { keyEncryptionKey: oldWeb });
    await blob.upload(p, { metadata: { origin: "web" } });
    await blob.setMetadata({ origin: "web", step: "2" });
    const out = path.join(dir, `${name}.meta`);
    expect(await py({ op: "download", blob: name, out_file: out })).toMatchObject({ ok: true, size: p.length });
    expect(readFileSync(out).equals(p)).toBe(true);

    const newNode = AesKeyWrapKey.generate("local:webpy-rotated");
    const newWeb = await WebAesKeyWrapKey.fromRaw(newNode.keyId, Buffer.from(newNode.toJwk().k!, "base64url"));
    const r = await blob.updateKeyEncryptionKey(newWeb);
    expect(r).toMatchObject({ previousKeyId: env.kek.keyId, keyId: newNode.keyId });
    const rot = path.join(dir, `${name}.rot`);
    expect(await py({ op: "download", blob: name, out_file: rot, kek: newNode.toJwk() })).toMatchObject({ ok: true, size: p.length });
    expect(readFileSync(rot).equals(p)).toBe(true);
    expect((await py({ op: "download", blob: name, out_file: `${rot}.old` })).ok).toBe(false);
  });
});
