// Runs one planned block in its own process: sh with bash, ts (transpiled) and js with node. The blocks import the
// workspace packages by their published names; they resolve through this package's node_modules (workspace links
// to the built dist/ of each package), symlinked next to the generated files.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import ts from "typescript";
import { expandHome, rewrite, type Block, type Kind, type Ports } from "./extract.js";

export interface Session {
  /** The checkout under test. */
  repo: string;
  /** Scratch "home" of this Markdown file: `~/` in its sh blocks and `file` paths. */
  home: string;
  /** Where the next block starts (an sh block's final `cd` carries over, except for `cwd repo` blocks). */
  cwd: string;
  /** Generated .mjs/.mts files, beside a node_modules link. */
  runDir: string;
  ports: Ports;
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  notes: string[];
  ms: number;
}

export function slug(b: Pick<Block, "file" | "line">): string {
  return `${b.file.replace(/[^A-Za-z0-9]+/g, "_")}_L${b.line}`;
}

/**
 * The environment a reader's shell would have: no npm/pnpm script variables, no vitest or turbo variables, and no
 * `node_modules/.bin` of the workspace on PATH (so `npx azcse` must find the CLI the block itself installed).
 */
export function readerEnv(base: NodeJS.ProcessEnv, extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(base)) {
    if (v === undefined) continue;
    if (/^(npm_|pnpm_|PNPM_|VITEST|TURBO_|__VITEST)/i.test(k) || k === "INIT_CWD" || k === "TEST") continue;
    if (k === "NODE_ENV" && v === "test") continue;
    env[k] = v;
  }
  env.PATH = (base.PATH ?? "")
    .split(path.delimiter)
    .filter((p) => p && !p.includes(`${path.sep}node_modules${path.sep}.bin`) && !p.endsWith(`${path.sep}node_modules${path.sep}.bin`))
    .join(path.delimiter);
  return { ...env, ...extra };
}

function exec(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string; timedOut: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, "SIGKILL"); // the whole process group: npm, pnpm, node children
      } catch {
        child.kill("SIGKILL");
      }
    }, timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** An error whose message is the whole report: no stack, so the runner's own frames do not hide the block's. */
function blockError(message: string): Error {
  const e = new Error(message);
  e.stack = `Error: ${message}`;
  return e;
}

function tail(s: string, n: number): string {
  const lines = s.trimEnd().split("\n");
  return (lines.length > n ? [`… (${lines.length - n} lines before)`, ...lines.slice(-n)] : lines).join("\n");
}

/**
 * Strips the types of a ts (or js) block. The block is padded to its line in the Markdown file and carries an
 * inline source map naming that file, so a stack trace (node --enable-source-maps) points at `README.md:25`.
 */
export function transpile(code: string, mdFile: string, line: number): string {
  return ts.transpileModule("\n".repeat(line) + code, {
    fileName: path.basename(mdFile),
    compilerOptions: {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2022,
      verbatimModuleSyntax: false,
      inlineSourceMap: true,
      inlineSources: true,
      sourceRoot: path.dirname(mdFile) + path.sep,
    },
  }).outputText;
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Runs a block; throws an Error naming the file and line, with the output, when it fails. */
export async function runBlock(b: Block, kind: Kind, s: Session, redact: (t: string) => string): Promise<RunResult> {
  const started = Date.now();
  const { code, notes } = rewrite(b.code, { ports: s.ports, home: s.home, skipLines: b.directives.skipLines?.lines, kind });
  const setup = b.directives.setup ? rewrite(b.directives.setup, { ports: s.ports, home: s.home, kind: "sh" }).code : "";
  const cwdFile = path.join(s.runDir, `${slug(b)}.cwd`);
  const start = b.directives.cwd === "repo" ? s.repo : s.cwd;
  let r;
  if (kind === "sh") {
    // The ERR trap names the Markdown line of the command that failed (bash's LINENO, shifted by the header).
    const header = ["set -euo pipefail", b.directives.cwd === "repo" ? "" : `trap 'pwd > ${quote(cwdFile)}' EXIT`, "", `cd ${quote(start)}`, ...(setup ? setup.split("\n") : [])];
    const codeStart = header.length + 1;
    const delta = b.line + 1 - codeStart;
    // errtrace (-E): also when the failing command is in a function defined by setup (then the call site is the
    // first caller line inside the block, from BASH_LINENO).
    header[2] =
      `set -E; trap 'w="the doc-test setup of the block"; for l in $LINENO "\${BASH_LINENO[@]}"; do ` +
      `if [ "$l" -ge ${codeStart} ]; then w="${b.file}:$((l + ${delta}))"; break; fi; done; echo "doc-test: failed at $w" >&2' ERR`;
    const script = [...header, code, ""].join("\n");
    const file = path.join(s.runDir, `${slug(b)}.sh`);
    writeFileSync(file, script);
    r = await exec("bash", [file], start, s.env, s.timeoutMs);
  } else {
    if (setup) {
      const file = path.join(s.runDir, `${slug(b)}.setup.sh`);
      writeFileSync(file, `set -euo pipefail\ncd ${quote(start)}\n${setup}\n`);
      const sr = await exec("bash", [file], start, s.env, s.timeoutMs);
      if (sr.code !== 0) throw blockError(redact(`${b.file}:${b.line}: the block's doc-test setup failed (exit ${sr.code}):\n${tail(sr.stderr, 30)}`));
    }
    const file = path.join(s.runDir, `${slug(b)}.mjs`);
    writeFileSync(file, transpile(code, path.join(s.repo, b.file), b.line));
    r = await exec(process.execPath, ["--enable-source-maps", file], start, s.env, s.timeoutMs);
  }
  if (b.directives.cwd !== "repo" && existsSync(cwdFile)) {
    s.cwd = readFileSync(cwdFile, "utf8").trim() || s.cwd;
    rmSync(cwdFile);
  }
  const ms = Date.now() - started;
  if (r.code !== 0 || r.timedOut) {
    const why = r.timedOut ? `timed out after ${s.timeoutMs / 1000} s` : `exit ${r.code ?? r.signal}`;
    throw blockError(
      redact(
        `${b.file}:${b.line} (\`\`\`${b.info} block) failed: ${why}` +
          (notes.length ? `\n  rewrites: ${notes.join("; ")}` : "") +
          `\n--- stderr ---\n${tail(r.stderr, 40)}\n--- stdout ---\n${tail(r.stdout, 20)}`,
      ),
    );
  }
  return { stdout: r.stdout, stderr: r.stderr, notes, ms };
}

/** A `file` block: written (with the same rewrites) where a later block expects it. */
export function writeBlockFile(b: Block, target: string, s: Session): { path: string; notes: string[] } {
  const { code, notes } = rewrite(b.code, { ports: s.ports, home: s.home, kind: "other" });
  const p = path.resolve(s.cwd, expandHome(target, s.home));
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, code.endsWith("\n") ? code : code + "\n");
  return { path: p, notes };
}

/** Type-checks the ts blocks (strict, NodeNext) against the built packages' declarations. */
export function typecheck(blocks: Block[], runDir: string, repo: string): string[] {
  const files = new Map<string, Block>();
  for (const b of blocks) {
    const f = path.join(runDir, `${slug(b)}.mts`);
    writeFileSync(f, `${b.code}\nexport {};\n`);
    files.set(f, b);
  }
  const program = ts.createProgram([...files.keys()], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ["lib.es2023.d.ts"],
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: ["node"],
    typeRoots: [path.join(repo, "node_modules", "@types")],
  });
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const msg = ts.flattenDiagnosticMessageText(d.messageText, "\n");
    const b = d.file ? files.get(path.resolve(d.file.fileName)) : undefined;
    if (d.file && b && d.start !== undefined) {
      const { line } = d.file.getLineAndCharacterOfPosition(d.start);
      return `${b.file}:${b.line + 1 + line}: TS${d.code}: ${msg}`;
    }
    return `${d.file?.fileName ?? "(global)"}: TS${d.code}: ${msg}`;
  });
}
