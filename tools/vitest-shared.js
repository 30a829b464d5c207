// Lets tests import workspace packages by name straight from their TypeScript sources,
// so unit tests never depend on a stale dist/.
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const pkgs = ["core-envelope", "storage-blob", "storage-queue", "data-tables", "keyvault", "cli"];

export function workspaceAliases() {
  return {
    // Subpath entries first: an alias matches its prefix, so the package root would swallow them.
    "@azure-cse/core-envelope/internal": path.join(root, "packages", "core-envelope", "src", "internal.ts"),
    ...Object.fromEntries(pkgs.map((p) => [`@azure-cse/${p}`, path.join(root, "packages", p, "src", "index.ts")])),
    "@azure-cse/testkit": path.join(root, "tools", "testkit", "index.mjs"),
  };
}
export const repoRoot = root;
