// Budget of the fuzz/property suites. CI runs a fixed, small budget; a longer run or a replay:
//   AZCSE_FUZZ_RUNS=5000 vitest run <file>   (runs per property; never fewer than the CI default)
//   AZCSE_FUZZ_SEED=1234 vitest run <file>   (replay the seed fast-check printed on a failure)

function envInt(name) {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === "") return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return n;
}

const RUNS_OVERRIDE = envInt("AZCSE_FUZZ_RUNS");
const SEED = envInt("AZCSE_FUZZ_SEED");

function runsFor(defaultRuns, maxRuns) {
  return RUNS_OVERRIDE === undefined ? defaultRuns : Math.max(defaultRuns, Math.min(RUNS_OVERRIDE, maxRuns));
}

/** fast-check parameters: `defaultRuns` in CI, AZCSE_FUZZ_RUNS (at most `maxRuns`) when set; AZCSE_FUZZ_SEED replays. */
export function budget(defaultRuns, maxRuns = Number.POSITIVE_INFINITY) {
  return { numRuns: runsFor(defaultRuns, maxRuns), ...(SEED === undefined ? {} : { seed: SEED }), endOnFailure: true };
}

/** Timeout for a test running `defaultRuns` properties; scales with a long run. */
export function timeoutFor(defaultRuns, baseMs = 20_000, maxRuns = Number.POSITIVE_INFINITY) {
  return Math.max(baseMs, Math.ceil((baseMs * runsFor(defaultRuns, maxRuns)) / defaultRuns));
}
