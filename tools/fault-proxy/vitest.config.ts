import { createRequire } from "node:module";
import path from "node:path";
import { defineConfig } from "vitest/config";
import { repoRoot, workspaceAliases } from "../vitest-shared.js";

// This package has no dependencies of its own (nothing to install): the Azurite test borrows the
// @azure/storage-blob that packages/storage-blob already has installed as a dev dependency.
const fromBlobPackage = createRequire(path.join(repoRoot, "packages", "storage-blob", "package.json"));
const storageBlob = path.join(path.dirname(fromBlobPackage.resolve("@azure/storage-blob/package.json")), "dist", "esm", "index.js");

export default defineConfig({
  resolve: { alias: { ...workspaceAliases(), "@azure/storage-blob": storageBlob } },
  test: { include: ["test/**/*.test.ts"], testTimeout: 60_000, hookTimeout: 120_000 },
});
