// Keys of --key / --new-key: private JWK files, or Azure Key Vault / Managed HSM key ids
// (https://VAULT.vault.azure.net/keys/NAME[/VERSION]). A vault key wraps in the vault (the versioned kid that
// wrapped is stored) and stored vault kids are unwrapped through the caching resolver of @azure-cse/keyvault;
// files and vault keys mix freely (the first --key encrypts, every key is offered for decryption).
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { ClientSideEncryptionError, createLocalKeyResolver, keyFromJwk, type ClientSideEncryptionPolicy, type KeyEncryptionKey, type KeyResolver } from "@azure-cse/core-envelope";
import { createKeyVaultKeyResolver, KEY_VAULT_WRAP_ALGORITHMS, KeyVaultKeyEncryptionKey, type KeyVaultKeyResolver, type KeyVaultWrapAlgorithm } from "@azure-cse/keyvault";
import { parseKeyVaultKeyIdentifier } from "@azure/keyvault-keys";
import { defaultCredential } from "./account.js";
import { UsageError, type FlagSpecs, type ParsedArgs } from "./framework.js";

/** Help of --key (every key-taking command). */
export const KEY_HELP = "a private JWK file, or a Key Vault / Managed HSM key id https://VAULT.vault.azure.net/keys/NAME[/VERSION]; repeatable: the first encrypts, every key is offered for decryption by kid";

/** Flags of the commands that take keys (besides --key itself, which each command declares). */
export const KEY_VAULT_FLAGS: FlagSpecs = {
  "key-vault-alg": {
    value: true,
    arg: KEY_VAULT_WRAP_ALGORITHMS.join("|"),
    help: "wrap algorithm of Key Vault keys (default RSA-OAEP; A128KW/A192KW/A256KW for Managed HSM oct-HSM keys)",
  },
};

/**
 * TEST-ONLY: `AZCSE_TEST_ONLY_KEYVAULT_LOOPBACK=1` lets Key Vault keys on a loopback host (127.0.0.1, localhost)
 * skip the bearer challenge's resource check (a local test vault answers for https://vault.azure.net). It has no
 * effect on any other host. Trust of the test vault's certificate comes from NODE_EXTRA_CA_CERTS.
 */
const LOOPBACK_TEST_ENV = "AZCSE_TEST_ONLY_KEYVAULT_LOOPBACK";

/** Whether a --key value names a Key Vault key (a URL) rather than a file. */
export function looksLikeKeyVaultId(value: string): boolean {
  return /^https?:\/\//i.test(value);
}

interface VaultKeyRef {
  id: string;
  vaultUrl: string;
  name: string;
  version: string | undefined;
}

function parseVaultId(value: string, flag: string): VaultKeyRef {
  const expected = "expected https://VAULT.vault.azure.net/keys/NAME[/VERSION] or https://HSM.managedhsm.azure.net/keys/NAME[/VERSION]";
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new UsageError(`${flag}: ${value} is not a Key Vault key id (${expected})`);
  }
  // eslint-disable-next-line no-control-regex
  if (u.protocol !== "https:" || u.search || u.hash || u.username || u.password || /[\u0000-\u0020\u007f-\u009f]/.test(value)) {
    throw new UsageError(`${flag}: ${value.replace(/\?.*$/s, "")} is not a Key Vault key id (${expected}; https only, no query)`);
  }
  const parts = u.pathname.split("/").filter((p) => p.length > 0);
  if (parts[0] !== "keys" || parts.length < 2 || parts.length > 3) throw new UsageError(`${flag}: ${value} is not a Key Vault key id (${expected})`);
  try {
    const p = parseKeyVaultKeyIdentifier(value);
    return { id: value.replace(/\/+$/, ""), vaultUrl: p.vaultUrl.replace(/\/+$/, ""), name: p.name, version: p.version || undefined };
  } catch {
    throw new UsageError(`${flag}: ${value} is not a Key Vault key id (${expected})`);
  }
}

function wrapAlgorithm(args: ParsedArgs | undefined): KeyVaultWrapAlgorithm | undefined {
  const v = args?.get("key-vault-alg");
  if (v === undefined) return undefined;
  const allowed = KEY_VAULT_WRAP_ALGORITHMS as readonly string[];
  if (!allowed.includes(v)) throw new UsageError(`--key-vault-alg must be one of ${allowed.join(", ")}`);
  return v as KeyVaultWrapAlgorithm;
}

function isLoopback(vaultUrl: string): boolean {
  return /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/i.test(new URL(vaultUrl).hostname);
}

/**
 * The Key Vault side of one command: one caching resolver (one client per key id; a token challenge and lookup
 * once per key) whose keys wrap and unwrap; it resolves only stored kids of the vault keys the caller named.
 */
class VaultKeys {
  readonly refs: VaultKeyRef[] = [];
  #resolver: KeyVaultKeyResolver | undefined;
  readonly #alg: KeyVaultWrapAlgorithm | undefined;

  constructor(alg: KeyVaultWrapAlgorithm | undefined) {
    this.#alg = alg;
  }

  #clientOptions(): { disableChallengeResourceVerification?: boolean } {
    const loopbackOnly = this.refs.every((r) => isLoopback(r.vaultUrl));
    return process.env[LOOPBACK_TEST_ENV] === "1" && loopbackOnly ? { disableChallengeResourceVerification: true } : {};
  }

  resolver(): KeyVaultKeyResolver {
    this.#resolver ??= createKeyVaultKeyResolver(defaultCredential(), {
      clientOptions: this.#clientOptions(),
      ...(this.#alg ? { defaultWrapAlgorithm: this.#alg } : {}),
      allowedVaults: [...new Set(this.refs.map((r) => r.vaultUrl))],
    });
    return this.#resolver;
  }

  add(ref: VaultKeyRef): KeyEncryptionKey {
    this.refs.push(ref);
    return this.resolver().getKeyEncryptionKey(ref.id);
  }

  /** A stored kid is offered to the vault only when it is a version of a key the caller named. */
  matches(kid: string): boolean {
    let p: { vaultUrl: string; name: string };
    try {
      p = parseKeyVaultKeyIdentifier(kid);
    } catch {
      return false;
    }
    const vault = p.vaultUrl.replace(/\/+$/, "").toLowerCase();
    return this.refs.some((r) => r.vaultUrl.toLowerCase() === vault && r.name.toLowerCase() === p.name.toLowerCase());
  }
}

function loadJwkFile(f: string, flag: string): KeyEncryptionKey {
  if (f.length === 0) throw new UsageError(`${flag} needs a file path or a Key Vault key id`);
  let text: string;
  try {
    text = readFileSync(f, "utf8");
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new UsageError(`${flag}: cannot read key file ${f}${code ? ` (${code})` : ""}`);
  }
  let jwk: unknown;
  try {
    jwk = JSON.parse(text);
  } catch {
    throw new UsageError(`${flag}: key file ${f} is not JSON (expected a private JWK)`);
  }
  if (typeof jwk !== "object" || jwk === null || Array.isArray(jwk)) throw new UsageError(`${flag}: key file ${f} must hold one JWK object`);
  try {
    return keyFromJwk(jwk as Record<string, unknown>);
  } catch (e) {
    if (ClientSideEncryptionError.is(e)) throw new UsageError(`${flag}: key file ${f}: ${e.message}`);
    throw new UsageError(`${flag}: key file ${f} is not a usable private JWK`);
  }
}

/** The keys of one command: every --key / --new-key value it loaded, sharing one Key Vault resolver. */
export class CommandKeys {
  readonly #vault: VaultKeys;
  readonly #local: KeyEncryptionKey[] = [];

  constructor(args?: ParsedArgs) {
    this.#vault = new VaultKeys(wrapAlgorithm(args));
  }

  /** Loads key values (files or vault key ids); every problem names the flag. */
  load(values: readonly string[], flag = "--key"): KeyEncryptionKey[] {
    if (values.length === 0) throw new UsageError(`${flag} is required (a private JWK file or a Key Vault key id)`);
    const keys = values.map((v) => {
      if (looksLikeKeyVaultId(v)) return this.#vault.add(parseVaultId(v, flag));
      const k = loadJwkFile(v, flag);
      this.#local.push(k);
      return k;
    });
    const seen = new Map<string, string>();
    keys.forEach((k, i) => {
      const other = seen.get(k.keyId);
      if (other !== undefined) throw new UsageError(`${flag}: ${other} and ${values[i]} hold the same key id ${JSON.stringify(k.keyId)}; give each key once`);
      seen.set(k.keyId, values[i]!);
    });
    return keys;
  }

  /** Resolves stored kids: local keys by exact kid, Key Vault kids of the named vault keys through the vault. */
  resolver(keys: readonly KeyEncryptionKey[]): KeyResolver {
    const local = createLocalKeyResolver(keys.filter((k) => !(k instanceof KeyVaultKeyEncryptionKey)));
    const vault = this.#vault;
    return async (kid, options) => {
      const own = keys.find((k) => k.keyId === kid);
      if (own) return own;
      const l = await local(kid, options);
      if (l) return l;
      return vault.refs.length > 0 && vault.matches(kid) ? vault.resolver()(kid, options) : undefined;
    };
  }

  /**
   * A vault key pinned to one version: a versionless id is pinned to the version that wraps now (one wrap of
   * random bytes; the caller needs keys/wrapKey for it anyway). Local and versioned keys are returned as they are.
   */
  async pinned(key: KeyEncryptionKey): Promise<KeyEncryptionKey> {
    if (!(key instanceof KeyVaultKeyEncryptionKey) || key.isVersioned) return key;
    const probe = randomBytes(32);
    try {
      const r = await key.wrapKey(key.defaultWrapAlgorithm, probe);
      return this.#vault.resolver().getKeyEncryptionKey(r.keyId);
    } finally {
      probe.fill(0);
    }
  }
}

/** Whether a key is a Key Vault key given without a version. */
export function isVersionlessVaultKey(key: KeyEncryptionKey): boolean {
  return key instanceof KeyVaultKeyEncryptionKey && !key.isVersioned;
}

/**
 * Loads private JWK files or Key Vault key ids (`--key`, repeatable); every problem names the flag. `args` gives
 * the Key Vault flags (--key-vault-alg).
 */
export function loadKeys(values: readonly string[], flag = "--key", args?: ParsedArgs): KeyEncryptionKey[] {
  return new CommandKeys(args).load(values, flag);
}

/** First --key encrypts; every key is offered for decryption through a resolver by kid (vault kids via the vault). */
export function policyFromKeys(args: ParsedArgs, extra: ClientSideEncryptionPolicy = {}): ClientSideEncryptionPolicy {
  const ck = new CommandKeys(args);
  const keys = ck.load(args.all("key"));
  return { ...extra, keyEncryptionKey: keys[0], keyResolver: ck.resolver(keys) };
}
