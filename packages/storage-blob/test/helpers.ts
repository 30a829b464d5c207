// Shared fixtures for the Azurite integration tests.
import { randomBytes } from "node:crypto";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { AesKeyWrapKey, createLocalKeyResolver, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { EncryptedContainerClient } from "@azure-cse/storage-blob";

export const KiB = 1024;
export const MiB = 1024 * 1024;

export interface Env {
  azurite: AzuriteHandle;
  service: BlobServiceClient;
  container: ContainerClient;
  kek: AesKeyWrapKey;
  policy: ClientSideEncryptionPolicy;
  encrypted: EncryptedContainerClient;
  stop(): Promise<void>;
}

let counter = 0;
export function uniqueName(prefix = "b"): string {
  return `${prefix}-${Date.now().toString(36)}-${(counter++).toString(36)}-${randomBytes(3).toString("hex")}`;
}

export async function startEnv(): Promise<Env> {
  const azurite = await startAzurite();
  const service = BlobServiceClient.fromConnectionString(azurite.connectionString);
  const container = service.getContainerClient(uniqueName("c"));
  await container.create();
  const kek = AesKeyWrapKey.generate("local:test-kek-1");
  const policy: ClientSideEncryptionPolicy = { keyEncryptionKey: kek, keyResolver: createLocalKeyResolver([kek]) };
  return { azurite, service, container, kek, policy, encrypted: new EncryptedContainerClient(container, policy), stop: () => azurite.stop() };
}

/** Deterministic-looking but random plaintext of `n` bytes. */
export function plaintext(n: number): Buffer {
  return randomBytes(n);
}

export async function streamToBuffer(s: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s as AsyncIterable<Buffer>) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

/** Stored bytes of a blob, read without encryption. */
export async function rawBytes(container: ContainerClient, name: string): Promise<Buffer> {
  return container.getBlobClient(name).downloadToBuffer();
}

/** Resolves with the typed error a promise rejects with (fails the test if it resolves). */
export async function rejection(p: Promise<unknown>): Promise<{ code?: string; message: string; details?: Record<string, unknown> }> {
  try {
    await p;
  } catch (e) {
    return e as { code?: string; message: string };
  }
  throw new Error("expected the operation to fail, but it succeeded");
}
