// --shard K/N: a stable hash of each object's name assigns it to exactly one of N workers, so any job
// runner (a Kubernetes Indexed Job, an Azure Batch task array, a CI matrix) can split one container or
// table without a coordinator. The hash is documented (docs/operations.md) so it can be reproduced:
//   blobs:    uint48 big-endian of the first 6 bytes of SHA-256(UTF-8 name), modulo N
//   entities: the same over UTF-8(PartitionKey) 0x00 UTF-8(RowKey) (control characters, 0x00 included,
//             are not allowed in either key, so the separator is unambiguous)
import { createHash } from "node:crypto";
import { ClientSideEncryptionError } from "@azure-cse/core-envelope";

export interface Shard {
  /** 0-based (JOB_COMPLETION_INDEX is 0-based). */
  index: number;
  count: number;
}

/** Workers at most (a limit of sanity, not of the hash). */
export const MAX_SHARDS = 100_000;

/** Parses "K/N" with 0 ≤ K < N ≤ MAX_SHARDS; INVALID_ARGUMENT otherwise. */
export function parseShard(text: string): Shard {
  const m = /^(\d{1,6})\/(\d{1,6})$/.exec(text.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || !(count >= 1 && count <= MAX_SHARDS) || !(index >= 0 && index < count)) {
    throw new ClientSideEncryptionError("INVALID_ARGUMENT", `--shard must be K/N with 0 <= K < N <= ${MAX_SHARDS} (K is 0-based, like JOB_COMPLETION_INDEX); got "${text}".`);
  }
  return { index, count };
}

function bucketOf(digest: Buffer, count: number): number {
  return digest.readUIntBE(0, 6) % count;
}

/** Shard (0…count-1) of a blob name. */
export function shardOfName(name: string, count: number): number {
  return bucketOf(createHash("sha256").update(name, "utf8").digest(), count);
}

/** Shard (0…count-1) of a table entity. */
export function shardOfEntity(partitionKey: string, rowKey: string, count: number): number {
  return bucketOf(createHash("sha256").update(partitionKey, "utf8").update(Buffer.of(0)).update(rowKey, "utf8").digest(), count);
}

export function formatShard(s: Shard): string {
  return `${s.index}/${s.count}`;
}
