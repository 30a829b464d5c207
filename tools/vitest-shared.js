// Lets tests import workspace packages by name straight from their TypeScript sources,
// so unit tests never depend on a stale dist/.
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const webPkgs = ["core-envelope", "storage-blob", "storage-queue", "data-tables"];
const pkgs = ["core-envelope", "storage-blob", "storage-queue", "data-tables", "keyvault", "cli"];

export function workspaceAliases() {
  return {
    // Subpath entries first: an alias also matches "<name>/<subpath>", so "<name>" alone would swallow them.
    ...Object.fromEntries(webPkgs.map((p) => [`@azure-cse/${p}/web`, path.join(root, "packages", p, "src", "web", "index.ts")])),
    ...Object.fromEntries(pkgs.map((p) => [`@azure-cse/${p}`, path.join(root, "packages", p, "src", "index.ts")])),
    "@azure-cse/testkit": path.join(root, "tools", "testkit", "index.mjs"),
  };
}
export const repoRoot = root;
