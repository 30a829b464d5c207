// Encrypting and decrypting one entity in the shape @azure/data-tables uses (partitionKey/rowKey,
// Uint8Array or `{value, type}` values). Spec: queue-table-keys-format.md §2.1–§2.4, §2.6.
import {
  ClientSideEncryptionError,
  createContentEncryption,
  isLegacyJavaWriter,
  parseEncryptionData,
  unwrapContentKey,
  type ClientSideEncryptionPolicy,
  type EncryptionData,
  type EncryptionDataV1,
  type KeyOperationOptions,
} from "@azure-cse/core-envelope";
import { decryptCbcBuffer, encryptCbcBuffer, decodeBase64Strict, decryptionFailed } from "@azure-cse/core-envelope/internal";
import { copyRecord, getOwn, newRecord } from "./entity-names.js";
import { checkOptionsObject, describeValue, guardPolicy, quoteForDisplay as quote, safely } from "@azure-cse/core-envelope/internal";
import {
  MAX_ENTITY_SIZE,
  MAX_PROPERTY_VALUE_SIZE,
  MAX_USER_PROPERTIES,
  METADATA1,
  METADATA2,
  binaryValue,
  decodeUtf8Strict,
  derivePropertyIv,
  estimateEntitySize,
  formatNameList,
  isEncryptableName,
  isMetadataProperty,
  isSystemProperty,
  isTypedValue,
  parseNameList,
  stringValue,
} from "./format.js";
import { hasUserValues, isDroppedOnWrite, isPresent, tryEntityKeys } from "./shared/entity-format.js";

/** Decides per property whether to encrypt it, like the legacy SDKs' resolvers. Never asked about keys, Timestamp or reserved names. */
export type EncryptionResolver = (partitionKey: string, rowKey: string, propertyName: string) => boolean;

/** Which properties to encrypt: the union of the resolver's choices and the listed names. */
export interface PropertySelection {
  encryptionResolver?: EncryptionResolver;
  encryptedProperties?: readonly string[];
}

/** A table entity as @azure/data-tables takes and returns it. */
export type EntityRecord = Record<string, unknown>;

export interface EncryptedEntity {
  /** The entity to send: encrypted values as Uint8Array (Edm.Binary) plus the two metadata properties. */
  entity: EntityRecord & { partitionKey: string; rowKey: string };
  /** Names encrypted, in the order stored in `_ClientEncryptionMetadata2`. */
  encryptedProperties: string[];
}

function invalidArgument(message: string, cause?: unknown): ClientSideEncryptionError {
  return new ClientSideEncryptionError("INVALID_ARGUMENT", message, cause === undefined ? {} : { cause });
}

/** `encryptedProperties`: an array of strings (a string would be read as its characters). */
export function checkPropertyList(list: unknown, name: string): readonly string[] {
  if (list === undefined) return [];
  if (!Array.isArray(list)) {
    throw invalidArgument(`${name} must be an array of property names (e.g. ["ssn"]); it is ${describeValue(list)}.`);
  }
  for (const n of list) {
    if (typeof n !== "string" || n.length === 0) throw invalidArgument(`${name} must hold non-empty property-name strings; it holds ${describeValue(n)}.`);
  }
  return list as readonly string[];
}

/** `encryptionResolver`: a function, or undefined. */
export function checkResolver(resolver: unknown, name = "encryptionResolver"): EncryptionResolver | undefined {
  if (resolver === undefined) return undefined;
  if (typeof resolver !== "function") throw invalidArgument(`${name} must be a function (partitionKey, rowKey, propertyName) => boolean; it is ${describeValue(resolver)}.`);
  return resolver as EncryptionResolver;
}

/** A property selection, checked (INVALID_ARGUMENT naming the option). */
export function checkSelection(selection: unknown, name = "selection"): PropertySelection {
  if (selection === undefined) return {};
  checkOptionsObject(selection, name);
  const s = selection as PropertySelection;
  return { encryptionResolver: checkResolver(s.encryptionResolver), encryptedProperties: checkPropertyList(s.encryptedProperties, "encryptedProperties") };
}

/** Asks the caller's resolver; a throw or a non-boolean answer is the caller's error, named as such. */
function resolverSays(resolver: EncryptionResolver, partitionKey: string, rowKey: string, name: string): boolean {
  let answer: unknown;
  try {
    answer = resolver(partitionKey, rowKey, name);
  } catch (e) {
    throw invalidArgument(`encryptionResolver threw for property ${quote(name)}; it must return true or false.`, e);
  }
  if (typeof answer !== "boolean") throw invalidArgument(`encryptionResolver must return true or false; it returned ${describeValue(answer)} for property ${quote(name)}.`);
  return answer;
}

function describeType(v: unknown): string {
  if (v === null) return "null";
  if (v instanceof Uint8Array) return "Binary";
  if (v instanceof Date) return "DateTime";
  if (typeof v === "object" && v !== null && "type" in v) return String((v as { type: unknown }).type);
  return typeof v;
}

/** PartitionKey and RowKey of an SDK-shaped entity (also accepts the wire spelling). */
export function entityKeys(entity: EntityRecord): { partitionKey: string; rowKey: string } {
  if (typeof entity !== "object" || entity === null || Array.isArray(entity)) throw invalidArgument(`The entity must be an object; it is ${describeValue(entity)}.`);
  const keys = tryEntityKeys(entity);
  if (!keys) throw invalidArgument("The entity needs string partitionKey and rowKey values.");
  return keys;
}

/** Names the selection picks for this entity; throws before any key operation when a choice is not allowed. */
export function selectProperties(entity: EntityRecord, selection: PropertySelection): string[] {
  const { partitionKey, rowKey } = entityKeys(entity);
  const { encryptionResolver, encryptedProperties } = checkSelection(selection);
  const listed = new Set(encryptedProperties);
  for (const name of listed) {
    if (!isEncryptableName(name)) {
      throw invalidArgument(`Property ${quote(name)} can never be encrypted: PartitionKey, RowKey, Timestamp, etag and ${METADATA1}/${METADATA2} are stored in plaintext.`);
    }
  }
  const names: string[] = [];
  for (const [name, value] of Object.entries(entity)) {
    if (isMetadataProperty(name)) throw invalidArgument(`The property name ${quote(name)} is reserved for the encryption metadata.`);
    if (!isEncryptableName(name)) continue;
    const chosen = listed.has(name) || (encryptionResolver !== undefined && resolverSays(encryptionResolver, partitionKey, rowKey, name));
    if (!chosen) continue;
    if (stringValue(value) === undefined) {
      throw invalidArgument(`Property ${quote(name)} is ${describeType(value)}; only string values can be encrypted (tables store ciphertext as Edm.Binary and decrypt to strings).`);
    }
    names.push(name);
  }
  return names;
}

function countUserProperties(entity: EntityRecord): number {
  let n = 0;
  for (const name of Object.keys(entity)) if (!isSystemProperty(name)) n++;
  return n;
}

function tooLarge(message: string, details: Record<string, string | number> = {}): ClientSideEncryptionError {
  return new ClientSideEncryptionError("PAYLOAD_TOO_LARGE", message, { details });
}

/**
 * Encrypts the selected string properties with a fresh CEK and entity IV (protocol 1.0, the only table
 * protocol any reader knows) and adds both metadata properties, like the legacy .NET/Python writers.
 * Checks the property-count and size limits before returning, so nothing oversized is ever sent.
 */
export async function encryptEntity(
  entity: EntityRecord,
  policy: ClientSideEncryptionPolicy,
  selection: PropertySelection,
  options: KeyOperationOptions = {},
): Promise<EncryptedEntity> {
  return safely(encryptChecked(entity, guardPolicy(policy), selection, options));
}

async function encryptChecked(entity: EntityRecord, policy: ClientSideEncryptionPolicy, selection: PropertySelection, options: KeyOperationOptions): Promise<EncryptedEntity> {
  checkOptionsObject(options);
  const { partitionKey, rowKey } = entityKeys(entity);
  const names = selectProperties(entity, selection);
  const userCount = countUserProperties(entity);
  if (userCount > MAX_USER_PROPERTIES) {
    throw tooLarge(`The entity has ${userCount} properties; with the two encryption metadata properties at most ${MAX_USER_PROPERTIES} fit the service's limit of 255.`, { properties: userCount });
  }
  const ce = await createContentEncryption({ ...policy, encryptionVersion: "1.0", allowDeprecatedV1Encryption: true }, options);
  try {
    const data = ce.encryptionData as EncryptionDataV1;
    const iv = data.contentEncryptionIV;
    const out = newRecord<EntityRecord & { partitionKey: string; rowKey: string }>();
    out.partitionKey = partitionKey;
    out.rowKey = rowKey;
    const chosen = new Set(names);
    for (const [name, value] of Object.entries(entity)) {
      if (isDroppedOnWrite(name)) continue;
      if (!chosen.has(name)) {
        out[name] = value;
        continue;
      }
      const ciphertext = encryptCbcBuffer(ce.contentKey, derivePropertyIv(iv, partitionKey, rowKey, name), Buffer.from(stringValue(value)!, "utf8"));
      if (ciphertext.length > MAX_PROPERTY_VALUE_SIZE) {
        throw tooLarge(`Encrypted property ${quote(name)} would be ${ciphertext.length} bytes; the service stores at most ${MAX_PROPERTY_VALUE_SIZE} bytes per value.`, { property: name, size: ciphertext.length });
      }
      out[name] = new Uint8Array(ciphertext);
    }
    out[METADATA2] = new Uint8Array(encryptCbcBuffer(ce.contentKey, derivePropertyIv(iv, partitionKey, rowKey, METADATA2), Buffer.from(formatNameList(names), "utf8")));
    out[METADATA1] = ce.toJson(false);
    const size = estimateEntitySize(out, partitionKey, rowKey);
    if (size > MAX_ENTITY_SIZE) {
      throw tooLarge(`The encrypted entity would be about ${size} bytes; the service stores at most ${MAX_ENTITY_SIZE} bytes per entity.`, { size });
    }
    return { entity: out, encryptedProperties: names };
  } finally {
    ce.dispose();
  }
}

export interface DecryptEntityOptions extends KeyOperationOptions {
  /** Return decrypted values as `{ value, type: "String" }` (matches @azure/data-tables' disableTypeConversion). */
  typedValues?: boolean;
  /**
   * The projection (`select`) the entity was read with. Encrypted properties listed in the entity's metadata
   * but outside the projection may be absent; without it every listed property must be present (a missing
   * one is DECRYPTION_FAILED).
   */
  select?: readonly string[];
  /** Keys to use when the entity itself lacks them (a projection that did not select them). */
  partitionKey?: string;
  rowKey?: string;
}

/** What the stored metadata says, after unwrapping: for rotation and merge checks. */
export interface OpenedEntity {
  encryptionData: EncryptionDataV1;
  contentKey: Buffer;
  javaWriter: boolean;
  names: string[];
}

function parseTableEncryptionData(raw: unknown): EncryptionDataV1 {
  const json = stringValue(raw);
  if (json === undefined) throw new ClientSideEncryptionError("INVALID_ENCRYPTION_DATA", `Invalid encryption metadata: ${METADATA1} is not a string.`);
  const data: EncryptionData = parseEncryptionData(json);
  if (data.protocol !== "1.0") {
    throw new ClientSideEncryptionError("UNSUPPORTED_PROTOCOL", `Table entities only use encryption protocol 1.0; this entity says "${data.protocol}". It was not decrypted.`, {
      details: { protocol: data.protocol },
    });
  }
  return data;
}

function metadata2Bytes(raw: unknown): Buffer {
  // The service stores at most 64 KiB per value: anything longer is not stored data, and is not decoded.
  const text = typeof raw === "string" ? raw : isTypedValue(raw) && typeof raw.value === "string" ? raw.value : undefined;
  if (text !== undefined && text.length > (MAX_PROPERTY_VALUE_SIZE * 4) / 3 + 4) throw decryptionFailed();
  const b = binaryValue(raw) ?? (typeof raw === "string" ? decodeBase64Strict(raw) : undefined);
  if (!b) throw new ClientSideEncryptionError("INVALID_ENCRYPTION_DATA", `Invalid encryption metadata: ${METADATA2} is not binary.`);
  if (b.length > MAX_PROPERTY_VALUE_SIZE) throw decryptionFailed();
  return b;
}

/** Unwraps the CEK and decrypts the name list of an entity that carries both metadata properties. */
export async function openEntity(
  metadata1: unknown,
  metadata2: unknown,
  partitionKey: string,
  rowKey: string,
  policy: ClientSideEncryptionPolicy,
  options: KeyOperationOptions = {},
): Promise<OpenedEntity> {
  return safely(openChecked(metadata1, metadata2, partitionKey, rowKey, policy, options));
}

async function openChecked(metadata1: unknown, metadata2: unknown, partitionKey: string, rowKey: string, policy: ClientSideEncryptionPolicy, options: KeyOperationOptions): Promise<OpenedEntity> {
  const data = parseTableEncryptionData(metadata1);
  const encryptedList = metadata2Bytes(metadata2);
  const cek = await unwrapContentKey(data, policy, options);
  try {
    const javaWriter = isLegacyJavaWriter(data);
    const list = decryptCbcBuffer(cek, derivePropertyIv(data.contentEncryptionIV, partitionKey, rowKey, METADATA2, javaWriter), encryptedList);
    const names = parseNameList(decodeUtf8Strict(list), javaWriter);
    return { encryptionData: data, contentKey: cek, javaWriter, names };
  } catch (e) {
    cek.fill(0);
    throw e;
  }
}

function encryptionRequired(reason: string): ClientSideEncryptionError {
  return new ClientSideEncryptionError(
    "ENCRYPTION_REQUIRED",
    `The entity ${reason}, and requireEncryption is on; set requireEncryption: false in the policy to read unencrypted entities.`,
  );
}

/**
 * Decrypts an entity read through @azure/data-tables: every property named in `_ClientEncryptionMetadata2`
 * comes back as a string, and both metadata properties are removed. Entities written by legacy Java
 * (KeyWrappingMetadata missing, or an EncryptionLibrary containing "Java") use the PartitionKey+RowKey IV
 * order and the `[a, b]` list format. An entity without metadata is an ENCRYPTION_REQUIRED error unless
 * the policy sets requireEncryption: false. Every read of an encrypted entity unwraps its content key, and
 * stored data that does not decrypt (a listed property missing or not binary, one metadata property without
 * the other, a bad name list) is DECRYPTION_FAILED. The result is a null-prototype record, so property names
 * such as `constructor` or `__proto__` are ordinary keys.
 */
export async function decryptEntity<T extends EntityRecord>(entity: T, policy: ClientSideEncryptionPolicy, options: DecryptEntityOptions = {}): Promise<T> {
  return safely(decryptChecked(entity, policy, options));
}

async function decryptChecked<T extends EntityRecord>(entity: T, rawPolicy: ClientSideEncryptionPolicy, options: DecryptEntityOptions): Promise<T> {
  if (typeof entity !== "object" || entity === null || Array.isArray(entity)) throw invalidArgument(`The entity must be an object; it is ${describeValue(entity)}.`);
  const policy = guardPolicy(rawPolicy);
  checkOptionsObject(options);
  const select = options.select === undefined ? undefined : new Set(checkPropertyList(options.select, "select"));
  const requireEncryption = policy.requireEncryption ?? true;
  const m1 = getOwn(entity, METADATA1);
  const m2 = getOwn(entity, METADATA2);
  const has1 = isPresent(m1);
  const has2 = isPresent(m2);
  const withoutMetadata = (): T => {
    const out = copyRecord(entity) as EntityRecord;
    delete out[METADATA1];
    delete out[METADATA2];
    return out as T;
  };
  if (!has1 && !has2) {
    if (requireEncryption) throw encryptionRequired("has no client-side encryption metadata");
    return withoutMetadata();
  }
  const pk = str(getOwn(entity, "partitionKey")) ?? str(getOwn(entity, "PartitionKey")) ?? options.partitionKey;
  const rk = str(getOwn(entity, "rowKey")) ?? str(getOwn(entity, "RowKey")) ?? options.rowKey;
  if (!has2) {
    // Legacy Java writes no _ClientEncryptionMetadata2 when an entity has no properties besides its keys. The
    // content key is still unwrapped, so a forged KeyId or EncryptedKey fails here too.
    if (!hasUserValues(entity)) {
      const cek = await unwrapContentKey(parseTableEncryptionData(m1), policy, options);
      cek.fill(0);
      return withoutMetadata();
    }
  }
  // One metadata property without the other: the entity claims encryption, but its stored data is broken.
  if (!has1 || !has2) throw decryptionFailed();
  if (pk === undefined || rk === undefined) {
    throw invalidArgument("Decrypting needs the entity's PartitionKey and RowKey (they enter every property IV); include them in the projection.");
  }
  const opened = await openEntity(m1, m2, pk, rk, policy, options);
  try {
    const out = newRecord<EntityRecord>();
    const listed = new Set(opened.names);
    for (const name of listed) {
      // The keys, Timestamp and the metadata are never encrypted by any writer: a list naming them is not stored data.
      if (!isEncryptableName(name)) throw decryptionFailed();
      // Every listed property must be there, unless the read's projection left it out.
      if (!isPresent(getOwn(entity, name)) && (select === undefined || select.has(name))) throw decryptionFailed();
    }
    for (const [name, value] of Object.entries(entity)) {
      if (isMetadataProperty(name)) continue;
      if (!listed.has(name)) {
        out[name] = value;
        continue;
      }
      const bytes = binaryValue(value);
      if (!bytes) throw decryptionFailed();
      const iv = derivePropertyIv(opened.encryptionData.contentEncryptionIV, pk, rk, name, opened.javaWriter);
      const plaintext = decodeUtf8Strict(decryptCbcBuffer(opened.contentKey, iv, bytes));
      out[name] = options.typedValues ? { value: plaintext, type: "String" } : plaintext;
    }
    return out as T;
  } finally {
    opened.contentKey.fill(0);
  }
}

function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}
