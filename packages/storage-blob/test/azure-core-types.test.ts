// Issue 15: storage-blob's AbortSignalLike is core's, which is @azure/abort-controller's (compile-time checks).
import type { AbortSignalLike as CoreAbortSignalLike } from "@azure-cse/core-envelope";
import { describe, expect, expectTypeOf, it } from "vitest";
import type { AbortSignalLike, EncryptedOperationOptions } from "../src/index.js";

describe("public types come from the Azure core packages", () => {
  it("AbortSignalLike is core's (@azure/abort-controller's) and an AbortSignal is one", () => {
    expectTypeOf<AbortSignalLike>().toEqualTypeOf<CoreAbortSignalLike>();
    expectTypeOf<NonNullable<EncryptedOperationOptions["abortSignal"]>>().toEqualTypeOf<CoreAbortSignalLike>();
    expectTypeOf<AbortSignal>().toMatchTypeOf<AbortSignalLike>();
    expect(new AbortController().signal.aborted).toBe(false);
  });
});
