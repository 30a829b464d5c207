import type { KeyEncryptionKey, KeyResolver } from "./kek/types.js";
import type { RandomSource } from "./random.js";
import type { EncryptionProtocol } from "./schema/encryption-data.js";

/**
 * One client-side encryption policy, accepted unchanged by the blob, queue and table clients.
 */
export interface ClientSideEncryptionPolicy {
  /** The key that wraps new content keys; also used to unwrap when its keyId matches the stored one. */
  keyEncryptionKey?: KeyEncryptionKey;
  /** Finds the key for a stored key id when it is not `keyEncryptionKey` (see docs/format.md, key selection). */
  keyResolver?: KeyResolver;
  /** Wrap algorithm passed to `keyEncryptionKey.wrapKey`; default its `defaultWrapAlgorithm`. */
  keyWrapAlgorithm?: string;
  /** Protocol written: "2.0" (default, 4 MiB regions), "2.1" (with `regionSize`), or "1.0" with `allowDeprecatedV1Encryption`. */
  encryptionVersion?: EncryptionProtocol;
  /** Plaintext bytes per GCM region for "2.1" (16 B … 1 GiB); default 4 MiB. */
  regionSize?: number;
  /** Opt-in to write the deprecated, unauthenticated 1.0 format (CVE-2022-30187). Reading 1.0 needs no opt-in. */
  allowDeprecatedV1Encryption?: boolean;
  /** Default true: never write plaintext, and refuse to return data that carries no encryption metadata. */
  requireEncryption?: boolean;
  /**
   * Protocols this reader decrypts; default all three. Once your data is migrated to 2.x (`azcse migrate`), set
   * `["2.0", "2.1"]` to refuse 1.0 (unauthenticated CBC: the CVE-2022-30187 padding oracle needs a reader that
   * decrypts 1.0). Refused data fails with UNSUPPORTED_PROTOCOL before any key is used. Table entities only
   * exist as 1.0.
   */
  allowedReadProtocols?: readonly EncryptionProtocol[];
  /**
   * Largest 2.1 region size a reader accepts (the unverified plaintext it may buffer); default 16 MiB
   * (`DEFAULT_MAX_READ_REGION_SIZE`), raised to `regionSize` when this policy writes larger regions. Protocol
   * 2.0 always has 4 MiB regions.
   */
  maxRegionSize?: number;
  /** Data recovery: skip the region-order check (same effect as AZURE_STORAGE_CSE_V2_ALLOW_MISORDERED_AUTH_REGIONS=true). */
  allowMisorderedRegions?: boolean;
  /** Random source for content keys and IVs; default the platform CSPRNG. For tests only. */
  random?: RandomSource;
}
