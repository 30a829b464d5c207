// Shared fixtures for the ops tests: keys as JWK files, the Python SDK peer, deterministic payloads.
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { AesKeyWrapKey, type KeyEncryptionKey } from "@azure-cse/core-envelope";
import { PYTHON_KEK_PRELUDE, repoRoot, runPython } from "@azure-cse/testkit";
import { main } from "../src/main.js";

export const KiB = 1024;
export const MiB = 1024 * 1024;
export const OPS_PEER = PYTHON_KEK_PRELUDE + readFileSync(path.join(repoRoot, "packages", "cli", "test", "ops_peer.py"), "utf8");
export const CLI = path.join(repoRoot, "packages", "cli", "dist", "cli.js");

/** The same bytes ops_peer.py derives from a seed: SHA-256("seed:i") blocks. */
export function payload(seed: string, size: number): Buffer {
  const parts: Buffer[] = [];
  let n = 0;
  for (let i = 0; n < size; i++) {
    const d = createHash("sha256").update(`${seed}:${i}`).digest();
    parts.push(d);
    n += d.length;
  }
  return Buffer.concat(parts).subarray(0, size);
}
export const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

export interface KeyFile {
  kid: string;
  file: string;
  jwk: Record<string, string>;
  kek: KeyEncryptionKey;
}
export function makeKey(dir: string, kid: string): KeyFile {
  const k = AesKeyWrapKey.generate(kid);
  const jwk = k.toJwk();
  const file = path.join(dir, `${kid}.jwk`);
  writeFileSync(file, JSON.stringify(jwk), { mode: 0o600 });
  return { kid, file, jwk, kek: k };
}

export interface PyBlobSpec {
  name: string;
  protocol: "1.0" | "2.0";
  size: number;
  seed: string;
  kek: Record<string, string>;
  metadata?: Record<string, string>;
  content_settings?: Record<string, string>;
  tags?: Record<string, string>;
  tier?: string;
  max_single_put_size?: number;
  max_block_size?: number;
}
export interface PyRead {
  size?: number;
  sha256?: string;
  error?: string;
  protocol?: string;
  kid?: string;
  metadata: Record<string, string>;
  content_settings: Record<string, string | null>;
  tier?: string;
  tier_inferred?: boolean;
  tags?: Record<string, string>;
}

export async function pyWrite(cs: string, container: string, blobs: PyBlobSpec[]): Promise<Array<{ name: string; sha256: string; size: number }>> {
  const r = await runPython<{ blobs: Array<{ name: string; sha256: string; size: number }> }>(OPS_PEER, { op: "write", cs, container, blobs }, { timeoutMs: 120_000 });
  return r.blobs;
}
export async function pyRead(cs: string, container: string, names: string[], keks: Array<Record<string, string>>): Promise<Record<string, PyRead>> {
  const r = await runPython<{ blobs: Record<string, PyRead> }>(OPS_PEER, { op: "read", cs, container, names, keks }, { timeoutMs: 120_000 });
  return r.blobs;
}

export async function azcse(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(argv, { stdout: (s) => (out += s), stderr: (s) => (err += s) });
  return { code, out, err };
}
