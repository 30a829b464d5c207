/**
 * Builds the example page with Vite (vite.config.mjs) into `outdir` (default dist/); `fromSource` takes the @azure-cse
 * web entries from their TypeScript sources. `entry` is the entry chunk (relative to outdir), `inputs` the bundled modules.
 */
export function bundlePage(options?: { outdir?: string; fromSource?: boolean }): Promise<{ outdir: string; entry: string; inputs: string[] }>;
/** "@azure-cse/<pkg>/web" → that package's src/web/index.ts. */
export const webSourceAliases: Record<string, string>;
/** Bundles an ES module source for the browser with esbuild (platform "browser", so the `browser` export condition applies). */
export function bundleEntry(contents: string, options?: { external?: string[]; fromSource?: boolean; minify?: boolean }): Promise<{ code: string; inputs: string[] }>;
