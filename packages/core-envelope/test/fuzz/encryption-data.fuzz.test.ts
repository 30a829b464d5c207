// Fuzzing the EncryptionData reader (spec blob-format §2): every input gives either exactly the
// EncryptionData it describes or a typed INVALID_ENCRYPTION_DATA / UNSUPPORTED_PROTOCOL error, within
// time and memory bounds. Nothing else may escape (no TypeError, RangeError, SyntaxError).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  MAX_REGION_SIZE,
  parseEncryptionData,
  serializeEncryptionData,
  isLegacyJavaWriter,
  type EncryptionData,
  type ParseEncryptionDataOptions,
} from "@azure-cse/core-envelope";
import { budget, expectNoRetainedGrowth, expectTypedOutcome, timeoutFor, withinBounds, type ResourceBound } from "./support.js";

const PARSE_CODES = ["INVALID_ENCRYPTION_DATA", "UNSUPPORTED_PROTOCOL"] as const;
const SMALL: ResourceBound = { maxMs: 1000, maxHeapGrowthBytes: 32 * 1024 * 1024 };
const LARGE: ResourceBound = { maxMs: 3000, maxHeapGrowthBytes: 96 * 1024 * 1024 };
const NO_CAP: ParseEncryptionDataOptions = { maxLength: Number.POSITIVE_INFINITY, maxRegionSize: MAX_REGION_SIZE };

type Protocol = "1.0" | "2.0" | "2.1";

/** The model a generated document describes. */
interface Doc {
  protocol: Protocol;
  keyId: string;
  encryptedKey: Buffer;
  algorithm: string;
  iv: Buffer;
  dataLength: number;
  kwm: Record<string, string | number | boolean> | undefined;
  mode: string | undefined;
}

const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max }).map((b) => Buffer.from(b));
const text = fc.oneof(fc.string({ minLength: 1, maxLength: 40 }), fc.string({ unit: "binary", minLength: 1, maxLength: 40 }), fc.string({ unit: "grapheme", minLength: 1, maxLength: 20 }));
const metaKey = fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom("EncryptionLibrary", "encryptionlibrary", "ENCRYPTIONLIBRARY", "EncryptionLıbrary")).filter((k) => k !== "__proto__");

const docArb: fc.Arbitrary<Doc> = fc.record({
  protocol: fc.constantFrom<Protocol>("1.0", "2.0", "2.1"),
  keyId: text,
  encryptedKey: bytes(1, 300),
  algorithm: text,
  iv: bytes(16, 16),
  dataLength: fc.oneof(fc.constant(4 * 1024 * 1024), fc.integer({ min: 16, max: MAX_REGION_SIZE })),
  kwm: fc.option(fc.dictionary(metaKey, fc.oneof(fc.string(), fc.integer(), fc.boolean()), { maxKeys: 4 }), { nil: undefined }),
  mode: fc.option(fc.string({ maxLength: 12 }), { nil: undefined }),
}).map((d) => (d.protocol === "2.0" ? { ...d, dataLength: 4 * 1024 * 1024 } : d)); // 2.0 only exists with 4 MiB regions

/** Flips the case of some ASCII letters of `name` as chosen by `mask`. */
function variant(name: string, mask: readonly boolean[]): string {
  return [...name].map((c, i) => (mask[i % Math.max(mask.length, 1)] ? (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()) : c)).join("");
}

interface Shape {
  mask: boolean[];
  extras: Record<string, unknown>;
  reverse: boolean;
  indent: 0 | 2 | "\t";
}
const KNOWN = new Set(["encryptionagent", "protocol", "encryptionalgorithm", "wrappedcontentkey", "keyid", "encryptedkey", "algorithm", "contentencryptioniv", "encryptedregioninfo", "datalength", "noncelength", "keywrappingmetadata", "encryptionmode"]);
const shapeArb: fc.Arbitrary<Shape> = fc.record({
  mask: fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }),
  extras: fc.dictionary(
    fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !KNOWN.has(k.toLowerCase()) && k !== "__proto__"),
    fc.jsonValue({ maxDepth: 2 }),
    { maxKeys: 3 },
  ),
  reverse: fc.boolean(),
  indent: fc.constantFrom<0 | 2 | "\t">(0, 2, "\t"),
});

/** Builds the stored JSON object for `doc`, with field names spelled per `shape`. */
function toObject(doc: Doc, shape: Shape = { mask: [false], extras: {}, reverse: false, indent: 0 }): Record<string, unknown> {
  const n = (s: string) => variant(s, shape.mask);
  const entries: [string, unknown][] = [];
  if (doc.mode !== undefined) entries.push([n("EncryptionMode"), doc.mode]);
  entries.push([n("WrappedContentKey"), { [n("KeyId")]: doc.keyId, [n("EncryptedKey")]: doc.encryptedKey.toString("base64"), [n("Algorithm")]: doc.algorithm }]);
  entries.push([n("EncryptionAgent"), { [n("Protocol")]: doc.protocol, [n("EncryptionAlgorithm")]: doc.protocol === "1.0" ? "AES_CBC_256" : "AES_GCM_256" }]);
  if (doc.protocol === "1.0") entries.push([n("ContentEncryptionIV"), doc.iv.toString("base64")]);
  else entries.push([n("EncryptedRegionInfo"), { [n("DataLength")]: doc.dataLength, [n("NonceLength")]: 12 }]);
  if (doc.kwm !== undefined) entries.push([n("KeyWrappingMetadata"), doc.kwm]);
  entries.push(...Object.entries(shape.extras));
  if (shape.reverse) entries.reverse();
  return Object.fromEntries(entries);
}

/** Comparable form of a parse result. */
function view(d: EncryptionData) {
  return {
    protocol: d.protocol,
    keyId: d.wrappedContentKey.keyId,
    encryptedKey: Buffer.from(d.wrappedContentKey.encryptedKey).toString("hex"),
    algorithm: d.wrappedContentKey.algorithm,
    iv: d.protocol === "1.0" ? Buffer.from(d.contentEncryptionIV).toString("hex") : undefined,
    region: d.protocol === "1.0" ? undefined : d.encryptedRegionInfo,
    kwm: d.keyWrappingMetadata,
    mode: d.encryptionMode,
  };
}

function expectedView(doc: Doc) {
  return {
    protocol: doc.protocol,
    keyId: doc.keyId,
    encryptedKey: doc.encryptedKey.toString("hex"),
    algorithm: doc.algorithm,
    iv: doc.protocol === "1.0" ? doc.iv.toString("hex") : undefined,
    region: doc.protocol === "1.0" ? undefined : { dataLength: doc.dataLength, nonceLength: 12 },
    kwm: doc.kwm === undefined ? undefined : expectedMetadata(doc.kwm),
    mode: doc.mode,
  };
}

/**
 * KeyWrappingMetadata as the reader keeps it: string values only; any letter case of EncryptionLibrary
 * stored under its canonical name (the last spelling wins); "__proto__" dropped (harmless no-op).
 */
function expectedMetadata(kwm: Record<string, unknown>): Record<string, string> {
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(kwm)) {
    if (typeof v !== "string" || k === "__proto__") continue;
    const key = k.replace(/[A-Z]/g, (c) => c.toLowerCase()) === "encryptionlibrary" ? "EncryptionLibrary" : k;
    const i = out.findIndex(([x]) => x === key);
    if (i >= 0) out.splice(i, 1);
    out.push([key, v]);
  }
  return Object.fromEntries(out);
}

/** Structural validity of anything the reader returns. */
function expectWellFormed(d: EncryptionData, maxRegion = MAX_REGION_SIZE): void {
  expect(["1.0", "2.0", "2.1"]).toContain(d.protocol);
  expect(typeof d.wrappedContentKey.keyId === "string" && d.wrappedContentKey.keyId.length > 0).toBe(true);
  expect(typeof d.wrappedContentKey.algorithm === "string" && d.wrappedContentKey.algorithm.length > 0).toBe(true);
  expect(d.wrappedContentKey.encryptedKey.length).toBeGreaterThan(0);
  if (d.protocol === "1.0") expect(d.contentEncryptionIV.length).toBe(16);
  else {
    expect(Number.isSafeInteger(d.encryptedRegionInfo.dataLength)).toBe(true);
    expect(d.encryptedRegionInfo.dataLength).toBeGreaterThanOrEqual(16);
    expect(d.encryptedRegionInfo.dataLength).toBeLessThanOrEqual(maxRegion);
    expect(d.encryptedRegionInfo.nonceLength).toBe(12);
  }
  for (const v of Object.values(d.keyWrappingMetadata ?? {})) expect(typeof v).toBe("string");
}

function parse(input: string | object, options: ParseEncryptionDataOptions = {}, bound: ResourceBound = SMALL) {
  return withinBounds(bound, () => expectTypedOutcome(() => parseEncryptionData(input, options), PARSE_CODES));
}

// ---- single-field mutation oracle ---------------------------------------------------------------

type FieldPath = readonly [string] | readonly [string, string];
const V1_PATHS: FieldPath[] = [["EncryptionAgent", "Protocol"], ["EncryptionAgent", "EncryptionAlgorithm"], ["WrappedContentKey", "KeyId"], ["WrappedContentKey", "EncryptedKey"], ["WrappedContentKey", "Algorithm"], ["ContentEncryptionIV"], ["EncryptionAgent"], ["WrappedContentKey"], ["KeyWrappingMetadata"], ["EncryptionMode"]];
const V2_PATHS: FieldPath[] = [...V1_PATHS.filter((p) => p[0] !== "ContentEncryptionIV"), ["EncryptedRegionInfo", "DataLength"], ["EncryptedRegionInfo", "NonceLength"], ["EncryptedRegionInfo"]];

/** Standard padded base64, written independently of the library's regex. */
function isStrictBase64(s: string): boolean {
  if (s.length === 0 || s.length % 4 !== 0) return false;
  const body = s.replace(/={1,2}$/, "");
  if (s.length - body.length > 2) return false;
  for (const c of body) if (!"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".includes(c)) return false;
  return true;
}
const nonEmptyString = (v: unknown): v is string => typeof v === "string" && v.length > 0;

/** What the reader must do when the field at `path` of `doc` holds `value` (undefined = removed). */
function oracle(doc: Doc, path: FieldPath, value: unknown): { ok: true; patch: (e: ReturnType<typeof expectedView>) => void } | { ok: false; codes: readonly string[] } {
  const bad = { ok: false as const, codes: ["INVALID_ENCRYPTION_DATA"] };
  const good = (patch: (e: ReturnType<typeof expectedView>) => void = () => {}) => ({ ok: true as const, patch });
  const key = path.join(".");
  switch (key) {
    case "EncryptionAgent.Protocol": {
      if (!nonEmptyString(value)) return bad;
      if (!["1.0", "2.0", "2.1"].includes(value)) return { ok: false, codes: ["UNSUPPORTED_PROTOCOL"] };
      if ((value === "1.0") !== (doc.protocol === "1.0")) return bad; // algorithm no longer matches
      if (value === "2.0" && doc.dataLength !== 4 * 1024 * 1024) return bad; // 2.0 only with 4 MiB regions
      return good((e) => (e.protocol = value as Protocol));
    }
    case "EncryptionAgent.EncryptionAlgorithm":
      return value === (doc.protocol === "1.0" ? "AES_CBC_256" : "AES_GCM_256") ? good() : bad;
    case "WrappedContentKey.KeyId":
      return nonEmptyString(value) ? good((e) => (e.keyId = value)) : bad;
    case "WrappedContentKey.Algorithm":
      return nonEmptyString(value) ? good((e) => (e.algorithm = value)) : bad;
    case "WrappedContentKey.EncryptedKey":
      return nonEmptyString(value) && isStrictBase64(value) && Buffer.from(value, "base64").length > 0 ? good((e) => (e.encryptedKey = Buffer.from(value, "base64").toString("hex"))) : bad;
    case "ContentEncryptionIV":
      return nonEmptyString(value) && isStrictBase64(value) && Buffer.from(value, "base64").length === 16 ? good((e) => (e.iv = Buffer.from(value, "base64").toString("hex"))) : bad;
    case "EncryptedRegionInfo.DataLength":
      if (doc.protocol === "2.0") return value === 4 * 1024 * 1024 ? good() : bad;
      return typeof value === "number" && Number.isSafeInteger(value) && value >= 16 && value <= MAX_REGION_SIZE ? good((e) => (e.region = { dataLength: value, nonceLength: 12 })) : bad;
    case "EncryptedRegionInfo.NonceLength":
      return value === 12 ? good() : bad;
    case "KeyWrappingMetadata":
      return good((e) => {
        e.kwm = typeof value === "object" && value !== null && !Array.isArray(value) ? expectedMetadata(value as Record<string, unknown>) : undefined;
      });
    case "EncryptionMode":
      return good((e) => (e.mode = typeof value === "string" ? value : undefined));
    default:
      // A whole container replaced by something else: required fields are missing or mistyped.
      return { ok: false, codes: PARSE_CODES };
  }
}

/** Sets (or deletes) a field by canonical path in an object built by toObject (canonical casing). */
function setPath(obj: Record<string, unknown>, path: FieldPath, value: unknown): void {
  if (path.length === 1) {
    if (value === undefined) delete obj[path[0]];
    else obj[path[0]] = value;
    return;
  }
  const inner = { ...(obj[path[0]] as Record<string, unknown>) };
  if (value === undefined) delete inner[path[1]];
  else inner[path[1]] = value;
  obj[path[0]] = inner;
}

/** Raw JSON number literals and other text that JSON.stringify cannot produce. */
const RAW_LITERALS = ["1e400", "-1e400", "4194304.0", "4.194304e6", "16.000000000000001", "1" + "0".repeat(400), "-0", "12.0", "1.2e1", "9007199254740993", "-16", "0x10", "NaN", "Infinity", "+16", "016", "1_6", '"4194304"', "true", "null", "[]", "{}", '"\\u0000"'];
const PLACEHOLDER = "\u0000__RAW__";

const replacementArb: fc.Arbitrary<{ raw: string } | { value: unknown }> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).map((value) => ({ value })),
  fc.constantFrom(...RAW_LITERALS).map((raw) => ({ raw })),
  fc.oneof(fc.double(), fc.integer(), fc.constantFrom(2 ** 53, 2 ** 53 - 1, -(2 ** 53), 2 ** 31, 2 ** 32, MAX_REGION_SIZE, MAX_REGION_SIZE + 1, 15, 16, 17, 11, 12, 13, 0, Number.MAX_VALUE, Number.MIN_VALUE)).map((value) => ({ value })),
  fc.constantFrom("", " ", "1.0", "2.0", "2.1", "2.2", "3.0", "1.0 ", "2.0\u0000", "AES_CBC_256", "AES_GCM_256", "aes_gcm_256", "QUJD", "QUJD\n", "QUJ", "QUJD=", "Q===", "-_-_", "AAAAAAAAAAAAAAAAAAAAAA==", "AAAAAAAAAAAAAAAAAAAAAAA=", "\uFEFF2.0", "２.０").map((value) => ({ value })),
  fc.string({ unit: "binary", maxLength: 30 }).map((value) => ({ value })),
  fc.constant({ value: undefined }),
);

function mutatedText(doc: Doc, path: FieldPath, rep: { raw: string } | { value: unknown }): { json: string; value: unknown; validJson: boolean } {
  const obj = toObject(doc);
  if ("raw" in rep) {
    setPath(obj, path, PLACEHOLDER);
    const json = JSON.stringify(obj).replace(JSON.stringify(PLACEHOLDER), rep.raw);
    try {
      return { json, value: JSON.parse(rep.raw) as unknown, validJson: true };
    } catch {
      return { json, value: undefined, validJson: false };
    }
  }
  setPath(obj, path, rep.value);
  return { json: JSON.stringify(obj), value: rep.value, validJson: true };
}

// ---- tests --------------------------------------------------------------------------------------

describe("fuzz: EncryptionData reader (spec blob-format §2)", () => {
  it(
    "any valid 1.0/2.0/2.1 document parses to exactly its values, whatever the field-name case, order, whitespace or unknown fields",
    () => {
      fc.assert(
        fc.property(docArb, shapeArb, (doc, shape) => {
          const json = JSON.stringify(toObject(doc, shape), null, shape.indent);
          const r = parse(json, NO_CAP);
          if (!r.ok) expect.fail(`valid document refused: ${r.error.code} ${r.error.message}`);
          expect(view(r.value)).toEqual(expectedView(doc));
          // The same document as an already-parsed object gives the same result.
          const r2 = parse(JSON.parse(json) as object, { maxRegionSize: NO_CAP.maxRegionSize });
          expect(r2.ok && view(r2.value)).toEqual(expectedView(doc));
        }),
        budget(300),
      );
    },
    timeoutFor(300),
  );

  it(
    "writer output re-parses to the same EncryptionData, and is ASCII-only (header-safe)",
    () => {
      fc.assert(
        fc.property(docArb, fc.boolean(), (doc, blob) => {
          const first = parseEncryptionData(JSON.stringify(toObject(doc)), NO_CAP);
          const json = serializeEncryptionData(first, { includeEncryptionMode: blob });
          expect(/^[\x20-\x7e]*$/.test(json)).toBe(true);
          const again = parseEncryptionData(json, NO_CAP);
          expect({ ...view(again), kwm: undefined, mode: undefined }).toEqual({ ...view(first), kwm: undefined, mode: undefined });
          expect(again.encryptionMode).toBe(blob ? "FullBlob" : undefined);
        }),
        budget(200),
      );
    },
    timeoutFor(200),
  );

  it(
    "every strict prefix of a valid document (truncated metadata) is refused with INVALID_ENCRYPTION_DATA",
    () => {
      fc.assert(
        fc.property(docArb, fc.nat(), (doc, cut) => {
          const json = JSON.stringify(toObject(doc));
          const prefix = json.slice(0, cut % json.length);
          const r = parse(prefix, NO_CAP);
          expect(r.ok).toBe(false);
          if (!r.ok) expect(r.error.code).toBe("INVALID_ENCRYPTION_DATA");
        }),
        budget(300),
      );
      // And exhaustively, every prefix of one real document of each protocol.
      for (const protocol of ["1.0", "2.0", "2.1"] as const) {
        const doc: Doc = { protocol, keyId: "local:kek-1", encryptedKey: Buffer.alloc(40, 7), algorithm: "A256KW", iv: Buffer.alloc(16, 1), dataLength: 4194304, kwm: { EncryptionLibrary: "Python 12.15.0b1" }, mode: "FullBlob" };
        const json = JSON.stringify(toObject(doc));
        for (let i = 0; i < json.length; i++) {
          const r = parse(json.slice(0, i));
          expect(r.ok ? "parsed" : r.error.code, `prefix of length ${i}`).toBe("INVALID_ENCRYPTION_DATA");
        }
      }
    },
    timeoutFor(300),
  );

  it(
    "one field replaced by a value of another type, a huge number or odd text gives the value's exact meaning or a typed error",
    () => {
      fc.assert(
        fc.property(docArb, fc.nat(), replacementArb, (doc, which, rep) => {
          const paths = doc.protocol === "1.0" ? V1_PATHS : V2_PATHS;
          const path = paths[which % paths.length]!;
          const { json, value, validJson } = mutatedText(doc, path, rep);
          const r = parse(json, NO_CAP);
          const expected = validJson ? oracle(doc, path, value) : { ok: false as const, codes: ["INVALID_ENCRYPTION_DATA"] };
          if (expected.ok) {
            if (!r.ok) expect.fail(`${path.join(".")} = ${json.slice(0, 200)} refused: ${r.error.code} ${r.error.message}`);
            expectWellFormed(r.value);
            const want = expectedView(doc);
            expected.patch(want);
            expect(view(r.value)).toEqual(want);
          } else {
            expect(r.ok, `${path.join(".")} mutated, accepted: ${json.slice(0, 300)}`).toBe(false);
            if (!r.ok) expect(expected.codes).toContain(r.error.code);
          }
        }),
        budget(1500),
      );
    },
    timeoutFor(1500),
  );

  it(
    "arbitrary text, arbitrary JSON and arbitrary objects never escape as anything but a typed error",
    () => {
      const inputs = fc.oneof(
        fc.string({ unit: "binary", maxLength: 200 }),
        fc.json({ maxDepth: 4 }),
        fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify({ EncryptionAgent: v, WrappedContentKey: v, EncryptedRegionInfo: v, ContentEncryptionIV: v })),
        fc.object({ maxDepth: 3, withNullPrototype: true, withBigInt: true, withMap: true, withSet: true, withTypedArray: true, withSparseArray: true }),
        fc.anything({ maxDepth: 2 }).filter((v): v is object => typeof v === "object" && v !== null),
      );
      fc.assert(
        fc.property(inputs, fc.constantFrom<ParseEncryptionDataOptions>({}, NO_CAP, { maxRegionSize: 1024 }), (input, options) => {
          const r = parse(input, options);
          if (r.ok) expectWellFormed(r.value, options.maxRegionSize);
        }),
        budget(1000),
      );
    },
    timeoutFor(1000),
  );

  it(
    "deep nesting (up to 200 000 levels) anywhere in the document is refused without a stack overflow",
    () => {
      fc.assert(
        fc.property(docArb, fc.nat(), fc.integer({ min: 1, max: 200_000 }), fc.constantFrom("[", "{\"a\":"), (doc, which, depth, open) => {
          const close = open === "[" ? "]" : "}";
          const nested = open.repeat(depth) + "1" + close.repeat(depth);
          const paths = doc.protocol === "1.0" ? V1_PATHS : V2_PATHS;
          const path = paths[which % paths.length]!;
          const { json } = mutatedText(doc, path, { raw: nested });
          const r = parse(json, NO_CAP, LARGE);
          const expected = oracle(doc, path, open === "[" ? [] : {}); // a nested container is never a valid scalar
          if (expected.ok) expect(r.ok).toBe(true);
          else {
            expect(r.ok).toBe(false);
            if (!r.ok) expect(expected.codes).toContain(r.error.code);
          }
          // As the whole input: not an object, or an object without the required fields.
          const whole = parse(nested, NO_CAP, LARGE);
          expect(whole.ok).toBe(false);
        }),
        budget(40, 400),
      );
    },
    timeoutFor(40, 30_000, 400),
  );

  it("EncryptedKey and ContentEncryptionIV accept standard padded base64 only (no whitespace, url-safe alphabet, missing or extra padding)", () => {
    const damage = fc.constantFrom(
      (s: string) => s,
      (s: string) => `${s}\n`,
      (s: string) => ` ${s}`,
      (s: string) => s.slice(0, 4) + "\r\n" + s.slice(4),
      (s: string) => s.replace(/=+$/, ""),
      (s: string) => `${s}=`,
      (s: string) => s.replace(/\+/g, "-").replace(/\//g, "_"),
      (s: string) => `\uFEFF${s}`,
      (s: string) => s.slice(0, -1),
      (s: string) => `${s}AAAA`.slice(4),
    );
    fc.assert(
      fc.property(docArb, bytes(1, 64), damage, fc.boolean(), (doc, raw, hurt, iv) => {
        const useIv = iv || doc.protocol !== "1.0" ? doc.protocol === "1.0" : false;
        const path: FieldPath = useIv ? ["ContentEncryptionIV"] : ["WrappedContentKey", "EncryptedKey"];
        const value = hurt((useIv ? Buffer.concat([raw, Buffer.alloc(16)]).subarray(0, 16) : raw).toString("base64"));
        const { json } = mutatedText(doc, path, { value });
        const r = parse(json, { maxRegionSize: NO_CAP.maxRegionSize });
        const expected = oracle(doc, path, value);
        expect(r.ok, `${path.join(".")} = ${JSON.stringify(value)}`).toBe(expected.ok);
        if (r.ok && expected.ok) {
          const want = expectedView(doc);
          expected.patch(want);
          expect(view(r.value)).toEqual(want);
        }
      }),
      budget(400),
    );
  });

  it("exact duplicate field names take the last value (as JSON.parse and every SDK reader); case-variant duplicates are refused", () => {
    fc.assert(
      fc.property(docArb, fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }), fc.constantFrom("KeyId", "Algorithm"), (doc, mask, name) => {
        const json = JSON.stringify(toObject(doc));
        const inject = (dupName: string) => json.replace(`"${name}":`, `"${dupName}":"first-value","${name}":`);
        const exact = parse(inject(name), NO_CAP);
        expect(exact.ok).toBe(true);
        if (exact.ok) expect(name === "KeyId" ? exact.value.wrappedContentKey.keyId : exact.value.wrappedContentKey.algorithm).toBe(name === "KeyId" ? doc.keyId : doc.algorithm);
        const spelled = variant(name, mask);
        const caseDup = parse(inject(spelled === name ? name.toUpperCase() : spelled), NO_CAP);
        expect(caseDup.ok).toBe(false);
        if (!caseDup.ok) expect(caseDup.error.code).toBe("INVALID_ENCRYPTION_DATA");
      }),
      budget(200),
    );
    // Case-variant duplicates of a container and of the protocol are refused too.
    const base = toObject({ protocol: "2.0", keyId: "k", encryptedKey: Buffer.alloc(40), algorithm: "A256KW", iv: Buffer.alloc(16), dataLength: 4194304, kwm: undefined, mode: undefined });
    const agentTwice = JSON.stringify({ ...base, encryptionagent: { Protocol: "1.0", EncryptionAlgorithm: "AES_CBC_256" } });
    const r1 = parse(agentTwice);
    expect(!r1.ok && r1.error.code).toBe("INVALID_ENCRYPTION_DATA");
    const protocolTwice = JSON.stringify({ ...base, EncryptionAgent: { Protocol: "2.0", PROTOCOL: "1.0", EncryptionAlgorithm: "AES_GCM_256" } });
    const r2 = parse(protocolTwice);
    expect(!r2.ok && r2.error.code).toBe("INVALID_ENCRYPTION_DATA");
  });

  it("field names are case-insensitive in ASCII only: Unicode look-alikes (KELVIN SIGN, dotless i, long s, fullwidth) are unknown fields", () => {
    const base = { protocol: "2.0" as const, keyId: "k", encryptedKey: Buffer.alloc(40), algorithm: "A256KW", iv: Buffer.alloc(16), dataLength: 4194304, kwm: undefined, mode: undefined };
    const lookalikes: [string, string][] = [
      ["KeyId", "\u212AeyId"], // KELVIN SIGN lower-cases to "k"
      ["KeyId", "KeyId\u0307"],
      ["EncryptedKey", "EncryptedKey\u200B"],
      ["Protocol", "Protocol\uFEFF"],
      ["DataLength", "DataLength\u0000"],
      ["Algorithm", "Algor\u0131thm"], // dotless i upper-cases to "I"
      ["EncryptionAlgorithm", "encryptionALGORITHM"], // control: an ASCII case variant is the same field
      ["KeyId", "Key\u0130d"], // LATIN CAPITAL I WITH DOT ABOVE lower-cases to "i" + U+0307
      ["EncryptionAgent", "\uFF25ncryptionAgent"], // fullwidth E
    ];
    for (const [name, lookalike] of lookalikes) {
      const json = JSON.stringify(toObject(base)).replace(`"${name}":`, `"${lookalike}":`);
      const r = parse(json);
      if ([...lookalike].every((c) => c.charCodeAt(0) < 0x80) && lookalike.toLowerCase() === name.toLowerCase()) expect(r.ok).toBe(true);
      else expect(r.ok ? "accepted" : r.error.code, `${JSON.stringify(lookalike)} must not stand for ${name}`).toBe("INVALID_ENCRYPTION_DATA");
    }
    // Non-ASCII values are data, not names: they survive unchanged.
    fc.assert(
      fc.property(fc.string({ unit: "binary", minLength: 1, maxLength: 30 }), (id) => {
        const r = parse(JSON.stringify(toObject({ ...base, keyId: id, kwm: { EncryptionLibrary: id } })));
        expect(r.ok && r.value.wrappedContentKey.keyId).toBe(id);
        expect(r.ok && r.value.keyWrappingMetadata?.EncryptionLibrary).toBe(id);
      }),
      budget(200),
    );
  });

  it("__proto__ and constructor keys neither pollute prototypes nor change the Java writer detection", () => {
    const base = toObject({ protocol: "1.0", keyId: "k", encryptedKey: Buffer.alloc(40), algorithm: "A256KW", iv: Buffer.alloc(16), dataLength: 16, kwm: undefined, mode: undefined });
    const json = JSON.stringify(base).replace(/}$/, ',"KeyWrappingMetadata":{"__proto__":{"EncryptionLibrary":"Java 8.6.6"},"constructor":"Java"},"__proto__":{"polluted":true}}');
    const r = parse(json);
    if (!r.ok) expect.fail(r.error.message);
    expect(r.value.keyWrappingMetadata?.EncryptionLibrary).toBeUndefined();
    expect(isLegacyJavaWriter(r.value)).toBe(false);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).EncryptionLibrary).toBeUndefined();
  });

  it(
    "megabyte-long strings: refused before parsing when over maxLength; with the cap lifted, parsed in bounded time and memory with short messages",
    () => {
      const mb = 1024 * 1024;
      const doc: Doc = { protocol: "2.0", keyId: "k", encryptedKey: Buffer.alloc(40, 9), algorithm: "A256KW", iv: Buffer.alloc(16), dataLength: 4194304, kwm: undefined, mode: undefined };
      fc.assert(
        fc.property(
          fc.integer({ min: mb, max: 3 * mb }),
          fc.constantFrom("a", "é", "\u{1F600}", "\\u0041", "0"),
          fc.nat(),
          (len, unit, which) => {
            const long = unit.repeat(Math.ceil(len / unit.length));
            const path = V2_PATHS[which % V2_PATHS.length]!;
            // "0": a number literal of a million digits; "\\u0041": a million JSON escapes; else a plain string.
            const raw = unit === "0" ? "1" + long : unit === "\\u0041" ? `"${long}"` : JSON.stringify(long);
            const { json } = mutatedText(doc, path, { raw });
            // Default cap (16 KiB): refused up front.
            const capped = parse(json, {}, LARGE);
            expect(!capped.ok && capped.error.code).toBe("INVALID_ENCRYPTION_DATA");
            // No cap: the field's own rules decide; messages never echo the long value.
            const r = parse(json, NO_CAP, LARGE);
            const expected = oracle(doc, path, JSON.parse(raw));
            expect(r.ok).toBe(expected.ok);
            if (!r.ok && !expected.ok) expect(expected.codes).toContain(r.error.code);
            // As a field name, and as a megabyte of unknown fields.
            const longName = parse(JSON.stringify({ ...toObject(doc), [long]: long }), NO_CAP, LARGE);
            expect(longName.ok).toBe(true);
          },
        ),
        budget(8, 60),
      );
      // A megabyte-long EncryptedKey that is valid base64 is data (the key's unwrap decides).
      const bigKey = Buffer.alloc(mb, 0x5a);
      const r = parse(JSON.stringify(toObject({ ...doc, encryptedKey: bigKey })), NO_CAP, LARGE);
      expect(r.ok && r.value.wrappedContentKey.encryptedKey.length).toBe(mb);
    },
    timeoutFor(8, 30_000, 60),
  );

  it("reader options: a NaN or negative bound is an INVALID_ARGUMENT, never a silently disabled limit", () => {
    const json = JSON.stringify(toObject({ protocol: "2.1", keyId: "k", encryptedKey: Buffer.alloc(40), algorithm: "A256KW", iv: Buffer.alloc(16), dataLength: 2048, kwm: undefined, mode: undefined }));
    for (const options of [{ maxLength: Number.NaN }, { maxLength: -1 }, { maxRegionSize: Number.NaN }, { maxRegionSize: -5 }]) {
      const r = withinBounds(SMALL, () => expectTypedOutcome(() => parseEncryptionData(json, options), ["INVALID_ARGUMENT"]));
      expect(r.ok).toBe(false);
    }
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4096 }), (maxRegionSize) => {
        const r = parse(json, { maxRegionSize });
        expect(r.ok).toBe(maxRegionSize >= 2048);
      }),
      budget(100),
    );
  });

  it(
    "the reader retains no memory across thousands of hostile inputs",
    async () => {
      const samples = fc.sample(fc.tuple(docArb, fc.nat(), replacementArb), { numRuns: 400, seed: 42 });
      await expectNoRetainedGrowth(8 * 1024 * 1024, () => {
        for (let round = 0; round < 5; round++) {
          for (const [doc, which, rep] of samples) {
            const paths = doc.protocol === "1.0" ? V1_PATHS : V2_PATHS;
            parse(mutatedText(doc, paths[which % paths.length]!, rep).json, NO_CAP);
          }
        }
      });
    },
    timeoutFor(1, 30_000),
  );
});
