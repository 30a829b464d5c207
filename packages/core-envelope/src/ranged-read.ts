// The ranged-read façade: plan → unwrap → plaintext length → authenticated stream, the one read path of the
// blob client (download) and the CLI's offline decrypt. Every read unwraps the content key, and a read that
// returns no plaintext (empty range, offset at or past the end) still authenticates a stored region
// (2.x) or checks the padding (1.0) before it succeeds.
import { decryptionFailed } from "./errors.js";
import { wipe } from "./internal/bytes.js";
import type { KeyOperationOptions } from "./kek/types.js";
import type { ClientSideEncryptionPolicy } from "./policy.js";
import type { EncryptionData } from "./schema/encryption-data.js";
import { collectBytes, decryptCbc, type ByteSource } from "./content/streams.js";
import { planRange, v2PlaintextLength, type PlaintextRange, type RangePlan } from "./content/sizes.js";
import { decryptPlanned, unwrapContentKey, type DecryptOptions } from "./envelope.js";

/**
 * Fetches stored bytes [offset, offset + count) (`count` undefined: to the end). `purpose` "length" is the 1.0
 * plaintext-length read of the last one or two CBC blocks; "content" is the read whose bytes are decrypted (a
 * caller that already holds the whole body, e.g. from a whole-blob GET, may return it for "content").
 */
export type StoredRangeFetch = (offset: number, count: number | undefined, purpose: "content" | "length") => ByteSource | Promise<ByteSource>;

export interface OpenRangedReadOptions extends KeyOperationOptions {
  /** Plaintext range; default the whole body. */
  range?: PlaintextRange;
  /** 1.0 legacy page blobs carry no padding; default true. */
  padded?: boolean;
  /**
   * A known content key (already unwrapped for this EncryptionData); the read then uses, and wipes, a copy. Without
   * it the key is unwrapped through the policy (every read authenticates its key).
   */
  contentKey?: Uint8Array;
}

export interface RangedRead {
  /** Exact plaintext bytes `body` yields. */
  readonly contentLength: number;
  /** The plan the read follows (stored bytes fetched, bytes skipped and kept). */
  readonly plan: RangePlan;
  /**
   * The authenticated plaintext. It ends with DECRYPTION_FAILED when the stored bytes give fewer bytes than
   * `contentLength`. The content key is wiped when it ends, fails or is returned early.
   */
  readonly body: AsyncGenerator<Buffer>;
  /** Wipes the content key without reading (a read that is abandoned before `body` is iterated). */
  dispose(): void;
}

/** 1.0: exact plaintext length from the last one or two CBC blocks (the padding tells). */
async function v1PlaintextLength(data: Extract<EncryptionData, { protocol: "1.0" }>, cek: Uint8Array, stored: number, fetch: StoredRangeFetch): Promise<number> {
  if (stored < 16 || stored % 16 !== 0) throw decryptionFailed();
  const start = stored >= 32 ? stored - 32 : 0;
  const tail = await fetch(start, stored - start, "length");
  const last = await collectBytes(decryptCbc(tail, cek, data.contentEncryptionIV, { unpad: true, ivFromStream: stored >= 32 }));
  return stored - 16 + last.length;
}

/**
 * Exact plaintext length of a stored body: 2.x from the stored length (a length no plaintext maps to is
 * DECRYPTION_FAILED); 1.0 unpadded page blobs: the stored length; 1.0 padded: from the last CBC blocks.
 */
export async function plaintextLengthOf(data: EncryptionData, cek: Uint8Array, storedLength: number, fetch: StoredRangeFetch, padded = true): Promise<number> {
  if (data.protocol === "1.0") return padded ? v1PlaintextLength(data, cek, storedLength, fetch) : storedLength;
  const p = v2PlaintextLength(storedLength, data.encryptedRegionInfo.dataLength);
  if (p === undefined) throw decryptionFailed();
  return p;
}

async function* nothing(): AsyncGenerator<Buffer> {
  yield* [];
}

/**
 * Opens a read of a plaintext range of a stored body: unwraps the content key (always), plans the range, finds the
 * exact plaintext length, and returns the authenticated stream. Reads that return no plaintext authenticate first
 * (the plan's stored region is fetched and verified; 1.0: the padding) and return an empty body.
 */
export async function openRangedRead(
  data: EncryptionData,
  policy: ClientSideEncryptionPolicy,
  storedLength: number,
  fetch: StoredRangeFetch,
  options: OpenRangedReadOptions = {},
): Promise<RangedRead> {
  const padded = options.padded ?? true;
  const range = options.range ?? { offset: 0 };
  // Every read selects and unwraps the content key, even when no byte will be returned.
  const cek = options.contentKey ? Buffer.from(options.contentKey) : Buffer.from(await unwrapContentKey(data, policy, options));
  const empty = (plan: RangePlan): RangedRead => {
    wipe(cek);
    return { contentLength: 0, plan, body: nothing(), dispose: () => undefined };
  };
  try {
    const plan = planRange(data, range, storedLength, { padded });
    if (plan.empty || plan.take === 0) {
      // No plaintext to return; any stored region is still authenticated before success.
      if (!plan.empty) await collectBytes(decryptPlanned(data, cek, plan, await fetch(plan.storedOffset, plan.storedCount, "content"), policy, padded));
      return empty(plan);
    }
    let contentLength: number;
    if (data.protocol === "1.0" && !plan.includesLastBlock) {
      contentLength = plan.take!;
    } else {
      const total = await plaintextLengthOf(data, cek, storedLength, fetch, padded);
      contentLength = Math.max(0, Math.min(range.count === undefined ? total : range.offset + range.count, total) - range.offset);
    }
    if (contentLength === 0) return empty(plan);
    const source = await fetch(plan.storedOffset, plan.storedCount, "content");
    const body = (async function* (): AsyncGenerator<Buffer> {
      let delivered = 0;
      try {
        for await (const chunk of decryptPlanned(data, cek, plan, source, policy, padded)) {
          delivered += chunk.length;
          yield chunk;
        }
        if (delivered !== contentLength) throw decryptionFailed();
      } finally {
        wipe(cek);
      }
    })();
    return { contentLength, plan, body, dispose: () => wipe(cek) };
  } catch (e) {
    wipe(cek);
    throw e;
  }
}

/**
 * Convenience: unwrap + plan + authenticated decrypt over a function that fetches a stored byte range, without the
 * plaintext-length step of `openRangedRead` (one fetch: the planned range). A plan with `take` 0 still verifies its
 * stored bytes.
 */
export async function decryptRange(
  data: EncryptionData,
  policy: ClientSideEncryptionPolicy,
  storedLength: number,
  fetch: (offset: number, count: number | undefined) => ByteSource | Promise<ByteSource>,
  options: DecryptOptions = {},
): Promise<AsyncGenerator<Buffer>> {
  // Every read unwraps the key first (a forged KeyId or EncryptedKey fails even when nothing is stored).
  const cek = await unwrapContentKey(data, policy, options);
  let plan: RangePlan;
  try {
    plan = planRange(data, options.range ?? { offset: 0 }, storedLength, { padded: options.padded ?? true });
  } catch (e) {
    wipe(cek);
    throw e;
  }
  if (plan.empty) {
    wipe(cek);
    return nothing();
  }
  const source = await fetch(plan.storedOffset, plan.storedCount);
  return decryptPlanned(data, cek, plan, source, policy, options.padded ?? true);
}
