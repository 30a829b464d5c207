// Standard base64 (RFC 4648 §4, padded) and base64url over Uint8Array, without Buffer or atob/btoa, so the
// same code runs in browsers, workers and Node. Only key material and metadata fields go through here.
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const LOOKUP = /* @__PURE__ */ (() => {
  const t = new Int16Array(128).fill(-1);
  for (let i = 0; i < ALPHABET.length; i++) t[ALPHABET.charCodeAt(i)] = i;
  return t;
})();

/** Standard padded base64 of `bytes`. */
export function base64Encode(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]! + ALPHABET[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + "==";
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]! + "=";
  }
  return out;
}

/**
 * Strict standard padded base64 → bytes; undefined for anything else (wrong length, characters outside the
 * alphabet, padding in the middle, non-zero bits in the last character before the padding are accepted like
 * Node's decoder does).
 */
export function base64DecodeStrict(s: string): Uint8Array | undefined {
  if (typeof s !== "string" || s.length % 4 !== 0) return undefined;
  const n = s.length;
  let pad = 0;
  if (n > 0 && s.charCodeAt(n - 1) === 61) pad = n > 1 && s.charCodeAt(n - 2) === 61 ? 2 : 1;
  const out = new Uint8Array((n / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < n; i += 4) {
    let v = 0;
    for (let j = 0; j < 4; j++) {
      const c = s.charCodeAt(i + j);
      const last = i + 4 === n;
      let d: number;
      if (last && j >= 4 - pad) d = 0;
      else {
        d = c < 128 ? LOOKUP[c]! : -1;
        if (d < 0) return undefined;
      }
      v = (v << 6) | d;
    }
    if (o < out.length) out[o++] = (v >> 16) & 255;
    if (o < out.length) out[o++] = (v >> 8) & 255;
    if (o < out.length) out[o++] = v & 255;
  }
  return out;
}

/** base64url (RFC 4648 §5, JWK `k`/`n`/`e`...) → bytes, padding optional; undefined for anything else. */
export function base64UrlDecode(s: string): Uint8Array | undefined {
  if (typeof s !== "string" || /[^A-Za-z0-9_-]/.test(s.replace(/=+$/, ""))) return undefined;
  const std = s.replace(/=+$/, "").replace(/-/g, "+").replace(/_/g, "/");
  if (std.length % 4 === 1) return undefined;
  return base64DecodeStrict(std + "=".repeat((4 - (std.length % 4)) % 4));
}

/** bytes → base64url without padding. */
export function base64UrlEncode(bytes: Uint8Array): string {
  return base64Encode(bytes).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
}
