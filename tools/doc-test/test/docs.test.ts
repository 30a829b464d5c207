// Docs that run (issue 16): every code block of README.md, packages/*/README.md and docs/*.md either runs here,
// against an Azurite on free ports and the built workspace packages, or carries a `<!-- doc-test: skip REASON -->`
// marker and is listed below with its reason. A new block without a marker runs; if it fails, this test fails with
// the file and line. Conventions: tools/doc-test/README.md.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { AZURITE_KEY, startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectedOutputs, extractBlocks, planBlock, where, type Block, type Plan } from "../extract.js";
import { readerEnv, runBlock, slug, typecheck, writeBlockFile, type Session } from "../runner.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const pkgDir = path.resolve(here, "..");
const repo = path.resolve(pkgDir, "..", "..");

const mdFiles = [
  "README.md",
  ...readdirSync(path.join(repo, "packages"))
    .sort()
    .map((p) => `packages/${p}/README.md`)
    .filter((f) => {
      try {
        readFileSync(path.join(repo, f));
        return true;
      } catch {
        return false;
      }
    }),
  ...readdirSync(path.join(repo, "docs"))
    .filter((f) => f.endsWith(".md"))
    .sort()
    .map((f) => `docs/${f}`),
];

const parsed = mdFiles.map((file) => {
  const { blocks, errors } = extractBlocks(readFileSync(path.join(repo, file), "utf8"), file);
  return { file, errors, blocks: blocks.map((b) => ({ b, plan: planBlock(b) })) };
});
const all = parsed.flatMap((p) => p.blocks);
const runnable = (p: Plan): p is Extract<Plan, { action: "run" | "write" }> => p.action === "run" || p.action === "write";

const work = mkdtempSync(path.join(tmpdir(), "azcse-doc-test-"));
const runDir = path.join(work, "blocks");
mkdirSync(runDir);
// Generated files import "@azure-cse/storage-blob" etc.: resolved through this package's workspace links (dist/).
symlinkSync(path.join(pkgDir, "node_modules"), path.join(runDir, "node_modules"), "dir");

let azurite: AzuriteHandle;
const redact = (t: string) => t.split(AZURITE_KEY).join("<Azurite account key>");
const testStarted = Date.now();
const timings: string[] = [];

beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.stop();
  console.log(`doc test: ${timings.length} blocks run\n${timings.join("\n")}\ntotal ${((Date.now() - testStarted) / 1000).toFixed(1)} s`);
  rmSync(work, { recursive: true, force: true });
});

describe("inventory", () => {
  it("every code block runs or is marked with a reason", () => {
    const lines = all.map(({ b, plan }) => {
      const tag = `${where(b)} \`\`\`${b.info || "(none)"}`;
      switch (plan.action) {
        case "run":
          return `RUN    ${tag}${b.directives.skipLines ? ` (lines ${b.directives.skipLines.lines.join(",")} not run: ${b.directives.skipLines.reason})` : ""}`;
        case "write":
          return `FILE   ${tag} → ${plan.path}`;
        case "skip":
          return `MARKED ${tag}: not run: ${plan.reason}`;
        case "error":
          return `ERROR  ${plan.message}`;
      }
    });
    const counts = { run: 0, write: 0, skip: 0, error: 0 };
    for (const { plan } of all) counts[plan.action]++;
    console.log(`${all.length} code blocks in ${mdFiles.length} files: ${counts.run} run, ${counts.write} written as files for later blocks, ${counts.skip} marked not to run\n${lines.join("\n")}`);
    const errors = [...parsed.flatMap((p) => p.errors), ...all.flatMap(({ plan }) => (plan.action === "error" ? [plan.message] : []))];
    if (errors.length) throw new Error(`${errors.length} code block(s) neither run nor marked:\n${errors.join("\n")}`);
    // The scan itself must see the docs: a broken glob or parser must not pass with nothing to run.
    expect(counts.run).toBeGreaterThanOrEqual(8);
  });

  it("the TypeScript blocks type-check (strict, NodeNext) against the built packages", () => {
    const tsBlocks = all.filter(({ plan }) => plan.action === "run" && plan.kind === "ts").map(({ b }) => b);
    const diagnostics = typecheck(tsBlocks, runDir, repo);
    if (diagnostics.length) throw new Error(`${diagnostics.length} type error(s) in the docs' TypeScript blocks:\n${diagnostics.join("\n")}`);
    expect(tsBlocks.length).toBeGreaterThan(3);
  });
});

for (const { file, blocks } of parsed) {
  const toRun = blocks.filter(({ plan }) => runnable(plan)) as { b: Block; plan: Extract<Plan, { action: "run" | "write" }> }[];
  if (toRun.length === 0) continue;
  describe.sequential(file, () => {
    let session: Session;
    // Outputs promised by a `file` block (`console.log(...); // "text"`), checked on the next block that runs.
    let promised: { from: string; text: string }[] = [];
    beforeAll(() => {
      const home = path.join(work, "home", slug({ file, line: 0 }));
      mkdirSync(home, { recursive: true });
      session = {
        repo,
        home,
        cwd: home,
        runDir,
        ports: { blob: azurite.blobPort, queue: azurite.queuePort, table: azurite.tablePort },
        env: readerEnv(process.env, { AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString, DOC_TEST_REPO: repo, DOC_TEST_HOME: home }),
        timeoutMs: 240_000,
      };
    });
    for (const { b, plan } of toRun) {
      it(`${where(b)} \`\`\`${b.info}${plan.action === "write" ? ` → ${plan.path}` : ""}`, async () => {
        if (plan.action === "write") {
          const w = writeBlockFile(b, plan.path, session);
          promised.push(...expectedOutputs(b).map((text) => ({ from: where(b), text })));
          timings.push(`  FILE ${where(b)} → ${w.path}${w.notes.length ? ` [${w.notes.join("; ")}]` : ""}`);
          return;
        }
        const r = await runBlock(b, plan.kind, session, redact);
        const expected = [...promised, ...expectedOutputs(b).map((text) => ({ from: where(b), text }))];
        promised = [];
        for (const { from, text } of expected) {
          expect(r.stdout, `${where(b)}: ${from} says it prints ${JSON.stringify(text)}; stdout was:\n${r.stdout}`).toContain(text);
        }
        timings.push(
          `  RUN  ${where(b)} ${b.info} ${(r.ms / 1000).toFixed(1)} s` +
            (expected.length ? ` (printed ${expected.map((e) => JSON.stringify(e.text)).join(", ")})` : "") +
            (r.notes.length ? ` [${r.notes.join("; ")}]` : "") +
            (r.stdout.trim() ? `\n       last output line: ${r.stdout.trim().split("\n").pop()!.slice(0, 160)}` : ""),
        );
      });
    }
  });
}
