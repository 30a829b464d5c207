/** Bundles the example page into `outdir` (default dist/); `fromSource` takes core-envelope/web from its TypeScript sources. */
export function bundlePage(options?: { outdir?: string; fromSource?: boolean }): Promise<{ outdir: string; inputs: string[] }>;
