// Storage failures become typed errors through core's one mapping (toTypedError: 404 → NOT_FOUND, 412 and
// condition codes → CONDITION_NOT_MET, other statuses and transport failures → SERVICE_ERROR, aborts → ABORTED).
export { toTypedError, type TypedErrorOptions } from "@azure-cse/core-envelope";
export { serviceCall as storageCall } from "@azure-cse/core-envelope/internal";
