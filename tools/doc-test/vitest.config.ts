import { defineConfig } from "vitest/config";

// No source aliases: the examples run in their own Node processes against the built packages (dist/, through
// this package's workspace links), as an application would use them. turbo builds the dependencies first.
export default defineConfig({
  test: { include: ["test/**/*.test.ts"], testTimeout: 300_000, hookTimeout: 120_000 },
});
