// Inventory without reading content: a listing (blobs) or a query (entities), grouped by protocol, key id
// and writer library, with stored vs plaintext sizes and the unencrypted objects.
import type { BlobItem } from "@azure/storage-blob";
import { ClientSideEncryptionError, parseEncryptionData } from "@azure-cse/core-envelope";
import { toTypedError } from "@azure-cse/core-envelope";
import { describeEncryption } from "@azure-cse/storage-blob";
import { estimateEntitySize, METADATA1, METADATA2 } from "@azure-cse/data-tables";
import { blobPages, type BlobScope } from "./blob-ops.js";
import { formatBytes } from "./progress.js";
import { entityPages, type TableScope } from "./table-ops.js";

export interface ScanBucket {
  objects: number;
  storedBytes: number;
  /** Plaintext bytes: exact for 2.x and unencrypted blobs; a lower bound when `plaintextExact` is false. */
  plaintextBytes: number;
  /** False when some objects' plaintext size is not derivable from the listing (1.0: padding 1–16 bytes; tables). */
  plaintextExact: boolean;
}

export interface ScanReport {
  target: "blob" | "table";
  resource: string;
  scope: Record<string, string | null>;
  total: ScanBucket;
  encrypted: ScanBucket;
  unencrypted: ScanBucket;
  /** Encryption metadata present but unreadable (these can never be decrypted), by error code. */
  invalid: ScanBucket & { byCode: Record<string, number> };
  byProtocol: Record<string, ScanBucket>;
  byKeyId: Record<string, ScanBucket>;
  byLibrary: Record<string, ScanBucket>;
  /** 1.0 objects: what `azcse migrate` would re-encrypt (blobs). */
  needsMigration: { objects: number; storedBytes: number };
}

function bucket(): ScanBucket {
  return { objects: 0, storedBytes: 0, plaintextBytes: 0, plaintextExact: true };
}

class Aggregator {
  readonly report: ScanReport;
  constructor(target: ScanReport["target"], resource: string, scope: ScanReport["scope"]) {
    this.report = {
      target,
      resource,
      scope,
      total: bucket(),
      encrypted: bucket(),
      unencrypted: bucket(),
      invalid: { ...bucket(), byCode: {} },
      byProtocol: {},
      byKeyId: {},
      byLibrary: {},
      needsMigration: { objects: 0, storedBytes: 0 },
    };
  }
  add(b: ScanBucket, stored: number, plain: number, exact: boolean): void {
    b.objects++;
    b.storedBytes += stored;
    b.plaintextBytes += plain;
    if (!exact) b.plaintextExact = false;
  }
  in(map: Record<string, ScanBucket>, key: string): ScanBucket {
    return (map[key] ??= bucket());
  }
  object(o: { stored: number; plain: number; exact: boolean; encrypted: boolean; invalidCode?: string; protocol?: string; keyId?: string; library?: string }): void {
    const r = this.report;
    this.add(r.total, o.stored, o.plain, o.exact);
    if (!o.encrypted) return this.add(r.unencrypted, o.stored, o.plain, o.exact);
    if (o.invalidCode) {
      this.add(r.invalid, o.stored, 0, false);
      r.invalid.byCode[o.invalidCode] = (r.invalid.byCode[o.invalidCode] ?? 0) + 1;
      return;
    }
    this.add(r.encrypted, o.stored, o.plain, o.exact);
    this.add(this.in(r.byProtocol, o.protocol!), o.stored, o.plain, o.exact);
    this.add(this.in(r.byKeyId, o.keyId!), o.stored, o.plain, o.exact);
    this.add(this.in(r.byLibrary, o.library ?? "(not recorded)"), o.stored, o.plain, o.exact);
    if (o.protocol === "1.0") {
      r.needsMigration.objects++;
      r.needsMigration.storedBytes += o.stored;
    }
  }
}

/** Adds one listed blob to the inventory. */
function scanBlobItem(agg: Aggregator, item: BlobItem): void {
  const stored = item.properties.contentLength ?? 0;
  const d = describeEncryption(item.metadata, stored);
  if (!d.isClientSideEncrypted) return agg.object({ stored, plain: stored, exact: true, encrypted: false });
  if (d.encryptionDataError) return agg.object({ stored, plain: 0, exact: false, encrypted: true, invalidCode: d.encryptionDataError.code });
  const e = d.encryption!;
  // 1.0 adds 1–16 bytes of PKCS#7 padding (none on legacy page blobs): the lower bound is stored − 16.
  const v1Page = e.protocol === "1.0" && item.properties.blobType === "PageBlob";
  const exact = e.protocol !== "1.0" || v1Page;
  const plain = d.plaintextLength ?? (v1Page ? stored : Math.max(0, stored - 16));
  agg.object({ stored, plain, exact, encrypted: true, protocol: e.protocol, keyId: e.keyId, library: e.encryptionLibrary });
}

/** `select` keeps only some objects (`--shard K/N`); `shard` is then named in the report's scope. */
export interface ScanSelection<T> {
  select?: (item: T) => boolean;
  shard?: string;
}

function scopeWithShard(scope: Record<string, string | null>, shard: string | undefined): Record<string, string | null> {
  return shard ? { ...scope, shard } : scope;
}

export async function scanBlobs(scope: BlobScope & ScanSelection<BlobItem>): Promise<ScanReport> {
  const agg = new Aggregator("blob", scope.container.containerName, scopeWithShard({ prefix: scope.prefix ?? null }, scope.shard));
  for await (const page of blobPages(scope, null)) for (const item of page.items) if (!scope.select || scope.select(item)) scanBlobItem(agg, item);
  return agg.report;
}

/** Entities: stored size is the service's size estimate of the entity; plaintext needs the keys (not exact). */
export async function scanTable(scope: TableScope & ScanSelection<{ partitionKey: string; rowKey: string }>): Promise<ScanReport> {
  const agg = new Aggregator("table", scope.table.tableName, scopeWithShard({ partitionFrom: scope.partitionFrom ?? null, partitionTo: scope.partitionTo ?? null }, scope.shard));
  for await (const page of entityPages(scope, null, "all")) {
    for (const e of page.items) {
      if (scope.select && !scope.select(e)) continue;
      const pk = String(e.partitionKey);
      const rk = String(e.rowKey);
      const stored = estimateEntitySize(e, pk, rk);
      const m1 = e[METADATA1];
      if ((m1 === undefined || m1 === null) && (e[METADATA2] === undefined || e[METADATA2] === null)) {
        agg.object({ stored, plain: stored, exact: true, encrypted: false });
        continue;
      }
      try {
        if (typeof m1 !== "string") throw new ClientSideEncryptionError("INVALID_ENCRYPTION_DATA", `${METADATA1} is missing or not a string.`);
        const data = parseEncryptionData(m1);
        const library = data.keyWrappingMetadata?.EncryptionLibrary;
        agg.object({ stored, plain: 0, exact: false, encrypted: true, protocol: data.protocol, keyId: data.wrappedContentKey.keyId, library });
      } catch (err) {
        agg.object({ stored, plain: 0, exact: false, encrypted: true, invalidCode: toTypedError(err).code });
      }
    }
  }
  // A table never had a 2.x protocol: nothing there is "migrated"; report zero.
  agg.report.needsMigration = { objects: 0, storedBytes: 0 };
  return agg.report;
}

/** Human-readable table of a scan. */
export function formatScan(r: ScanReport): string {
  const rows: Array<[string, ScanBucket | undefined]> = [];
  const plain = (b: ScanBucket) => (r.target === "table" && b !== r.unencrypted && b.plaintextBytes === 0 && !b.plaintextExact ? "n/a" : `${b.plaintextExact ? "" : ">= "}${formatBytes(b.plaintextBytes)}`);
  rows.push(["all objects", r.total], ["encrypted", r.encrypted], ["unencrypted", r.unencrypted]);
  if (r.invalid.objects > 0) rows.push([`invalid metadata (${Object.entries(r.invalid.byCode).map(([c, n]) => `${c} ${n}`).join(", ")})`, r.invalid]);
  for (const [k, b] of Object.entries(r.byProtocol).sort()) rows.push([`protocol ${k}`, b]);
  for (const [k, b] of Object.entries(r.byKeyId).sort()) rows.push([`key ${k}`, b]);
  for (const [k, b] of Object.entries(r.byLibrary).sort()) rows.push([`writer ${k}`, b]);
  const w = Math.max(24, ...rows.map(([l]) => l.length));
  const scope = Object.entries(r.scope).filter(([, v]) => v !== null).map(([k, v]) => ` ${k}=${JSON.stringify(v)}`).join("");
  const lines = [`${r.target === "blob" ? "container" : "table"} ${r.resource}${scope}`, `${"".padEnd(w)}  ${"objects".padStart(9)}  ${"stored".padStart(11)}  ${"plaintext".padStart(14)}`];
  for (const [label, b] of rows) {
    if (!b) continue;
    lines.push(`${label.padEnd(w)}  ${String(b.objects).padStart(9)}  ${formatBytes(b.storedBytes).padStart(11)}  ${(b === r.invalid ? "-" : plain(b)).padStart(14)}`);
  }
  if (r.target === "blob") lines.push(`protocol 1.0 objects to migrate: ${r.needsMigration.objects} (${formatBytes(r.needsMigration.storedBytes)})`);
  return lines.join("\n") + "\n";
}
