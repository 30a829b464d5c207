// Lets tests import workspace packages by name straight from their TypeScript sources,
// so unit tests never depend on a stale dist/.
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const pkgs = ["core-envelope", "storage-blob", "storage-queue", "data-tables", "keyvault", "cli"];

export function workspaceAliases() {
  return {
    ...Object.fromEntries(pkgs.map((p) => [`@azure-cse/${p}`, path.join(root, "packages", p, "src", "index.ts")])),
    "@azure-cse/testkit": path.join(root, "tools", "testkit", "index.mjs"),
  };
}
export const repoRoot = root;
