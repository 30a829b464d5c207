import { ClientSideEncryptionError } from "@azure-cse/core-envelope";
import { describeValue, quote } from "./text.js";

/** Algorithms a Key Vault key-encryption key wraps new content keys with. */
export type KeyVaultWrapAlgorithm = "RSA-OAEP" | "RSA-OAEP-256" | "A128KW" | "A192KW" | "A256KW";
/** Algorithms accepted on unwrap: the wrap algorithms plus legacy RSA1_5 (read-only). */
export type KeyVaultUnwrapAlgorithm = KeyVaultWrapAlgorithm | "RSA1_5";

export const KEY_VAULT_WRAP_ALGORITHMS: readonly KeyVaultWrapAlgorithm[] = ["RSA-OAEP", "RSA-OAEP-256", "A128KW", "A192KW", "A256KW"];
export const KEY_VAULT_UNWRAP_ALGORITHMS: readonly KeyVaultUnwrapAlgorithm[] = [...KEY_VAULT_WRAP_ALGORITHMS, "RSA1_5"];

export function checkWrapAlgorithm(algorithm: unknown, keyId: string, option = "algorithm"): KeyVaultWrapAlgorithm {
  if (typeof algorithm !== "string") {
    throw new ClientSideEncryptionError("INVALID_ARGUMENT", `${option} must be a string naming a Key Vault key wrap algorithm (${KEY_VAULT_WRAP_ALGORITHMS.join(", ")}); it is ${describeValue(algorithm)}.`, {
      details: { keyId },
    });
  }
  if ((KEY_VAULT_WRAP_ALGORITHMS as readonly string[]).includes(algorithm)) return algorithm as KeyVaultWrapAlgorithm;
  if (algorithm === "RSA1_5") {
    throw new ClientSideEncryptionError(
      "INVALID_ARGUMENT",
      `RSA1_5 is accepted only to unwrap legacy data; wrap new content keys for key ${quote(keyId)} with RSA-OAEP-256 or RSA-OAEP.`,
      { details: { keyId, algorithm: algorithm.slice(0, 40) } },
    );
  }
  throw new ClientSideEncryptionError(
    "INVALID_ARGUMENT",
    `${option} ${quote(algorithm, 40)} is not a Key Vault key wrap algorithm; use one of ${KEY_VAULT_WRAP_ALGORITHMS.join(", ")} (A*KW only with Managed HSM oct-HSM keys).`,
    { details: { keyId, algorithm: algorithm.slice(0, 40) } },
  );
}

export function checkUnwrapAlgorithm(algorithm: unknown, keyId: string): KeyVaultUnwrapAlgorithm {
  if (typeof algorithm !== "string") {
    throw new ClientSideEncryptionError("INVALID_ARGUMENT", `algorithm must be a string naming a Key Vault unwrap algorithm; it is ${describeValue(algorithm)}.`, { details: { keyId } });
  }
  if ((KEY_VAULT_UNWRAP_ALGORITHMS as readonly string[]).includes(algorithm)) return algorithm as KeyVaultUnwrapAlgorithm;
  throw new ClientSideEncryptionError(
    "INVALID_ENCRYPTION_DATA",
    `Invalid encryption metadata: the stored key wrap algorithm ${quote(algorithm, 40)} is not one Key Vault key ${quote(keyId)} can unwrap (${KEY_VAULT_UNWRAP_ALGORITHMS.join(", ")}).`,
    { details: { keyId, algorithm: algorithm.slice(0, 40) } },
  );
}
