// Typed-error and secrets assertions shared by the package test suites. The library's error class is passed in
// (testkit depends on no workspace package, so a package's tests bind these to their own copy of core).
import { expect } from "vitest";

/**
 * `caught(fnOrPromise)` returns the error of class `ErrorClass` (tested with its static `is`) that the function or
 * promise throws, and fails the test otherwise; `expectCode` also checks its code (and optionally its message).
 */
export function typedErrorAssertions(ErrorClass) {
  const name = ErrorClass.name || "typed error";
  async function caught(fnOrPromise) {
    try {
      await (typeof fnOrPromise === "function" ? fnOrPromise() : fnOrPromise);
    } catch (e) {
      if (ErrorClass.is(e)) return e;
      throw new Error(`expected a ${name}, got ${String(e)}`, { cause: e });
    }
    throw new Error(`expected a ${name}, but nothing was thrown`);
  }
  async function expectCode(fnOrPromise, code, message) {
    const e = await caught(fnOrPromise);
    expect(e.code, e.message).toBe(code);
    if (message) expect(e.message).toMatch(message);
    return e;
  }
  /**
   * What a call came to, as one comparable string: the typed error's code, "resolved" when it did not throw, or
   * "untyped:<statusCode or message>" for any other error (so a test can tell a raw SDK error from a typed one).
   */
  async function codeOf(fnOrPromise) {
    const r = await settled(fnOrPromise);
    return typeof r === "string" ? r : r.code;
  }
  /** The typed error itself, else codeOf's "resolved" / "untyped:<statusCode or message>". */
  async function settled(fnOrPromise) {
    try {
      await (typeof fnOrPromise === "function" ? fnOrPromise() : fnOrPromise);
    } catch (e) {
      if (ErrorClass.is(e)) return e;
      const status = e && typeof e === "object" ? e.statusCode : undefined;
      return `untyped:${typeof status === "number" ? status : String(e)}`;
    }
    return "resolved";
  }
  return { caught, expectCode, codeOf, settled };
}

/** Everything an error exposes as text: message, details, stack and causes (five levels). */
export function errorText(e) {
  const parts = [];
  let cur = e;
  for (let depth = 0; cur && depth < 5; depth++) {
    if (cur instanceof Error) {
      parts.push(cur.message, cur.stack ?? "", JSON.stringify(cur.details ?? {}));
      cur = cur.cause;
    } else {
      parts.push(typeof cur === "string" ? cur : JSON.stringify(cur));
      break;
    }
  }
  return parts.join("\n");
}

/**
 * Asserts that none of the secrets appears in the error's text: a string as itself; bytes as hex (both cases),
 * base64, base64url and, from 8 bytes on, as latin1 characters.
 */
export function expectNoSecrets(e, secrets) {
  const text = errorText(e);
  for (const s of secrets) {
    if (typeof s === "string") {
      expect(text.includes(s), "secret text leaked into an error").toBe(false);
      continue;
    }
    const b = Buffer.from(s);
    for (const form of [b.toString("hex"), b.toString("hex").toUpperCase(), b.toString("base64"), b.toString("base64url")]) {
      expect(text.includes(form), "secret leaked into an error").toBe(false);
    }
    if (b.length >= 8) expect(text.includes(b.toString("latin1")), "secret bytes leaked into an error").toBe(false);
  }
}
