/** Version of @azure-cse/core-envelope; a test keeps it equal to package.json. */
export const VERSION = "0.1.0";

/**
 * Written to `KeyWrappingMetadata.EncryptionLibrary`. It must never contain "Java": readers of table
 * entities switch to the legacy Java IV order when it does (spec: queue-table-keys-format §0 #6).
 */
export const LIBRARY_ID = `azsdk-js-azure-cse/${VERSION}`;
