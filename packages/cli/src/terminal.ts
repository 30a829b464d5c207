// Terminal safety: values that come from stored data (key ids, protocols, property names, metadata keys, blob
// names, messages of errors that embed them) must not drive the terminal. Every character that a terminal may
// act on is written as a JSON-style escape, so human-readable output shows it and JSON output stays valid JSON
// with the same value.

/**
 * C0 controls (incl. \t \r \n ESC), DEL, C1 controls (incl. CSI U+009B), the Unicode line/paragraph separators and
 * the bidirectional formatting characters (Trojan-source reordering).
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
// eslint-disable-next-line no-control-regex
const UNSAFE_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const SHORT: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f" };

function escapeChar(c: string): string {
  return SHORT[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
}

/** One value (or message) for a terminal: every control character becomes a visible escape (`\u001b`, `\r`, …). */
export function escapeControl(s: string): string {
  return String(s).replace(UNSAFE, escapeChar);
}

/**
 * Output text made of lines: line breaks stay, every other control character is escaped. Inside JSON text the
 * only raw controls can be in strings (JSON.stringify already escapes C0), and the escapes used are valid JSON.
 */
export function escapeLines(s: string): string {
  return String(s).replace(UNSAFE_BUT_NEWLINE, escapeChar);
}

/** One message line: all of it escaped, one trailing newline kept (a stored "\n" cannot fake a second line). */
export function escapeMessage(s: string): string {
  const text = String(s);
  return text.endsWith("\n") ? escapeControl(text.slice(0, -1)) + "\n" : escapeControl(text);
}

/**
 * The progress bar of the operations commands redraws itself with `\r…\x1b[K`: its frames hold only counts and
 * sizes (no stored value), so exactly these shapes pass through unescaped.
 */
// eslint-disable-next-line no-control-regex
const BAR_FRAME = /^\r\[[#.]*\] [ -~]*\x1b\[K$/;
export function isProgressFrame(s: string): boolean {
  return s === "\r\x1b[K" || BAR_FRAME.test(s);
}

/** JSON for output: JSON.stringify plus escapes for the controls it leaves raw (DEL, C1, separators, bidi). */
export function safeJson(value: unknown, indent?: number): string {
  return escapeLines(JSON.stringify(value, null, indent));
}
