// The extractor's rules, on small Markdown inputs: what runs, what needs a marker, and what is an error.
import { describe, expect, it } from "vitest";
import { expandHome, expectedOutputs, extractBlocks, planBlock, rewrite } from "../extract.js";

const plans = (md: string) => {
  const { blocks, errors } = extractBlocks(md, "x.md");
  return { errors, plans: blocks.map((b) => ({ line: b.line, lang: b.lang, plan: planBlock(b), code: b.code, d: b.directives })) };
};

describe("extractBlocks / planBlock", () => {
  it("runs ts, js and sh blocks without a marker", () => {
    const { errors, plans: p } = plans("# t\n\n```ts\nconst a = 1;\n```\n\n~~~bash\necho hi\n~~~\n\n```js\nconsole.log(1)\n```\n");
    expect(errors).toEqual([]);
    expect(p.map((x) => [x.line, x.plan])).toEqual([
      [3, { action: "run", kind: "ts" }],
      [7, { action: "run", kind: "sh" }],
      [11, { action: "run", kind: "js" }],
    ]);
    expect(p[0]!.code).toBe("const a = 1;");
  });

  it("refuses an unmarked block it cannot run: another language or none", () => {
    const { plans: p } = plans("```python\nprint(1)\n```\n\n```\nsome diagram\n```\n\n```json\n{}\n```\n");
    expect(p.map((x) => x.plan.action)).toEqual(["error", "error", "error"]);
    expect(p[0]!.plan).toMatchObject({ message: expect.stringContaining("x.md:1") as unknown });
  });

  it("skips a marked block and keeps the reason; a marker without a reason is an error", () => {
    const md = "<!-- doc-test: skip output of a real run -->\n```json\n{}\n```\n\n<!-- doc-test: skip -->\n```sh\nls\n```\n";
    const { errors, plans: p } = plans(md);
    expect(p[0]!.plan).toEqual({ action: "skip", reason: "output of a real run" });
    expect(errors).toEqual(['x.md:6: "doc-test: skip" needs a reason']);
    // The block after the bad marker is not skipped: it runs.
    expect(p[1]!.plan).toEqual({ action: "run", kind: "sh" });
  });

  it("attaches a marker only to the block right after it (blank lines and comments in between)", () => {
    const md = "<!-- doc-test: skip why -->\n\n<!-- a note -->\n\n```sh\nls\n```\n\n<!-- doc-test: skip why -->\nSome prose.\n\n```sh\nls\n```\n";
    const { errors, plans: p } = plans(md);
    expect(p[0]!.plan.action).toBe("skip");
    expect(errors).toEqual(["x.md:9: doc-test directive is not followed by a code block"]);
    expect(p[1]!.plan.action).toBe("run");
  });

  it("reads setup, cwd, file and skip-lines; rejects unknown or conflicting directives", () => {
    const md = [
      "<!-- doc-test: setup",
      "touch a.txt",
      "touch b.txt",
      "-->",
      "<!-- doc-test: cwd repo -->",
      "<!-- doc-test: skip-lines 2 too slow -->",
      "```sh",
      "ls",
      "npm test",
      "```",
      "<!-- doc-test: file ~/app/x.mjs -->",
      "```js",
      "console.log(1)",
      "```",
      "<!-- doc-test: skp typo -->",
      "```sh",
      "ls",
      "```",
      "<!-- doc-test: skip a -->",
      "<!-- doc-test: cwd repo -->",
      "```sh",
      "ls",
      "```",
      "<!-- doc-test: skip-lines 5 out of range -->",
      "```sh",
      "ls",
      "```",
    ].join("\n");
    const { errors, plans: p } = plans(md);
    expect(p[0]!.d).toEqual({ setup: "touch a.txt\ntouch b.txt", cwd: "repo", skipLines: { lines: [2], reason: "too slow" } });
    expect(p[0]!.plan).toEqual({ action: "run", kind: "sh" });
    expect(p[1]!.plan).toEqual({ action: "write", kind: "js", path: "~/app/x.mjs" });
    expect(errors).toEqual(['x.md:15: unknown doc-test directive "skp" (skip, skip-lines, cwd, file, setup)']);
    expect(p[2]!.plan.action).toBe("run");
    expect(p[3]!.plan).toMatchObject({ action: "error", message: expect.stringContaining("cannot be combined") as unknown });
    expect(p[4]!.plan).toMatchObject({ action: "error", message: expect.stringContaining("outside the block") as unknown });
  });

  it("handles indented fences (list items), longer fences and an info string after the language", () => {
    const md = "- step:\n\n  ````ts web\n  const x = 1;\n    nested();\n  ````\n";
    const { errors, plans: p } = plans(md);
    expect(errors).toEqual([]);
    expect(p[0]).toMatchObject({ line: 3, lang: "ts", code: "const x = 1;\n  nested();" });
  });

  it("reports a block that is never closed", () => {
    expect(plans("```sh\nls\n").errors).toEqual(["x.md:1: code block is never closed"]);
  });
});

describe("expectedOutputs / rewrite", () => {
  it('takes `console.log(...); // "text"` as a promise about stdout', () => {
    const { blocks } = extractBlocks('```ts\nconsole.log(a); // "ell"\nconsole.log(b); // not quoted\nconsole.log(c) // "x \\"y\\"" and more\n```\n', "x.md");
    expect(expectedOutputs(blocks[0]!)).toEqual(["ell", 'x "y"']);
  });

  it("maps Azurite's default ports to the test's, ~ to the scratch home (sh only), and blanks skipped lines", () => {
    const ports = { blob: 1, queue: 2, table: 3 };
    const sh = rewrite("cd ~/a && X=~/b ls ~\nnpm test\necho http://127.0.0.1:10000/x localhost:10002 127.0.0.1:100001", { ports, home: "/h", kind: "sh", skipLines: [2] });
    expect(sh.code).toBe("cd /h/a && X=/h/b ls /h\n: # doc-test: line 2 not run\necho http://127.0.0.1:1/x localhost:3 127.0.0.1:100001");
    expect(sh.notes).toContain("line 2 not run: npm test");
    expect(rewrite("const p = '~/x';", { ports, home: "/h", kind: "ts" }).code).toBe("const p = '~/x';");
    expect(expandHome("~/app/x.mjs", "/h")).toBe("/h/app/x.mjs");
    expect(expandHome("x.mjs", "/h")).toBe("x.mjs");
  });
});
