// The README's example must run as written: extract its TypeScript block, write it next to this test and
// import it (vitest resolves @azure-cse/core-envelope to the sources), capturing what it prints.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, expect, it, vi } from "vitest";

const here = path.dirname(new URL(import.meta.url).pathname);
let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  vi.restoreAllMocks();
});

it("the README example runs as written and prints the decrypted range", async () => {
  const readme = readFileSync(path.join(here, "..", "README.md"), "utf8");
  const block = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(block, "README has a ```ts example").toBeTruthy();
  dir = mkdtempSync(path.join(here, ".readme-"));
  const file = path.join(dir, "example.ts");
  writeFileSync(file, `${block}\nexport {};\n`);
  const printed: unknown[] = [];
  vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => void printed.push(args.join(" ")));
  await import(file);
  expect(printed).toEqual(["ell"]);
});
