/** fast-check parameters: `defaultRuns` in CI, AZCSE_FUZZ_RUNS (at most `maxRuns`) when set; AZCSE_FUZZ_SEED replays. */
export function budget(defaultRuns: number, maxRuns?: number): { numRuns: number; seed?: number; endOnFailure: true };
/** Timeout for a test running `defaultRuns` properties; scales with a long run. */
export function timeoutFor(defaultRuns: number, baseMs?: number, maxRuns?: number): number;
