// Finds the fenced code blocks of a Markdown file and decides, for each, what the doc test does with it.
//
// Every fenced block either runs (```ts, ```js, ```sh and their aliases) or carries an explicit marker in an HTML
// comment right before it (only blank lines or other comments in between):
//
//   <!-- doc-test: skip REASON -->          not run; REASON is required and is listed in the test output
//   <!-- doc-test: skip-lines 2,3 REASON --> run, except these lines of the block (1-based), listed with REASON
//   <!-- doc-test: cwd repo -->             (sh) start in the checkout's root instead of the file's scratch dir
//   <!-- doc-test: file PATH -->            write the block to PATH (relative to the current dir, or ~/...) for a
//                                           later block to run; not run by itself
//   <!-- doc-test: setup                    shell lines run (in the same bash for sh blocks) before the block;
//   LINES -->                               for files the example expects, never for what it demonstrates
//
// Anything else is an error: a block in another language (or none) without `skip`, a `skip` without a reason,
// an unknown directive, a directive that is not followed by a block.

export type Kind = "ts" | "js" | "sh";

export interface Directives {
  skip?: string;
  skipLines?: { lines: number[]; reason: string };
  cwd?: "repo";
  file?: string;
  setup?: string;
}

export interface Block {
  /** Path of the Markdown file as given (repo-relative in the test). */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** Full info string after the fence, e.g. "ts web". */
  info: string;
  /** First word of the info string, lower case ("" when there is none). */
  lang: string;
  /** The block's content, de-indented by the fence's indentation. */
  code: string;
  directives: Directives;
}

export type Plan =
  | { action: "run"; kind: Kind }
  | { action: "write"; kind: Kind | "other"; path: string }
  | { action: "skip"; reason: string }
  | { action: "error"; message: string };

const LANGS: Record<string, Kind> = {
  ts: "ts",
  typescript: "ts",
  mts: "ts",
  js: "js",
  javascript: "js",
  mjs: "js",
  sh: "sh",
  bash: "sh",
  shell: "sh",
};

export function kindOf(lang: string): Kind | undefined {
  return LANGS[lang];
}

/** "README.md:17" */
export function where(b: Pick<Block, "file" | "line">): string {
  return `${b.file}:${b.line}`;
}

function parseDirective(text: string, at: string): { directives: Directives; error?: string } {
  // text: everything after "doc-test:" up to "-->"
  const body = text.replace(/^\s+/, "");
  const m = /^([a-z-]+)([\s\S]*)$/.exec(body);
  if (!m) return { directives: {}, error: `${at}: empty doc-test directive` };
  const [, name, restRaw] = m as unknown as [string, string, string];
  const rest = restRaw.trim();
  switch (name) {
    case "skip":
      if (!rest) return { directives: {}, error: `${at}: "doc-test: skip" needs a reason` };
      return { directives: { skip: rest.replace(/\s+/g, " ") } };
    case "skip-lines": {
      const sm = /^(\d+(?:\s*,\s*\d+)*)\s+(\S[\s\S]*)$/.exec(rest);
      if (!sm) return { directives: {}, error: `${at}: "doc-test: skip-lines" needs line numbers and a reason, e.g. "skip-lines 2 why"` };
      return { directives: { skipLines: { lines: sm[1]!.split(",").map((s) => Number(s.trim())), reason: sm[2]!.trim().replace(/\s+/g, " ") } } };
    }
    case "cwd":
      if (rest !== "repo") return { directives: {}, error: `${at}: "doc-test: cwd" only knows "repo"` };
      return { directives: { cwd: "repo" } };
    case "file":
      if (!rest || /\s/.test(rest)) return { directives: {}, error: `${at}: "doc-test: file" needs one path` };
      return { directives: { file: rest } };
    case "setup":
      if (!rest) return { directives: {}, error: `${at}: "doc-test: setup" needs shell lines` };
      return { directives: { setup: restRaw.replace(/^[^\n]*\n?/, (first) => (first.trim() ? first.trimStart() : "")).trimEnd() } };
    default:
      return { directives: {}, error: `${at}: unknown doc-test directive "${name}" (skip, skip-lines, cwd, file, setup)` };
  }
}

function merge(into: Directives, d: Directives, at: string, errors: string[]): void {
  for (const k of Object.keys(d) as (keyof Directives)[]) {
    if (into[k] !== undefined) errors.push(`${at}: doc-test directive "${k}" given twice for one block`);
  }
  Object.assign(into, d);
}

export function extractBlocks(markdown: string, file: string): { blocks: Block[]; errors: string[] } {
  const lines = markdown.split(/\r?\n/);
  const blocks: Block[] = [];
  const errors: string[] = [];
  let pending: Directives = {};
  let pendingAt: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const trimmed = line.trim();
    if (trimmed === "") continue;
    if (trimmed.startsWith("<!--")) {
      // An HTML comment, possibly over several lines.
      let j = i;
      let text = line;
      while (!text.includes("-->") && j + 1 < lines.length) text += "\n" + lines[++j]!;
      const inner = text.slice(text.indexOf("<!--") + 4, text.includes("-->") ? text.indexOf("-->") : undefined);
      const dm = /^\s*doc-test:([\s\S]*)$/.exec(inner);
      if (dm) {
        const at = `${file}:${i + 1}`;
        const { directives, error } = parseDirective(dm[1]!, at);
        if (error) errors.push(error);
        else merge(pending, directives, at, errors);
        pendingAt ??= at;
      } else if (/doc-test/i.test(inner)) {
        errors.push(`${file}:${i + 1}: comment mentions doc-test but is not "<!-- doc-test: ... -->"`);
      }
      i = j;
      continue;
    }
    const fence = /^(\s*)(`{3,}|~{3,})(.*)$/.exec(line);
    if (fence) {
      const [, indent, marks, infoRaw] = fence as unknown as [string, string, string, string];
      const info = infoRaw.trim();
      const close = new RegExp(`^\\s*${marks[0] === "`" ? "`" : "~"}{${marks.length},}\\s*$`);
      const body: string[] = [];
      let j = i + 1;
      while (j < lines.length && !close.test(lines[j]!)) {
        const l = lines[j]!;
        body.push(l.startsWith(indent) ? l.slice(indent.length) : l.trimStart());
        j++;
      }
      if (j >= lines.length) errors.push(`${file}:${i + 1}: code block is never closed`);
      blocks.push({ file, line: i + 1, info, lang: (info.split(/\s+/)[0] ?? "").toLowerCase(), code: body.join("\n"), directives: pending });
      pending = {};
      pendingAt = undefined;
      i = j;
      continue;
    }
    if (pendingAt) {
      errors.push(`${pendingAt}: doc-test directive is not followed by a code block`);
      pending = {};
      pendingAt = undefined;
    }
  }
  if (pendingAt) errors.push(`${pendingAt}: doc-test directive is not followed by a code block`);
  return { blocks, errors };
}

export function planBlock(b: Block): Plan {
  const d = b.directives;
  const kind = kindOf(b.lang);
  const at = `${where(b)} (\`\`\`${b.info || "<no language>"})`;
  if (d.skip !== undefined) {
    if (d.file !== undefined || d.cwd !== undefined || d.setup !== undefined || d.skipLines !== undefined) {
      return { action: "error", message: `${at}: "skip" cannot be combined with other doc-test directives` };
    }
    return { action: "skip", reason: d.skip };
  }
  if (d.file !== undefined) {
    if (d.cwd !== undefined || d.setup !== undefined || d.skipLines !== undefined) {
      return { action: "error", message: `${at}: "file" cannot be combined with other doc-test directives` };
    }
    return { action: "write", kind: kind ?? "other", path: d.file };
  }
  if (!kind) {
    return {
      action: "error",
      message: `${at}: a block the doc test cannot run needs "<!-- doc-test: skip REASON -->" right before it (it runs ts, js and sh blocks)`,
    };
  }
  if (d.cwd !== undefined && kind !== "sh") return { action: "error", message: `${at}: "cwd" is for sh blocks` };
  if (d.skipLines) {
    const n = b.code.split("\n").length;
    const bad = d.skipLines.lines.filter((l) => !Number.isInteger(l) || l < 1 || l > n);
    if (bad.length) return { action: "error", message: `${at}: skip-lines ${bad.join(",")} outside the block (1..${n})` };
  }
  return { action: "run", kind };
}

/**
 * Outputs an example promises: `console.log(...); // "text"` means stdout must contain `text`.
 */
export function expectedOutputs(b: Block): string[] {
  if (kindOf(b.lang) !== "ts" && kindOf(b.lang) !== "js") return [];
  const out: string[] = [];
  for (const line of b.code.split("\n")) {
    const m = /console\.(?:log|info)\(.*\/\/\s*("(?:[^"\\]|\\.)*")/.exec(line);
    if (m) out.push(JSON.parse(m[1]!) as string);
  }
  return out;
}

export interface Ports {
  blob: number;
  queue: number;
  table: number;
}

/**
 * What the test changes in a block before it runs it, and nothing else: Azurite's default ports (10000, 10001,
 * 10002) become the test Azurite's free ports, `~/` becomes the file's scratch home, and `skip-lines` lines become
 * no-ops. Returns the code and the list of rewrites made (printed with the block).
 */
export function rewrite(code: string, opts: { ports: Ports; home: string; skipLines?: number[]; kind: Kind | "other" }): { code: string; notes: string[] } {
  const notes: string[] = [];
  const portMap: Record<string, number> = { "10000": opts.ports.blob, "10001": opts.ports.queue, "10002": opts.ports.table };
  let out = code.replace(/\b(127\.0\.0\.1|localhost):(1000[012])\b/g, (_m, host: string, port: string) => {
    notes.push(`${host}:${port} → ${host}:${portMap[port]}`);
    return `${host}:${portMap[port]}`;
  });
  if (opts.kind === "sh") {
    out = out.replace(/(^|[\s=:"'(])~(?=\/|\s|$)/gm, (_m, pre: string) => {
      notes.push(`~ → ${opts.home}`);
      return `${pre}${opts.home}`;
    });
  }
  if (opts.skipLines?.length) {
    const lines = out.split("\n");
    for (const n of opts.skipLines) {
      notes.push(`line ${n} not run: ${lines[n - 1]!.trim()}`);
      lines[n - 1] = `: # doc-test: line ${n} not run`;
    }
    out = lines.join("\n");
  }
  return { code: out, notes: [...new Set(notes)] };
}

/** `~/x` → `<home>/x`; relative paths stay relative (to the block's directory). */
export function expandHome(p: string, home: string): string {
  return p === "~" ? home : p.startsWith("~/") ? home + p.slice(1) : p;
}
