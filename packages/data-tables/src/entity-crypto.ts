// Encrypting and decrypting one entity in the shape @azure/data-tables uses (partitionKey/rowKey,
// Uint8Array or `{value, type}` values). Spec: queue-table-keys-format.md §2.1–§2.4, §2.6.
import {
  ClientSideEncryptionError,
  createContentEncryption,
  decryptCbcBuffer,
  encryptCbcBuffer,
  isLegacyJavaWriter,
  parseEncryptionData,
  unwrapContentKey,
  type ClientSideEncryptionPolicy,
  type EncryptionData,
  type EncryptionDataV1,
  type KeyOperationOptions,
  decodeBase64Strict,
  decryptionFailed,
} from "@azure-cse/core-envelope";
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
  parseNameList,
  stringValue,
} from "./format.js";

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

function invalidArgument(message: string): ClientSideEncryptionError {
  return new ClientSideEncryptionError("INVALID_ARGUMENT", message);
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
  const pk = entity.partitionKey ?? entity.PartitionKey;
  const rk = entity.rowKey ?? entity.RowKey;
  if (typeof pk !== "string" || typeof rk !== "string") throw invalidArgument("The entity needs string partitionKey and rowKey values.");
  return { partitionKey: pk, rowKey: rk };
}

/** Names the selection picks for this entity; throws before any key operation when a choice is not allowed. */
export function selectProperties(entity: EntityRecord, selection: PropertySelection): string[] {
  const { partitionKey, rowKey } = entityKeys(entity);
  const listed = new Set(selection.encryptedProperties ?? []);
  for (const name of listed) {
    if (!isEncryptableName(name)) {
      throw invalidArgument(`Property "${name}" can never be encrypted: PartitionKey, RowKey, Timestamp, etag and ${METADATA1}/${METADATA2} are stored in plaintext.`);
    }
  }
  const names: string[] = [];
  for (const [name, value] of Object.entries(entity)) {
    if (isMetadataProperty(name)) throw invalidArgument(`The property name "${name}" is reserved for the encryption metadata.`);
    if (!isEncryptableName(name)) continue;
    const chosen = listed.has(name) || (selection.encryptionResolver?.(partitionKey, rowKey, name) ?? false);
    if (!chosen) continue;
    if (stringValue(value) === undefined) {
      throw invalidArgument(`Property "${name}" is ${describeType(value)}; only string values can be encrypted (tables store ciphertext as Edm.Binary and decrypt to strings).`);
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
  if (typeof entity !== "object" || entity === null) throw invalidArgument("The entity must be an object.");
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
    const out: EntityRecord & { partitionKey: string; rowKey: string } = { partitionKey, rowKey };
    const chosen = new Set(names);
    for (const [name, value] of Object.entries(entity)) {
      if (name === "partitionKey" || name === "rowKey" || name === "PartitionKey" || name === "RowKey") continue;
      // etag, Timestamp and odata.* are service bookkeeping (the service sets Timestamp), not properties to write.
      if (name === "etag" || name === "timestamp" || name === "Timestamp" || name.startsWith("odata.")) continue;
      if (!chosen.has(name)) {
        out[name] = value;
        continue;
      }
      const ciphertext = encryptCbcBuffer(ce.contentKey, derivePropertyIv(iv, partitionKey, rowKey, name), Buffer.from(stringValue(value)!, "utf8"));
      if (ciphertext.length > MAX_PROPERTY_VALUE_SIZE) {
        throw tooLarge(`Encrypted property "${name}" would be ${ciphertext.length} bytes; the service stores at most ${MAX_PROPERTY_VALUE_SIZE} bytes per value.`, { property: name, size: ciphertext.length });
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
  const b = binaryValue(raw) ?? (typeof raw === "string" ? decodeBase64Strict(raw) : undefined);
  if (!b) throw new ClientSideEncryptionError("INVALID_ENCRYPTION_DATA", `Invalid encryption metadata: ${METADATA2} is not binary.`);
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
 * the policy sets requireEncryption: false.
 */
export async function decryptEntity<T extends EntityRecord>(entity: T, policy: ClientSideEncryptionPolicy, options: DecryptEntityOptions = {}): Promise<T> {
  if (typeof entity !== "object" || entity === null) throw new ClientSideEncryptionError("INVALID_ARGUMENT", "The entity must be an object.");
  const requireEncryption = policy.requireEncryption ?? true;
  // A projection of a column the entity lacks may come back as null: that is "absent".
  const present = (name: string) => entity[name] !== undefined && entity[name] !== null;
  const has1 = present(METADATA1);
  const has2 = present(METADATA2);
  if (!has1 && !has2) {
    if (requireEncryption) throw encryptionRequired("has no client-side encryption metadata");
    const out: EntityRecord = { ...entity };
    delete out[METADATA1];
    delete out[METADATA2];
    return out as T;
  }
  if (!has2) {
    // Legacy Java writes no _ClientEncryptionMetadata2 when an entity has no properties besides its keys.
    const userProps = Object.keys(entity).filter((n) => !isSystemProperty(n) && !isMetadataProperty(n));
    if (userProps.length === 0) {
      parseTableEncryptionData(entity[METADATA1]);
      const out: EntityRecord = { ...entity };
      delete out[METADATA1];
      delete out[METADATA2];
      return out as T;
    }
  }
  if (!has1 || !has2) {
    if (requireEncryption) throw encryptionRequired(`carries only ${has1 ? METADATA1 : METADATA2}, not both encryption metadata properties`);
    return { ...entity };
  }
  const pk = typeof entity.partitionKey === "string" ? entity.partitionKey : typeof entity.PartitionKey === "string" ? entity.PartitionKey : options.partitionKey;
  const rk = typeof entity.rowKey === "string" ? entity.rowKey : typeof entity.RowKey === "string" ? entity.RowKey : options.rowKey;
  if (pk === undefined || rk === undefined) {
    throw new ClientSideEncryptionError("INVALID_ARGUMENT", "Decrypting needs the entity's PartitionKey and RowKey (they enter every property IV); include them in the projection.");
  }
  const opened = await openEntity(entity[METADATA1], entity[METADATA2], pk, rk, policy, options);
  try {
    const out: EntityRecord = {};
    const listed = new Set(opened.names.filter(isEncryptableName));
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
