// Shared setup of the browser test files: Azurite with CORS rules for blob, queue and table, a container and its
// SAS, the example page built by Vite (build.mjs → vite.config.mjs) from the web entries' TypeScript sources and served on a loopback port (plus an
// optional app handler such as the key backend), and Debian's chromium launched headless by playwright-core
// (never a downloaded browser) with the page loaded and the container SAS filled in.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { BlobServiceClient, ContainerSASPermissions, generateBlobSASQueryParameters, StorageSharedKeyCredential, type ContainerClient } from "@azure/storage-blob";
import { QueueSASPermissions, QueueServiceClient, generateQueueSASQueryParameters, type QueueClient } from "@azure/storage-queue";
import { AzureNamedKeyCredential, TableClient, TableServiceClient, generateTableSas } from "@azure/data-tables";
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite, type AzuriteHandle } from "@azure-cse/testkit";
import { bundlePage } from "../build.mjs";

export const CHROMIUM = process.env.AZCSE_CHROMIUM ?? "/usr/bin/chromium";
export const CHROMIUM_INSTALL = "apt-get update && apt-get install -y chromium";

export interface BrowserHarness {
  azurite: AzuriteHandle;
  container: ContainerClient;
  /** The container URL with a racwdl SAS (what the page's #sas field holds). */
  containerSasUrl: string;
  browser: Browser;
  page: Page;
  /** Where Vite built the page, its entry chunk (relative to outdir), the modules that went into it and the chunk's text. */
  bundle: { outdir: string; entry: string; inputs: string[]; code: string };
  /** Errors thrown in the page (pageerror) since it loaded. */
  pageErrors: string[];
  /** A new queue and its URL with a raup SAS. */
  newQueue(prefix: string): Promise<{ queue: QueueClient; url: string }>;
  /** A new table, the account's table endpoint and a SAS for it. */
  newTable(prefix: string): Promise<{ table: TableClient; endpoint: string; sas: string }>;
  stop(): Promise<void>;
}

const credential = () => new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY);

/** `app` sees every request first and returns true when it answered it (e.g. the example's key backend). */
export async function startBrowserHarness(options: { containerPrefix: string; app?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean> }): Promise<BrowserHarness> {
  if (!existsSync(CHROMIUM)) throw new Error(`Debian's chromium is missing at ${CHROMIUM} (the browser tests never download a browser). Install it as root:  ${CHROMIUM_INSTALL}`);
  let azurite: AzuriteHandle | undefined;
  let server: Server | undefined;
  let browser: Browser | undefined;
  let outdir: string | undefined;
  const stop = async () => {
    await browser?.close();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    await azurite?.stop();
    if (outdir) rmSync(outdir, { recursive: true, force: true });
  };
  try {
    azurite = await startAzurite();
    const cs = azurite.connectionString;
    const service = BlobServiceClient.fromConnectionString(cs);
    const cors = [{ allowedOrigins: "*", allowedMethods: "DELETE,GET,HEAD,MERGE,POST,OPTIONS,PUT,PATCH", allowedHeaders: "*", exposedHeaders: "*", maxAgeInSeconds: 600 }];
    await service.setProperties({ cors });
    await QueueServiceClient.fromConnectionString(cs).setProperties({ cors });
    await TableServiceClient.fromConnectionString(cs, { allowInsecureConnection: true }).setProperties({ cors });
    const container = service.getContainerClient(`${options.containerPrefix}${Date.now()}`);
    await container.create();
    const sas = generateBlobSASQueryParameters(
      { containerName: container.containerName, permissions: ContainerSASPermissions.parse("racwdl"), expiresOn: new Date(Date.now() + 3600_000) },
      credential(),
    ).toString();

    outdir = mkdtempSync(path.join(tmpdir(), "azcse-browser-"));
    const built = await bundlePage({ outdir, fromSource: true });
    const dir = outdir;
    const serveFile = (req: IncomingMessage, res: ServerResponse) => {
      const url = (req.url ?? "/").split("?")[0]!;
      const file = url === "/" ? "index.html" : path.normalize(url).replace(/^(\.\.[/\\])+/, "").replace(/^[/\\]+/, "");
      const p = path.join(dir, file);
      if (!p.startsWith(dir + path.sep) || !existsSync(p)) return res.writeHead(404).end();
      res.writeHead(200, { "content-type": file.endsWith(".html") ? "text/html" : file.endsWith(".map") ? "application/json" : "text/javascript" }).end(readFileSync(p));
    };
    server = createServer((req, res) => {
      void (options.app ? options.app(req, res) : Promise.resolve(false)).then((handled) => {
        if (!handled) serveFile(req, res);
      });
    });
    const s = server;
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;

    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    const page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(e.message));
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForFunction(() => typeof window.azcse === "object");
    const containerSasUrl = `${container.url}?${sas}`;
    await page.fill("#sas", containerSasUrl);

    return {
      azurite,
      container,
      containerSasUrl,
      browser,
      page,
      bundle: { outdir, entry: built.entry, inputs: built.inputs, code: readFileSync(path.join(outdir, built.entry), "utf8") },
      pageErrors,
      async newQueue(prefix) {
        const queue = QueueServiceClient.fromConnectionString(cs).getQueueClient(`${prefix}${Date.now()}`);
        await queue.create();
        const q = generateQueueSASQueryParameters(
          { queueName: queue.name, permissions: QueueSASPermissions.parse("raup"), expiresOn: new Date(Date.now() + 3600_000) },
          credential(),
        ).toString();
        return { queue, url: `${queue.url}?${q}` };
      },
      async newTable(prefix) {
        const name = `${prefix}${Date.now()}`;
        const table = TableClient.fromConnectionString(cs, name, { allowInsecureConnection: true });
        await table.createTable();
        const tsas = generateTableSas(name, new AzureNamedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY), { permissions: { query: true, add: true, update: true, delete: true }, expiresOn: new Date(Date.now() + 3600_000) });
        return { table, endpoint: table.url, sas: tsas }; // TableClient.url is the account endpoint (no table name)
      },
      stop,
    };
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }
}
