// Display safety: which characters of a stored or caller-supplied value must never reach a terminal or a log
// raw, and how they are written instead (\uXXXX). One definition, used by escapeForDisplay (one value, public)
// and by the helpers below that the service packages share (a quoted value, an error message).

/**
 * C0 controls, DEL, C1 controls, the line and paragraph separators, the bidirectional marks, embeddings,
 * overrides and isolates, and the byte-order mark: a character class body for a RegExp.
 */
export const DISPLAY_UNSAFE_CHARACTERS = "\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069\\ufeff";

/** `\uXXXX` for one UTF-16 code unit. */
export function escapeCodeUnit(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
}

const UNSAFE = new RegExp(`[${DISPLAY_UNSAFE_CHARACTERS}]`, "g");

function text(value: unknown): string {
  try {
    return typeof value === "string" ? value : String(value);
  } catch {
    return "(unprintable value)";
  }
}

/**
 * Text that is already formed (a message, JSON) with every display-unsafe character written as `\uXXXX`;
 * nothing else changes (no quoting, no cut). Text without such characters is returned unchanged.
 *
 * @internal Shared by the @azure-cse service packages; not part of the supported API.
 */
export function escapeUnsafeCharacters(s: string): string {
  return s.replace(UNSAFE, escapeCodeUnit);
}

/**
 * `"value"` as a JSON string literal (so quotes, backslashes and C0 controls are escaped the JSON way) with the
 * display-unsafe characters JSON leaves raw escaped too; cut to `max` characters (then `…`) first.
 *
 * @internal Shared by the @azure-cse service packages; not part of the supported API.
 */
export function quoteForDisplay(value: unknown, max = 200): string {
  const s = text(value);
  const cut = s.length > max ? `${s.slice(0, max)}…` : s;
  return escapeUnsafeCharacters(JSON.stringify(cut));
}
