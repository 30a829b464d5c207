// Property names that are Object.prototype members (issue 14, class 4). `constructor`, `toString`,
// `hasOwnProperty`… are ordinary own properties everywhere in this package (null-prototype records, Sets, own
// property reads). `__proto__` is special: @azure/data-tables builds request and response objects by plain
// assignment, which drops a `__proto__` property (or, for an object value, replaces that object's prototype).
// So it travels through the SDK under a per-process placeholder name, and a pipeline policy swaps the real name
// in and out of the JSON text on the wire.
import { randomBytes } from "node:crypto";
import type { TableClient } from "@azure/data-tables";

export const PROTO = "__proto__";
/** Unguessable, so it never collides with a real property name or value. */
const PLACEHOLDER = `__azcse_proto_${randomBytes(12).toString("hex")}__`;
/** Request header marking this package's reads; removed by the policy before the request is sent. */
const MARK = "x-azcse-entity-names";
const POLICY_NAME = "azcseEntityNamesPolicy";

export { getOwn } from "./shared/entity-format.js";

/** A record without a prototype: every name, including `__proto__`, is an ordinary key. */
export function newRecord<T = Record<string, unknown>>(): T {
  return Object.create(null) as T;
}

/** A null-prototype copy of the own enumerable properties of `record`. */
export function copyRecord<T extends object>(record: T): T {
  const out = newRecord<Record<string, unknown>>();
  for (const [k, v] of Object.entries(record)) out[k] = v;
  return out as T;
}

/** The entity as handed to the SDK for writing: `__proto__` under the placeholder (other names unchanged). */
export function toSdkEntity<T extends object>(entity: T): T {
  if (!Object.prototype.hasOwnProperty.call(entity, PROTO)) return entity;
  const out = newRecord<Record<string, unknown>>();
  for (const [k, v] of Object.entries(entity)) out[k === PROTO ? PLACEHOLDER : k] = v;
  return out as T;
}

/** An entity read through the SDK, as a null-prototype record with the placeholder renamed back to `__proto__`. */
export function fromSdkEntity<T extends object>(entity: T): T {
  const out = newRecord<Record<string, unknown>>();
  for (const [k, v] of Object.entries(entity)) out[k === PLACEHOLDER ? PROTO : k] = v;
  return out as T;
}

/** Options with the marker header that lets the policy rename `__proto__` in this request's response. */
export function marked<O extends object>(options: O): O {
  const given = (options as { requestOptions?: { customHeaders?: Record<string, string> } }).requestOptions;
  return { ...options, requestOptions: { ...given, customHeaders: { ...given?.customHeaders, [MARK]: "1" } } };
}

function renameWireKeys(value: unknown): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
  const out = newRecord<Record<string, unknown>>();
  for (const [k, v] of Object.entries(value)) {
    out[k === PROTO ? PLACEHOLDER : k.startsWith(`${PROTO}@`) ? PLACEHOLDER + k.slice(PROTO.length) : k] = v;
  }
  return out;
}

/** Response JSON (one entity, or `{ value: [entities] }`) with `__proto__` keys under the placeholder. */
function renameInResponse(text: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return text;
  }
  const root = renameWireKeys(parsed);
  if (typeof root === "object" && root !== null) {
    const r = root as Record<string, unknown>;
    if (Array.isArray(r.value)) r.value = r.value.map(renameWireKeys);
  }
  return JSON.stringify(root);
}

type Pipeline = TableClient["pipeline"];
type Policy = Parameters<Pipeline["addPolicy"]>[0];

const policy: Policy = {
  name: POLICY_NAME,
  async sendRequest(request, next) {
    const isMarked = request.headers.has(MARK);
    if (isMarked) request.headers.delete(MARK);
    // Only this package puts the placeholder into an entity, so any occurrence in a body is ours.
    if (typeof request.body === "string" && request.body.includes(PLACEHOLDER)) {
      request.body = request.body.split(PLACEHOLDER).join(PROTO);
      // The SharedKey policy (no phase, so before this one) already set Content-Length for the longer body.
      if (request.headers.has("content-length")) request.headers.set("content-length", Buffer.byteLength(request.body));
    }
    const response = await next(request);
    if (isMarked && typeof response.bodyAsText === "string" && response.bodyAsText.includes(`"${PROTO}`)) {
      response.bodyAsText = renameInResponse(response.bodyAsText);
    }
    return response;
  },
};

/**
 * Adds the renaming policy to the TableClient's pipeline once. It only acts on requests carrying the
 * placeholder or the marker header, which only this package sends, so the caller's own use of the client is
 * unaffected. Clients without a pipeline (test doubles) are left alone.
 */
export function installEntityNamesPolicy(client: TableClient): void {
  const pipeline = (client as { pipeline?: Partial<Pipeline> }).pipeline;
  if (!pipeline || typeof pipeline.addPolicy !== "function" || typeof pipeline.getOrderedPolicies !== "function") return;
  if (pipeline.getOrderedPolicies().some((p) => p.name === POLICY_NAME)) return;
  // After deserialization in the request direction = before it in the response direction: the response text
  // is renamed before the SDK parses it; the request body is already serialized JSON text.
  pipeline.addPolicy(policy, { afterPhase: "Deserialize" });
}
