// EncryptedTableServiceClient: hands the one shared policy (and table options) down to every table.
import { ClientSideEncryptionError, type ClientSideEncryptionPolicy } from "@azure-cse/core-envelope";
import { TableClient, TableServiceClient, type TableServiceClientOptions } from "@azure/data-tables";
import { EncryptedTableClient, type EncryptedTableClientOptions } from "./client.js";
import { checkPropertyList, checkResolver } from "./entity-crypto.js";
import { checkOptionsObject, describeValue, guardPolicy, invalidArgument, serviceCall } from "@azure-cse/core-envelope/internal";

/** Options of `EncryptedTableServiceClient`: table defaults plus how table clients are made. */
export interface EncryptedTableServiceClientOptions extends EncryptedTableClientOptions {
  /**
   * Makes the `TableClient` for a table name. `@azure/data-tables` cannot derive a `TableClient` from a
   * `TableServiceClient`, so pass the same URL and credential, e.g.
   * `(name) => new TableClient(url, name, credential)`. Set by `fromConnectionString`.
   */
  createTableClient: (tableName: string) => TableClient;
}

/**
 * A storage account's tables under one client-side encryption policy. Composes an `@azure/data-tables`
 * `TableServiceClient` (any credential) for account operations (create, delete and list tables) and makes an
 * `EncryptedTableClient` per table with the same policy and encryption options.
 */
export class EncryptedTableServiceClient {
  readonly #client: TableServiceClient;
  readonly #policy: ClientSideEncryptionPolicy;
  readonly #options: EncryptedTableServiceClientOptions;

  constructor(tableServiceClient: TableServiceClient, policy: ClientSideEncryptionPolicy, options: EncryptedTableServiceClientOptions) {
    if (!tableServiceClient || typeof tableServiceClient.createTable !== "function") {
      throw new ClientSideEncryptionError("INVALID_ARGUMENT", "EncryptedTableServiceClient needs an @azure/data-tables TableServiceClient.");
    }
    guardPolicy(policy);
    checkOptionsObject(options);
    if (typeof options?.createTableClient !== "function") {
      throw new ClientSideEncryptionError("INVALID_ARGUMENT", "EncryptedTableServiceClient needs options.createTableClient(tableName) (or use fromConnectionString).");
    }
    this.#client = tableServiceClient;
    this.#policy = policy;
    checkResolver(options.encryptionResolver, "options.encryptionResolver");
    this.#options = { ...options, encryptedProperties: [...checkPropertyList(options.encryptedProperties, "options.encryptedProperties")] };
  }

  /**
   * From a storage connection string (Azurite's too): `clientOptions` go to both the service and the table
   * clients (e.g. `{ allowInsecureConnection: true }` for http endpoints).
   */
  static fromConnectionString(
    connectionString: string,
    policy: ClientSideEncryptionPolicy,
    options: Omit<EncryptedTableServiceClientOptions, "createTableClient"> & { clientOptions?: TableServiceClientOptions } = {},
  ): EncryptedTableServiceClient {
    if (typeof connectionString !== "string" || connectionString.length === 0) {
      throw invalidArgument(`connectionString must be a non-empty string; it is ${describeValue(connectionString)}.`);
    }
    guardPolicy(policy);
    checkOptionsObject(options);
    const { clientOptions, ...tableOptions } = options;
    return new EncryptedTableServiceClient(TableServiceClient.fromConnectionString(connectionString, clientOptions), policy, {
      ...tableOptions,
      createTableClient: (tableName) => TableClient.fromConnectionString(connectionString, tableName, clientOptions),
    });
  }

  /** The wrapped client (account operations). */
  get tableServiceClient(): TableServiceClient {
    return this.#client;
  }
  /** The policy given to the constructor, handed unchanged to every table client. */
  get policy(): ClientSideEncryptionPolicy {
    return this.#policy;
  }
  get url(): string {
    return this.#client.url;
  }

  /** An encrypted client for one table: this client's policy; `options` add to (lists) or replace (resolver) the defaults. */
  getTableClient(tableName: string, options: EncryptedTableClientOptions = {}): EncryptedTableClient {
    if (typeof tableName !== "string" || tableName.length === 0) throw invalidArgument(`tableName must be a non-empty string; it is ${describeValue(tableName)}.`);
    checkOptionsObject(options);
    const { createTableClient, encryptedProperties, encryptionResolver } = this.#options;
    return new EncryptedTableClient(createTableClient(tableName), this.#policy, {
      encryptionResolver: checkResolver(options.encryptionResolver, "options.encryptionResolver") ?? encryptionResolver,
      encryptedProperties: [...(encryptedProperties ?? []), ...checkPropertyList(options.encryptedProperties, "options.encryptedProperties")],
    });
  }

  /**
   * Creates the table if it does not exist (the service's 409 is not an error) and returns its encrypted client.
   * Service failures are typed (core's toTypedError, `details.table`), the SDK's error the cause.
   */
  async createTableIfNotExists(tableName: string, options: EncryptedTableClientOptions = {}): Promise<EncryptedTableClient> {
    if (typeof tableName !== "string" || tableName.length === 0) throw invalidArgument(`tableName must be a non-empty string; it is ${describeValue(tableName)}.`);
    // No caller signal exists here: an AbortError can only be a response cut short (SERVICE_ERROR, retryable).
    await serviceCall({ table: tableName }, () => this.#client.createTable(tableName), { callerSignal: undefined });
    return this.getTableClient(tableName, options);
  }
}
