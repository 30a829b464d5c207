// Type-aware flat config shared by every package.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const nodeGlobals = Object.fromEntries(
  ["process", "console", "setTimeout", "clearTimeout", "setInterval", "clearInterval", "setImmediate", "Buffer", "URL", "AbortController", "AbortSignal", "TextEncoder", "TextDecoder", "fetch", "structuredClone", "performance", "queueMicrotask"].map((g) => [g, "readonly"]),
);

export default tseslint.config(
  { ignores: ["**/dist/**", "**/node_modules/**", "**/*.cjs", "**/.turbo/**", "docs/api/**", "packages/*/review/**", "**/*.d.mts", "**/*.config.ts", "tools/python-sdk-vectors/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { globals: nodeGlobals, parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    linterOptions: { reportUnusedDisableDirectives: true },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/require-await": "off",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_" }],
      "no-restricted-properties": ["error", { object: "Math", property: "random", message: "Use the CSPRNG from core-envelope." }],
    },
  },
  {
    // Tests may use loose typing against SDK responses and JSON fixtures.
    files: ["**/test/**/*.ts"],
    rules: {
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      "@typescript-eslint/no-non-null-assertion": "off",
      "@typescript-eslint/require-await": "off",
    },
  },
  {
    // Modules that the browser bundles hold: the web entries and the crypto-free format modules their Node twins
    // import too. No Node built-in and no Buffer (examples/browser/test/browser.test.ts checks the bundles).
    files: ["packages/*/src/web/**/*.ts", "packages/*/src/shared/**/*.ts", "packages/core-envelope/src/content/chunks.ts", "packages/core-envelope/src/rotation.ts", "packages/core-envelope/src/kek/wrap-input.ts", "packages/core-envelope/src/service-errors.ts", "packages/core-envelope/src/internal/display.ts"],
    rules: {
      "no-restricted-globals": ["error", { name: "Buffer", message: "Browser code: use Uint8Array." }, { name: "process", message: "Browser code: no Node globals." }],
      "no-restricted-imports": ["error", { patterns: [{ group: ["node:*"], message: "Browser code: no Node built-ins." }] }],
    },
  },
  { files: ["**/*.js", "**/*.mjs"], ...tseslint.configs.disableTypeChecked },
);
