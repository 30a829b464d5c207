// Issue 15: AbortSignalLike is @azure/abort-controller's, not a local look-alike (compile-time checks: `tsc`
// over the tests fails if it drifts), and a platform AbortSignal aborts a key operation.
import type { AbortSignalLike as AzureAbortSignalLike } from "@azure/abort-controller";
import { describe, expect, expectTypeOf, it } from "vitest";
import { ClientSideEncryptionError, type AbortSignalLike, type KeyOperationOptions } from "../src/index.js";
import type { AbortSignalLike as WebAbortSignalLike } from "../src/web/index.js";

describe("public types come from the Azure core packages", () => {
  it("AbortSignalLike is @azure/abort-controller's (node and web entries)", () => {
    expectTypeOf<AbortSignalLike>().toEqualTypeOf<AzureAbortSignalLike>();
    expectTypeOf<WebAbortSignalLike>().toEqualTypeOf<AzureAbortSignalLike>();
    expectTypeOf<NonNullable<KeyOperationOptions["abortSignal"]>>().toEqualTypeOf<AzureAbortSignalLike>();
    expectTypeOf<AbortSignal>().toMatchTypeOf<AbortSignalLike>();
    expect(ClientSideEncryptionError).toBeTypeOf("function");
  });
});
