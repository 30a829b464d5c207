/** Bundles the example page into `outdir` (default dist/); `fromSource` takes the @azure-cse web entries from their TypeScript sources. */
export function bundlePage(options?: { outdir?: string; fromSource?: boolean }): Promise<{ outdir: string; entry: string; inputs: string[] }>;
/** "@azure-cse/<pkg>/web" → that package's src/web/index.ts. */
export const webSourceAliases: Record<string, string>;
/** Bundles an ES module source for the browser (platform "browser", so the `browser` export condition applies). */
export function bundleEntry(contents: string, options?: { external?: string[]; fromSource?: boolean; minify?: boolean }): Promise<{ code: string; inputs: string[] }>;
