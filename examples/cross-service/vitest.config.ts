import { defineConfig } from "vitest/config";

// No source aliases: the example uses the packages as an application would, through their built dist/
// (turbo builds the dependencies first).
export default defineConfig({
  test: { include: ["test/**/*.test.ts"], testTimeout: 120_000, hookTimeout: 120_000 },
});
