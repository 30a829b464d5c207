// The three deterministic GCM region-nonce schemes in circulation (spec blob-format §3.3) and the
// 2026 region-order check (§3.5).
import { ClientSideEncryptionError } from "../errors.js";

export type NonceScheme = "python" | "java" | "dotnet";
export const NONCE_SCHEMES: readonly NonceScheme[] = ["python", "java", "dotnet"];

/** Nonce of region `index` under a scheme. `python`: BE96(i); `java`: BE64(i) ‖ 0⁴; `dotnet`: 0⁴ ‖ LE64(i+1). */
export function regionNonce(scheme: NonceScheme, index: number): Buffer {
  const n = Buffer.alloc(12);
  const i = BigInt(index);
  if (scheme === "python") n.writeBigUInt64BE(i, 4);
  else if (scheme === "java") n.writeBigUInt64BE(i, 0);
  else n.writeBigUInt64LE(i + 1n, 4);
  return n;
}

/** The scheme this library writes: Python's 12-byte big-endian region index. */
export const WRITE_NONCE_SCHEME: NonceScheme = "python";

export const ALLOW_MISORDERED_ENV = "AZURE_STORAGE_CSE_V2_ALLOW_MISORDERED_AUTH_REGIONS";

/** The recovery switch named like the official SDKs': set the env var to "true" or "1". */
export function misorderedRegionsAllowedByEnv(): boolean {
  const v = typeof process !== "undefined" ? process.env[ALLOW_MISORDERED_ENV] : undefined;
  return v !== undefined && ["true", "1"].includes(v.trim().toLowerCase());
}

/**
 * Keeps the set of schemes consistent with every region seen so far (like Java's validator) and
 * fails once none remains.
 */
export class RegionOrderValidator {
  #candidates: NonceScheme[] = [...NONCE_SCHEMES];
  #next: number;
  readonly #enabled: boolean;

  constructor(firstRegionIndex: number, enabled: boolean) {
    this.#next = firstRegionIndex;
    this.#enabled = enabled;
  }

  check(nonce: Uint8Array): void {
    const index = this.#next++;
    if (!this.#enabled) return;
    this.#candidates = this.#candidates.filter((s) => regionNonce(s, index).equals(nonce));
    if (this.#candidates.length === 0) {
      throw new ClientSideEncryptionError(
        "REGION_OUT_OF_ORDER",
        `Encrypted region ${index} is not in its expected position: regions were reordered, duplicated or dropped. ` +
          `To recover data written with non-standard nonces, set ${ALLOW_MISORDERED_ENV}=true or allowMisorderedRegions.`,
        { details: { regionIndex: index } },
      );
    }
  }
}
