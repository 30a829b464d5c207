// Runs the cross-service example. By default it starts its own storage (embedded Azurite) and the local
// Key Vault test server; set AZURE_STORAGE_CONNECTION_STRING to use a real account. (A real Key Vault needs a
// TokenCredential such as @azure/identity's DefaultAzureCredential: call runCrossService from your own code.)
import { startAzurite } from "@azure-cse/testkit";
import { startLocalKeyVault } from "../../../tools/local-keyvault/index.mjs";
import { runCrossService } from "./app.js";

const azurite = process.env.AZURE_STORAGE_CONNECTION_STRING ? undefined : await startAzurite();
const kv = await startLocalKeyVault();
let failed = false;
try {
  const connectionString = process.env.AZURE_STORAGE_CONNECTION_STRING ?? azurite!.connectionString;
  console.log(`storage: ${azurite ? `embedded Azurite (${azurite.blobUrl})` : "AZURE_STORAGE_CONNECTION_STRING"}; Key Vault: local test server ${kv.vaultUrl}`);
  const report = await runCrossService({
    connectionString,
    keyVault: { vaultUrl: kv.vaultUrl, credential: kv.credential, keyName: "cross-service-kek", clientOptions: kv.clientOptions },
    log: (line) => console.log(line),
  });
  console.log(`\nAll ${report.checks.length} checks passed. Key Vault requests: ${JSON.stringify(kv.counters())}`);
} catch (e) {
  failed = true;
  console.error(`\n${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
} finally {
  await kv.stop();
  await azurite?.stop();
}
process.exitCode = failed ? 1 : 0;
