// Values that may come from stored data or Key Vault (key ids, algorithm names, service codes and messages)
// are escaped with the core's display helpers before they reach an error message, so that no raw control
// character (C0, DEL, C1), line separator or bidirectional control reaches a terminal.
import { escapeForDisplay, quoteForDisplay } from "@azure-cse/core-envelope/internal";

/** `"value"` as a JSON string literal with the display-unsafe characters escaped; cut to `max` characters first. */
export const quote: (value: unknown, max?: number) => string = quoteForDisplay;

/** The text with unsafe characters escaped as \uXXXX (no quotes added); cut to `max` characters first. */
export function clean(value: string, max = 300): string {
  return escapeForDisplay(value, max);
}

/**
 * What a caller passed, for an INVALID_ARGUMENT message (never the value itself: it could be a secret). Key
 * Vault's own wording (the queue/table packages use the core's describeValue, which also names undefined and
 * Promises); kept so that this package's messages do not change.
 */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (value instanceof Uint8Array) return "a Uint8Array";
  if (typeof value === "object") return "an object";
  return `a ${typeof value}`;
}
