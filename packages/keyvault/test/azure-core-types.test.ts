// Issue 15: TokenCredential is @azure/core-auth's, not a local look-alike (compile-time check: `tsc` over the
// tests fails if it drifts).
import type { TokenCredential as AzureTokenCredential } from "@azure/core-auth";
import { describe, expect, expectTypeOf, it } from "vitest";
import type { TokenCredential } from "../src/index.js";

describe("public types come from the Azure core packages", () => {
  it("TokenCredential is @azure/core-auth's", () => {
    expectTypeOf<TokenCredential>().toEqualTypeOf<AzureTokenCredential>();
    const credential: TokenCredential = { getToken: async () => ({ token: "t", expiresOnTimestamp: Date.now() + 60_000 }) };
    expect(typeof credential.getToken).toBe("function");
  });
});
