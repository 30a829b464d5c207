// Small helpers shared by the blob and container clients. Not exported from the package.
import { randomBytes } from "node:crypto";
import {
  ClientSideEncryptionError,
  ENCRYPTION_DATA_METADATA_KEY,
  V2_REGION_OVERHEAD,
  V2_NONCE_LENGTH,
  type EncryptionData,
} from "@azure-cse/core-envelope";

/** An options argument: undefined or null mean none; anything else but an object is INVALID_ARGUMENT naming it. */
export function optionsOf<T extends object>(options: T | null | undefined, what: string): T {
  if (options === undefined || options === null) return {} as T;
  if (typeof options !== "object" || Array.isArray(options)) {
    throw new ClientSideEncryptionError("INVALID_ARGUMENT", `${what} must be an options object (got ${Array.isArray(options) ? "an array" : typeof options}).`);
  }
  return options;
}

/** A caller string argument (names, paths): INVALID_ARGUMENT naming it when it is not a non-empty string. */
export function checkString(value: unknown, what: string): asserts value is string {
  if (typeof value !== "string" || value.length === 0) {
    throw new ClientSideEncryptionError("INVALID_ARGUMENT", `${what} must be a non-empty string (got ${value === null ? "null" : typeof value}).`);
  }
}

/** Copies caller metadata (never mutating it) and refuses a caller key `encryptiondata` in any letter case. */
export function copyUserMetadata(metadata: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (metadata === undefined || metadata === null) return out;
  if (typeof metadata !== "object" || Array.isArray(metadata)) {
    throw new ClientSideEncryptionError("INVALID_ARGUMENT", "metadata must be an object of string values.");
  }
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== "string") {
      throw new ClientSideEncryptionError("INVALID_ARGUMENT", `metadata value of "${k.slice(0, 64)}" must be a string (got ${v === null ? "null" : typeof v}).`, { details: { key: k } });
    }
    if (k.toLowerCase() === ENCRYPTION_DATA_METADATA_KEY) {
      throw new ClientSideEncryptionError(
        "INVALID_ARGUMENT",
        `The metadata key "${k}" is reserved: this client writes and preserves the encryption metadata itself.`,
        { details: { key: k } },
      );
    }
    out[k] = v;
  }
  return out;
}

/** Metadata without any `encryptiondata` key (any case). */
export function withoutEncryptionData(metadata: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(metadata ?? {})) if (k.toLowerCase() !== ENCRYPTION_DATA_METADATA_KEY) out[k] = v;
  return out;
}

/** Fixed-length block ids for one upload (a random prefix keeps concurrent uploads apart). */
export function blockIdFactory(): (index: number) => string {
  const prefix = randomBytes(12).toString("hex");
  return (index) => Buffer.from(`${prefix}-${index.toString().padStart(6, "0")}`).toString("base64");
}

/** Maps a count of stored (ciphertext) bytes already transferred to the plaintext bytes they carry. */
export function plaintextProgress(data: EncryptionData, stored: number, plaintextTotal = Number.POSITIVE_INFINITY): number {
  let plain: number;
  if (data.protocol === "1.0") plain = stored;
  else {
    const L = data.encryptedRegionInfo.dataLength;
    const R = L + V2_REGION_OVERHEAD;
    const full = Math.floor(stored / R);
    const rest = stored - full * R;
    plain = full * L + Math.min(Math.max(rest - V2_NONCE_LENGTH, 0), L);
  }
  return Math.min(plain, plaintextTotal);
}

/** Validates an optional non-negative integer argument. */
export function checkNonNegative(value: number | undefined, name: string): void {
  if (value === undefined) return;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new ClientSideEncryptionError("INVALID_ARGUMENT", `${name} must be a non-negative integer.`, { details: { [name]: String(value) } });
  }
}

/** Validates an optional positive integer argument. */
export function checkPositive(value: number | undefined, name: string): void {
  if (value === undefined) return;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new ClientSideEncryptionError("INVALID_ARGUMENT", `${name} must be a positive integer.`, { details: { [name]: String(value) } });
  }
}

/**
 * Runs `count` tasks with at most `concurrency` in flight. The first failure stops new tasks from
 * starting, aborts the shared controller, waits for the running ones and is rethrown.
 */
export async function runPool(count: number, concurrency: number, controller: AbortController, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { e: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (!failure && next < count) {
      const i = next++;
      try {
        await task(i);
      } catch (e) {
        if (!failure) {
          failure = { e };
          controller.abort();
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, worker));
  if (failure) throw failure.e;
}

/** An AbortController that also fires when the caller's signal fires; `dispose` unlinks it. */
export function linkedController(signal: { aborted: boolean; addEventListener?: unknown; removeEventListener?: unknown } | undefined): {
  controller: AbortController;
  dispose: () => void;
} {
  const controller = new AbortController();
  const s = signal as AbortSignal | undefined;
  if (!s) return { controller, dispose: () => undefined };
  if (s.aborted) {
    controller.abort();
    return { controller, dispose: () => undefined };
  }
  const onAbort = (): void => controller.abort();
  if (typeof s.addEventListener === "function") s.addEventListener("abort", onAbort, { once: true });
  return {
    controller,
    dispose: () => {
      if (typeof s.removeEventListener === "function") s.removeEventListener("abort", onAbort);
    },
  };
}

