import { defineConfig } from "vitest/config";
import { workspaceAliases } from "../../tools/vitest-shared.js";

export default defineConfig({
  resolve: { alias: workspaceAliases() },
  test: { include: ["test/**/*.test.ts"], testTimeout: 120_000, hookTimeout: 180_000 },
});
