// Values that may come from stored data (key ids, algorithm names) are quoted with JSON escaping before they
// reach an error message, so that no raw control character (C0, DEL, C1) or line separator reaches a terminal.

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;
const escapeChar = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;

/** `"value"` with JSON string escaping plus \u007f-\u009f, \u2028 and \u2029; cut to `max` characters first. */
export function quote(value: unknown, max = 200): string {
  const s = typeof value === "string" ? value : String(value);
  const cut = s.length > max ? `${s.slice(0, max)}…` : s;
  return JSON.stringify(cut).replace(UNSAFE, escapeChar);
}

/** The text with unsafe characters escaped as \uXXXX (no quotes added); cut to `max` characters first. */
export function clean(value: string, max = 300): string {
  const cut = value.length > max ? `${value.slice(0, max)}…` : value;
  return cut.replace(UNSAFE, escapeChar);
}

/** What a caller passed, for an INVALID_ARGUMENT message (never the value itself: it could be a secret). */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (value instanceof Uint8Array) return "a Uint8Array";
  if (typeof value === "object") return "an object";
  return `a ${typeof value}`;
}
