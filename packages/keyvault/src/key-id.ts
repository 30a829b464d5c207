import { parseKeyVaultKeyIdentifier } from "@azure/keyvault-keys";

export interface ParsedKeyId {
  vaultUrl: string;
  name: string;
  version: string | undefined;
}

/** Parses a Key Vault / Managed HSM key id; undefined when it is not one. */
export function parseKeyId(keyId: string): ParsedKeyId | undefined {
  // The URL parser drops tabs and newlines and trims control characters, so "…/keys/a\tb" would name key "ab":
  // key ids with whitespace or control characters are not Key Vault key ids at all.
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  if (typeof keyId !== "string" || /[\u0000-\u0020\u007f-\u009f]/.test(keyId)) return undefined;
  let url: URL;
  try {
    url = new URL(keyId);
  } catch {
    return undefined;
  }
  if (url.protocol !== "https:" || url.search || url.hash || url.username || url.password) return undefined;
  const parts = url.pathname.split("/").filter((p) => p !== "");
  if (parts.length < 2 || parts.length > 3 || parts[0] !== "keys") return undefined;
  try {
    const parsed = parseKeyVaultKeyIdentifier(keyId);
    if (!parsed.name || !parsed.vaultUrl) return undefined;
    return { vaultUrl: parsed.vaultUrl.replace(/\/+$/, ""), name: parsed.name, version: parsed.version || undefined };
  } catch {
    return undefined;
  }
}

/** True when the id names one key version (`…/keys/{name}/{version}`). */
export function isVersionedKeyId(keyId: string): boolean {
  return parseKeyId(keyId)?.version !== undefined;
}

/** Same vault (case-insensitive host) and key name (Key Vault names are case-insensitive). */
export function sameKey(a: ParsedKeyId, b: ParsedKeyId): boolean {
  return a.vaultUrl.toLowerCase() === b.vaultUrl.toLowerCase() && a.name.toLowerCase() === b.name.toLowerCase();
}
