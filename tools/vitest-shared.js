// Lets tests import workspace packages by name straight from their TypeScript sources,
// so unit tests never depend on a stale dist/.
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const webPkgs = ["core-envelope", "storage-blob", "storage-queue", "data-tables"];
const pkgs = ["core-envelope", "storage-blob", "storage-queue", "data-tables", "keyvault", "cli"];

// The testkit's subpaths (its package.json exports) come before its root: an alias also matches "NAME/…".
const testkit = path.join(root, "tools", "testkit");
const testkitEntries = { assertions: "assertions.mjs", random: "random.mjs", fuzz: "fuzz.mjs", vectors: "vectors.mjs", reliability: "reliability-support.ts" };

export function workspaceAliases() {
  return {
    // Subpath entries first: an alias also matches "<name>/<subpath>", so "<name>" alone would swallow them.
    "@azure-cse/core-envelope/internal": path.join(root, "packages", "core-envelope", "src", "internal.ts"),
    ...Object.fromEntries(webPkgs.map((p) => [`@azure-cse/${p}/web`, path.join(root, "packages", p, "src", "web", "index.ts")])),
    ...Object.fromEntries(pkgs.map((p) => [`@azure-cse/${p}`, path.join(root, "packages", p, "src", "index.ts")])),
    ...Object.fromEntries(Object.entries(testkitEntries).map(([sub, file]) => [`@azure-cse/testkit/${sub}`, path.join(testkit, file)])),
    "@azure-cse/testkit": path.join(testkit, "index.mjs"),
  };
}
export const repoRoot = root;
