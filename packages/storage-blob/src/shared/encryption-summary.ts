// The non-secret summary of a blob's EncryptionData (protocol, key id, wrap algorithm, region size, writer), shared
// by the Node entry's getProperties (src/blob-metadata.ts via src/blob-context.ts) and the web entry's
// (src/web/metadata.ts). Crypto-free, no Node built-in, no Buffer; typed structurally so it imports neither
// core-envelope entry.

export interface EncryptionSummaryOf<P extends string = "1.0" | "2.0" | "2.1"> {
  protocol: P;
  /** WrappedContentKey.KeyId: the key-encryption key that can unwrap the content key. */
  keyId: string;
  /** WrappedContentKey.Algorithm. */
  keyWrapAlgorithm: string;
  /** Plaintext bytes per GCM region (2.x). */
  regionSize?: number;
  /** KeyWrappingMetadata.EncryptionLibrary: the writer (informational). */
  encryptionLibrary?: string;
}

export function summarizeEncryptionData<P extends string>(data: {
  protocol: P;
  wrappedContentKey: { keyId: string; algorithm: string };
  encryptedRegionInfo?: { dataLength: number };
  keyWrappingMetadata?: Record<string, string>;
}): EncryptionSummaryOf<P> {
  const s: EncryptionSummaryOf<P> = { protocol: data.protocol, keyId: data.wrappedContentKey.keyId, keyWrapAlgorithm: data.wrappedContentKey.algorithm };
  if (data.protocol !== "1.0" && data.encryptedRegionInfo) s.regionSize = data.encryptedRegionInfo.dataLength;
  const lib = data.keyWrappingMetadata?.EncryptionLibrary;
  if (lib !== undefined) s.encryptionLibrary = lib;
  return s;
}
