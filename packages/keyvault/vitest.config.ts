import path from "node:path";
import { defineConfig } from "vitest/config";
import { repoRoot, workspaceAliases } from "../../tools/vitest-shared.js";

// test/services.test.ts drives the blob, queue and table packages with a Key Vault key. Their Azure
// SDK peers are not dependencies of this package; resolve them from the packages that depend on them
// (same module instances as those packages' sources use).
const sdk = (pkg: string, name: string) => path.join(repoRoot, "packages", pkg, "node_modules", "@azure", name);

export default defineConfig({
  resolve: {
    alias: {
      ...workspaceAliases(),
      "@azure/storage-blob": sdk("storage-blob", "storage-blob"),
      "@azure/storage-queue": sdk("storage-queue", "storage-queue"),
      "@azure/data-tables": sdk("data-tables", "data-tables"),
    },
  },
  test: { include: ["test/**/*.test.ts"], testTimeout: 60_000, hookTimeout: 120_000 },
});
