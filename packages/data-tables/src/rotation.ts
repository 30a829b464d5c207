// Rewrapping the content key of an entity: only `_ClientEncryptionMetadata1`'s WrappedContentKey changes;
// the entity IV, KeyWrappingMetadata (which decides the legacy-Java IV order) and every other field stay
// exactly as stored, so ciphertexts and `_ClientEncryptionMetadata2` remain valid.
import { ClientSideEncryptionError, asciiJson } from "@azure-cse/core-envelope";

function findKey(obj: Record<string, unknown>, name: string): string {
  const lower = name.toLowerCase();
  return Object.keys(obj).find((k) => k.toLowerCase() === lower) ?? name;
}

/** Returns the stored metadata JSON with a new KeyId/EncryptedKey/Algorithm and nothing else changed. */
export function replaceWrappedContentKey(metadata1Json: string, wrapped: { keyId: string; encryptedKey: Uint8Array; algorithm: string }): string {
  let root: unknown;
  try {
    root = JSON.parse(metadata1Json);
  } catch {
    throw new ClientSideEncryptionError("INVALID_ENCRYPTION_DATA", "Invalid encryption metadata: metadata is not valid JSON");
  }
  if (typeof root !== "object" || root === null || Array.isArray(root)) {
    throw new ClientSideEncryptionError("INVALID_ENCRYPTION_DATA", "Invalid encryption metadata: metadata is not a JSON object");
  }
  const obj = root as Record<string, unknown>;
  const wckName = findKey(obj, "WrappedContentKey");
  const old = obj[wckName];
  const wck: Record<string, unknown> = typeof old === "object" && old !== null && !Array.isArray(old) ? { ...(old as Record<string, unknown>) } : {};
  wck[findKey(wck, "KeyId")] = wrapped.keyId;
  wck[findKey(wck, "EncryptedKey")] = Buffer.from(wrapped.encryptedKey).toString("base64");
  wck[findKey(wck, "Algorithm")] = wrapped.algorithm;
  obj[wckName] = wck;
  return asciiJson(obj);
}
