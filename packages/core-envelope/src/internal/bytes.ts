import { base64DecodeStrict, base64Encode } from "../web/base64.js";
import { DISPLAY_UNSAFE_CHARACTERS, escapeCodeUnit } from "./display.js";

/** Whether a UTF-16 code unit is in the standard base64 alphabet (A–Z, a–z, 0–9, +, /). */
function isBase64Char(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 47;
}

/**
 * Strict standard base64 (RFC 4648 §4, padded). Returns undefined for anything else. One linear pass with
 * no regular expression (a backtracking pattern overflows its stack on multi-megabyte inputs).
 */
export function decodeBase64Strict(s: string): Buffer | undefined {
  if (typeof s !== "string" || s.length % 4 !== 0) return undefined;
  const n = s.length;
  let pad = 0;
  if (n > 0 && s.charCodeAt(n - 1) === 61) pad = n > 1 && s.charCodeAt(n - 2) === 61 ? 2 : 1;
  for (let i = 0; i < n - pad; i++) if (!isBase64Char(s.charCodeAt(i))) return undefined;
  // Without Buffer (browsers: the format code is shared with @azure-cse/core-envelope/web) the bytes are a
  // plain Uint8Array; web callers only use Uint8Array members.
  if (typeof Buffer === "undefined") return base64DecodeStrict(s) as Buffer | undefined;
  return Buffer.from(s, "base64");
}

export function encodeBase64(b: Uint8Array): string {
  if (typeof Buffer === "undefined") return base64Encode(b);
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64");
}

export function toBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** Overwrite key material we own once it is no longer needed. */
export function wipe(b: Uint8Array | undefined): void {
  b?.fill(0);
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return d === 0;
}

/** The display-unsafe characters, a backslash, and lone surrogates. */
const DISPLAY_ESCAPES = new RegExp(`[${DISPLAY_UNSAFE_CHARACTERS}\\\\]|[\\ud800-\\udbff](?![\\udc00-\\udfff])|(?<![\\ud800-\\udbff])[\\udc00-\\udfff]`, "g");

/**
 * A value that came from stored data (a key id, a protocol name, a property name), made safe to place in a
 * message shown on a terminal or in a log: control characters (C0, DEL, C1), line and paragraph separators
 * and bidirectional overrides become \\uXXXX escapes, a backslash is doubled, and the result is cut to
 * `max` characters. Values without such characters or backslashes are returned unchanged.
 */
export function escapeForDisplay(value: unknown, max = 128): string {
  let s: string;
  try {
    s = typeof value === "string" ? value : String(value);
  } catch {
    s = "(unprintable value)";
  }
  const cut = s.length > max ? s.slice(0, max) : s;
  const escaped = cut.replace(DISPLAY_ESCAPES, (c) => (c === "\\" ? "\\\\" : escapeCodeUnit(c)));
  return s.length > max ? `${escaped}…` : escaped;
}
