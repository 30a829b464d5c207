#!/usr/bin/env node
// Packaging check (issue 9): every publishable package packs to a tarball that installs into a fresh
// scratch project outside the workspace with only its declared dependencies and peers, and works from
// ESM, from CommonJS, and from TypeScript (moduleResolution node16, nodenext, bundler). Also checks the
// tarball contents (no tests, no sources maps of tests, no tsconfig) and reports sizes.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const PNPM = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")).packageManager;
const only = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const work = mkdtempSync(path.join(tmpdir(), "azcse-pack-"));
const packDir = path.join(work, "tarballs");
const failures = [];
const sh = (cmd, args, cwd, extraEnv = {}) => {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", env: { ...process.env, ...extraEnv } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed in ${cwd}:\n${(r.stdout ?? "").slice(-3000)}\n${(r.stderr ?? "").slice(-3000)}`);
  return r.stdout;
};

// A sample import per package: one value export that must exist at runtime.
const probes = {
  "@azure-cse/core-envelope": "AesKeyWrapKey",
  "@azure-cse/storage-blob": "EncryptedBlobClient",
  "@azure-cse/storage-queue": "EncryptedQueueClient",
  "@azure-cse/data-tables": "EncryptedTableClient",
  "@azure-cse/keyvault": "KeyVaultKeyEncryptionKey",
  "@azure-cse/cli": "main",
};

// Subpath entries: [subpath, one value export] (the Web Crypto browser entries, issue 17 — "." also carries a
// `browser` condition pointing at the same files, which Node and TypeScript ignore; core's @internal helpers, issue 15).
const subpathProbes = {
  "@azure-cse/core-envelope": [
    ["web", "createWebContentEncryption"],
    ["internal", "asciiJson"],
  ],
  "@azure-cse/storage-blob": [["web", "uploadEncryptedBlob"]],
  "@azure-cse/storage-queue": [["web", "encryptWebQueueMessage"]],
  "@azure-cse/data-tables": [["web", "encryptWebEntity"]],
};

const pkgs = readdirSync(path.join(root, "packages"))
  .map((d) => ({ dir: path.join(root, "packages", d), json: JSON.parse(readFileSync(path.join(root, "packages", d, "package.json"), "utf8")) }))
  .filter((p) => !p.json.private && (only.length === 0 || only.includes(p.json.name)));
const catalog = Object.fromEntries(
  [...readFileSync(path.join(root, "pnpm-workspace.yaml"), "utf8").matchAll(/^\s+"(@azure\/[^"]+)":\s*([^\s#]+)/gm)].map((m) => [m[1], m[2]]),
);

const bin = (n) => path.join(root, "node_modules", ".bin", n);
const tarballs = {};
for (const p of pkgs) {
  // publint (package.json, exports, files) and "are the types wrong" (ESM/CJS type resolution).
  try {
    sh(bin("publint"), ["--strict", p.dir], root);
    sh(bin("attw"), ["--pack", ".", "--format", "table-flipped"], p.dir);
    console.log(`${p.json.name}: publint and attw clean`);
  } catch (e) {
    failures.push(`${p.json.name}: ${e.message}`);
  }
  const out = sh("npx", ["-y", PNPM, "pack", "--pack-destination", packDir], p.dir);
  const file = out.trim().split("\n").filter((l) => l.endsWith(".tgz")).pop();
  const tgz = path.isAbsolute(file) ? file : path.join(packDir, path.basename(file));
  tarballs[p.json.name] = tgz;
  const listing = execFileSync("tar", ["-tzf", tgz], { encoding: "utf8" }).split("\n").filter(Boolean);
  const bad = listing.filter((f) => /\/(test|src)\/|tsconfig|vitest|tsup\.config|\.test\./.test(f));
  if (bad.length) failures.push(`${p.json.name}: tarball contains dev-only files: ${bad.slice(0, 5).join(", ")}`);
  console.log(`${p.json.name}: ${path.basename(tgz)} ${(statSync(tgz).size / 1024).toFixed(1)} KiB, ${listing.length} files`);
}

for (const p of pkgs) {
  const name = p.json.name;
  const proj = path.join(work, name.replace(/[@/]/g, "_"));
  sh("mkdir", ["-p", proj], work);
  writeFileSync(path.join(proj, "package.json"), JSON.stringify({ name: "scratch", private: true, version: "0.0.0" }, null, 2));
  // Only this package's own tarball, the internal packages it declares, and its peers.
  const internal = Object.keys(p.json.dependencies ?? {}).filter((d) => d.startsWith("@azure-cse/"));
  const peers = Object.keys(p.json.peerDependencies ?? {}).map((d) => `${d}@${catalog[d] ?? p.json.peerDependencies[d]}`);
  const installs = [tarballs[name], ...internal.map((d) => tarballs[d]), ...peers, "typescript@5.9.3", "@types/node@20"];
  sh("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", ...installs], proj);
  const probe = probes[name];
  try {
    const subs = subpathProbes[name] ?? [];
    const esmSubs = subs.map(([sp, v], i) => `import { ${v} as s${i} } from "${name}/${sp}";\nif (typeof s${i} === "undefined") throw new Error("missing ${sp} export");\n`).join("");
    const cjsSubs = subs.map(([sp, v]) => `if (typeof require("${name}/${sp}").${v} === "undefined") throw new Error("missing ${sp} export");\n`).join("");
    writeFileSync(path.join(proj, "esm.mjs"), `import { ${probe} } from "${name}";\n${esmSubs}if (typeof ${probe} === "undefined") throw new Error("missing export");\nconsole.log("esm ok");\n`);
    writeFileSync(path.join(proj, "cjs.cjs"), `const m = require("${name}");\n${cjsSubs}if (typeof m.${probe} === "undefined") throw new Error("missing export");\nconsole.log("cjs ok");\n`);
    sh("node", ["esm.mjs"], proj);
    sh("node", ["cjs.cjs"], proj);
    const tsSubs = subs.map(([sp, v], i) => `import { ${v} as s${i} } from "${name}/${sp}";\nexport const sub${i}: unknown = s${i};\n`).join("");
    writeFileSync(path.join(proj, "index.ts"), `import { ${probe} } from "${name}";\n${tsSubs}export const probe: unknown = ${probe};\n`);
    for (const [mod, res] of [["node16", "node16"], ["nodenext", "nodenext"], ["esnext", "bundler"]]) {
      writeFileSync(
        path.join(proj, `tsconfig.${res}.json`),
        JSON.stringify({ compilerOptions: { target: "es2022", module: mod, moduleResolution: res, strict: true, noEmit: true, skipLibCheck: false, types: ["node"] }, files: ["index.ts"] }),
      );
      sh(path.join(proj, "node_modules", ".bin", "tsc"), ["-p", `tsconfig.${res}.json`], proj);
    }
    console.log(`${name}: installs alone; ESM, CJS, TS node16/nodenext/bundler ok`);
  } catch (e) {
    failures.push(`${name}: ${e.message}`);
  }
}
rmSync(work, { recursive: true, force: true });
if (failures.length) {
  console.error(`\npackage check failed:\n- ${failures.join("\n- ")}`);
  process.exit(1);
}
console.log("package check passed");
