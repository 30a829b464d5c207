// Hand-builds entities in the legacy layouts straight from the spec (§2.2–§2.3), with node:crypto only,
// so tests of the reader do not depend on the writer under test.
import { createCipheriv, createHash } from "node:crypto";
import type { KeyEncryptionKey } from "@azure-cse/core-envelope";

export interface LegacyEntityOptions {
  partitionKey: string;
  rowKey: string;
  /** Plain properties (wire JSON values, unannotated strings/numbers). */
  plain?: Record<string, string | number | boolean>;
  /** Properties to encrypt (strings). */
  encrypted: Record<string, string>;
  kek: KeyEncryptionKey;
  cek: Buffer;
  entityIv: Buffer;
  /** IV order: "rk-pk" (.NET/Python) or "pk-rk" (legacy Java). */
  order: "rk-pk" | "pk-rk";
  /** Name list: JSON (`["a","b"]`), Python JSON (`["a", "b"]`) or Java `[a, b]`. */
  listFormat: "json" | "python" | "java";
  /** EncryptionLibrary value; null omits KeyWrappingMetadata entirely. */
  library: string | null;
  /** Skip _ClientEncryptionMetadata2 (the Java writer bug for key-only entities). */
  omitMetadata2?: boolean;
}

function iv(entityIv: Buffer, s: string): Buffer {
  return createHash("sha256").update(Buffer.concat([entityIv, Buffer.from(s, "utf8")])).digest().subarray(0, 16);
}

function cbc(key: Buffer, ivBytes: Buffer, text: string): string {
  const c = createCipheriv("aes-256-cbc", key, ivBytes);
  return Buffer.concat([c.update(Buffer.from(text, "utf8")), c.final()]).toString("base64");
}

/** Returns the entity as OData JSON on the wire (annotation after value, like the legacy writers). */
export async function buildLegacyWireEntity(o: LegacyEntityOptions): Promise<Record<string, unknown>> {
  const key = (name: string) => (o.order === "rk-pk" ? o.rowKey + o.partitionKey + name : o.partitionKey + o.rowKey + name);
  const wire: Record<string, unknown> = { PartitionKey: o.partitionKey, RowKey: o.rowKey, ...(o.plain ?? {}) };
  const names = Object.keys(o.encrypted);
  for (const n of names) {
    wire[n] = cbc(o.cek, iv(o.entityIv, key(n)), o.encrypted[n]!);
    wire[`${n}@odata.type`] = "Edm.Binary";
  }
  const list = o.listFormat === "json" ? JSON.stringify(names) : o.listFormat === "python" ? `[${names.map((n) => JSON.stringify(n)).join(", ")}]` : `[${names.join(", ")}]`;
  if (!o.omitMetadata2) {
    wire._ClientEncryptionMetadata2 = cbc(o.cek, iv(o.entityIv, key("_ClientEncryptionMetadata2")), list);
    wire["_ClientEncryptionMetadata2@odata.type"] = "Edm.Binary";
  }
  const wrapped = await o.kek.wrapKey(o.kek.defaultWrapAlgorithm, o.cek);
  const md: Record<string, unknown> = {
    WrappedContentKey: { KeyId: o.kek.keyId, EncryptedKey: Buffer.from(wrapped.encryptedKey).toString("base64"), Algorithm: o.kek.defaultWrapAlgorithm },
    EncryptionAgent: { Protocol: "1.0", EncryptionAlgorithm: "AES_CBC_256" },
    ContentEncryptionIV: o.entityIv.toString("base64"),
  };
  if (o.library !== null) md.KeyWrappingMetadata = { EncryptionLibrary: o.library };
  wire._ClientEncryptionMetadata1 = JSON.stringify(md);
  return wire;
}
