// EncryptionData schema: tolerant, fail-closed reader; exact, minimal writer (spec blob-format §2).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_MAX_READ_REGION_SIZE,
  maxReadRegionSize,
  AesKeyWrapKey,
  LIBRARY_ID,
  VERSION,
  createContentEncryption,
  encryptionDataToJson,
  findEncryptionDataInMetadata,
  isLegacyJavaWriter,
  parseEncryptionData,
  serializeEncryptionData,
  DEFAULT_MAX_ENCRYPTION_DATA_LENGTH,
  type EncryptionData,
} from "@azure-cse/core-envelope";
import { caught, expectCode, patternBytes } from "./helpers.js";

const V2 = {
  EncryptionMode: "FullBlob",
  WrappedContentKey: { KeyId: "local:k", EncryptedKey: "J4GA/Bc2GgpqQCBmP0zJ7mcJaPAlAkxc1cWB1bgtNPjlDUOdugJt+/6kbqEpezbM", Algorithm: "A256KW" },
  EncryptionAgent: { Protocol: "2.0", EncryptionAlgorithm: "AES_GCM_256" },
  EncryptedRegionInfo: { DataLength: 4194304, NonceLength: 12 },
  KeyWrappingMetadata: { EncryptionLibrary: "Python 12.15.0b1" },
};
const V1 = {
  WrappedContentKey: { KeyId: "local:k", EncryptedKey: "BPijw8MC07C36UsU3Pha0dppzXQFbteQfTy0n7J3maQQTbBY8pAa2w==", Algorithm: "A256KW" },
  EncryptionAgent: { Protocol: "1.0", EncryptionAlgorithm: "AES_CBC_256" },
  ContentEncryptionIV: "QEFCQ0RFRkdISUpLTE1OTw==",
  KeyWrappingMetadata: { EncryptionLibrary: "Python 12.15.0b1" },
  EncryptionMode: "FullBlob",
};
type Json = Record<string, unknown>;
const clone = <T>(v: T): T => structuredClone(v);
const lowerKeys = (v: unknown): unknown =>
  Array.isArray(v) ? v.map(lowerKeys) : v && typeof v === "object" ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k.toLowerCase(), lowerKeys(x)])) : v;
const upperKeys = (v: unknown): unknown =>
  Array.isArray(v) ? v.map(upperKeys) : v && typeof v === "object" ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k.toUpperCase(), upperKeys(x)])) : v;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- free-form JSON surgery in tests
type Loose = any;
function edit(base: Json, fn: (o: Loose) => void): string {
  const o = clone(base);
  fn(o);
  return JSON.stringify(o);
}

describe("EncryptionData reader: field names, unknown fields, versions (spec §2.4)", () => {
  it("field names are matched case-insensitively at every level (lower and upper case parse the same)", () => {
    const canonical = parseEncryptionData(JSON.stringify(V2));
    expect(parseEncryptionData(JSON.stringify(lowerKeys(V2)))).toEqual(canonical);
    expect(parseEncryptionData(JSON.stringify(upperKeys(V2)))).toEqual(canonical);
    expect(parseEncryptionData(JSON.stringify(lowerKeys(V1)))).toEqual(parseEncryptionData(JSON.stringify(V1)));
    // EncryptionLibrary drives the legacy-Java table IV order, so its name is case-insensitive too.
    const javaLower = JSON.stringify(lowerKeys({ ...V2, KeyWrappingMetadata: { EncryptionLibrary: "Java 8.6.6" } }));
    expect(isLegacyJavaWriter(parseEncryptionData(javaLower))).toBe(true);
  });

  it("one field spelled twice with different case is ambiguous → INVALID_ENCRYPTION_DATA", async () => {
    await expectCode(() => parseEncryptionData(edit(V2, (o) => (o.encryptionagent = { Protocol: "1.0", EncryptionAlgorithm: "AES_CBC_256" }))), "INVALID_ENCRYPTION_DATA");
  });

  it("unknown fields are ignored at every level (TagLength, extra agent/key fields, top-level extras)", () => {
    const json = edit(V2, (o) => {
      o.Extra = { nested: [1, 2] };
      o.WrappedContentKey.Comment = "x";
      o.EncryptionAgent.Vendor = 7;
      o.EncryptedRegionInfo.TagLength = 16;
      o.KeyWrappingMetadata.Other = "y";
    });
    const d = parseEncryptionData(json);
    expect(d.protocol).toBe("2.0");
    const { keyWrappingMetadata, ...restOfD } = d;
    const { keyWrappingMetadata: canonicalKwm, ...restOfCanonical } = parseEncryptionData(JSON.stringify(V2));
    expect(restOfD).toEqual(restOfCanonical);
    // KeyWrappingMetadata is an informational string map: kept as read, only EncryptionLibrary is interpreted.
    expect(keyWrappingMetadata).toEqual({ ...canonicalKwm, Other: "y" });
  });

  it("KeyWrappingMetadata and EncryptionMode are optional and not validated ('Full Blob' accepted)", () => {
    const d = parseEncryptionData(
      edit(V2, (o) => {
        delete o.KeyWrappingMetadata;
        o.EncryptionMode = "Full Blob";
      }),
    );
    expect(d.keyWrappingMetadata).toBeUndefined();
    expect(d.encryptionMode).toBe("Full Blob");
    expect(parseEncryptionData(edit(V2, (o) => delete o.EncryptionMode)).encryptionMode).toBeUndefined();
  });

  const required: [string, Json, (o: Loose) => void][] = [
    ["WrappedContentKey", V2, (o) => delete o.WrappedContentKey],
    ["WrappedContentKey.KeyId", V2, (o) => delete o.WrappedContentKey.KeyId],
    ["WrappedContentKey.EncryptedKey", V2, (o) => delete o.WrappedContentKey.EncryptedKey],
    ["WrappedContentKey.Algorithm", V2, (o) => delete o.WrappedContentKey.Algorithm],
    ["EncryptionAgent", V2, (o) => delete o.EncryptionAgent],
    ["EncryptionAgent.Protocol", V2, (o) => delete o.EncryptionAgent.Protocol],
    ["EncryptionAgent.EncryptionAlgorithm", V2, (o) => delete o.EncryptionAgent.EncryptionAlgorithm],
    ["2.0 EncryptedRegionInfo", V2, (o) => delete o.EncryptedRegionInfo],
    ["2.0 EncryptedRegionInfo.DataLength", V2, (o) => delete o.EncryptedRegionInfo.DataLength],
    ["2.0 EncryptedRegionInfo.NonceLength", V2, (o) => delete o.EncryptedRegionInfo.NonceLength],
    ["1.0 ContentEncryptionIV", V1, (o) => delete o.ContentEncryptionIV],
    ["2.1 EncryptedRegionInfo", V2, (o) => ((o.EncryptionAgent.Protocol = "2.1"), delete o.EncryptedRegionInfo)],
  ];
  for (const [name, base, fn] of required) {
    it(`required field ${name} missing → INVALID_ENCRYPTION_DATA`, async () => {
      await expectCode(() => parseEncryptionData(edit(base, fn)), "INVALID_ENCRYPTION_DATA");
    });
  }

  it("a 1.0 body needs no region info and a 2.x body needs no IV (version-specific fields only)", () => {
    expect(parseEncryptionData(JSON.stringify(V1)).protocol).toBe("1.0");
    expect(parseEncryptionData(edit(V2, (o) => (o.ContentEncryptionIV = "QEFCQ0RFRkdISUpLTE1OTw=="))).protocol).toBe("2.0");
  });

  it("EncryptionAlgorithm is checked against Protocol (1.0↔AES_CBC_256, 2.x↔AES_GCM_256)", async () => {
    await expectCode(() => parseEncryptionData(edit(V1, (o) => (o.EncryptionAgent.EncryptionAlgorithm = "AES_GCM_256"))), "INVALID_ENCRYPTION_DATA");
    await expectCode(() => parseEncryptionData(edit(V2, (o) => (o.EncryptionAgent.EncryptionAlgorithm = "AES_CBC_256"))), "INVALID_ENCRYPTION_DATA");
    await expectCode(
      () => parseEncryptionData(edit(V2, (o) => ((o.EncryptionAgent.Protocol = "2.1"), (o.EncryptionAgent.EncryptionAlgorithm = "AES_CBC_256")))),
      "INVALID_ENCRYPTION_DATA",
    );
    await expectCode(() => parseEncryptionData(edit(V2, (o) => (o.EncryptionAgent.EncryptionAlgorithm = "aes_gcm_256"))), "INVALID_ENCRYPTION_DATA");
  });

  it("unknown protocol fails closed with UNSUPPORTED_PROTOCOL (never treated as plaintext)", async () => {
    for (const p of ["3.0", "2.2", "1.1", "2", "v2.0"]) {
      const e = await expectCode(() => parseEncryptionData(edit(V2, (o) => (o.EncryptionAgent.Protocol = p))), "UNSUPPORTED_PROTOCOL");
      expect(e.message).toContain(p);
    }
    await expectCode(() => parseEncryptionData(edit(V2, (o) => (o.EncryptionAgent.Protocol = 2.0))), "INVALID_ENCRYPTION_DATA");
  });

  it("DataLength is bounded 16 B … 1 GiB and must be an integer JSON number", async () => {
    const withLen = (n: unknown) => edit(V2, (o) => ((o.EncryptionAgent.Protocol = "2.1"), (o.EncryptedRegionInfo.DataLength = n)));
    expect((parseEncryptionData(withLen(16)) as Loose).encryptedRegionInfo.dataLength).toBe(16);
    expect((parseEncryptionData(withLen(1073741824), { maxRegionSize: 1073741824 }) as Loose).encryptedRegionInfo.dataLength).toBe(1073741824);
    for (const bad of [15, 0, -1, 1073741825, 4194304.5, "4194304", null]) {
      await expectCode(() => parseEncryptionData(withLen(bad), { maxRegionSize: 1073741824 }), "INVALID_ENCRYPTION_DATA");
    }
  });

  it("protocol 2.0 always has 4 MiB regions: any other DataLength under 2.0 is refused (a relabelled 2.1 body)", async () => {
    const with20 = (n: unknown) => edit(V2, (o) => ((o.EncryptionAgent.Protocol = "2.0"), (o.EncryptedRegionInfo.DataLength = n)));
    expect(parseEncryptionData(with20(4194304)).protocol).toBe("2.0");
    for (const bad of [16, 4194303, 4194305, 8 * 1024 * 1024, 1024]) {
      const e = await caught(() => parseEncryptionData(with20(bad)));
      expect(e.code).toBe("INVALID_ENCRYPTION_DATA");
      expect(e.message).toContain("4194304");
    }
  });

  it("maxRegionSize read bound: 2.1 regions above 16 MiB are refused by default (no huge unverified buffer from a metadata edit), accepted when raised", async () => {
    const with21 = (n: number) => edit(V2, (o) => ((o.EncryptionAgent.Protocol = "2.1"), (o.EncryptedRegionInfo.DataLength = n)));
    expect(DEFAULT_MAX_READ_REGION_SIZE).toBe(16 * 1024 * 1024);
    expect(parseEncryptionData(with21(DEFAULT_MAX_READ_REGION_SIZE)).protocol).toBe("2.1");
    const e = await caught(() => parseEncryptionData(with21(DEFAULT_MAX_READ_REGION_SIZE + 1)));
    expect(e.code).toBe("INVALID_ENCRYPTION_DATA");
    expect(e.message).toContain("maxRegionSize");
    expect(parseEncryptionData(with21(64 * 1024 * 1024), { maxRegionSize: 64 * 1024 * 1024 }).protocol).toBe("2.1");
    // A policy reads what it writes: its own larger regionSize raises the default bound.
    expect(maxReadRegionSize({})).toBe(DEFAULT_MAX_READ_REGION_SIZE);
    expect(maxReadRegionSize({ encryptionVersion: "2.1", regionSize: 64 * 1024 * 1024 })).toBe(64 * 1024 * 1024);
    expect(maxReadRegionSize({ regionSize: 1024, maxRegionSize: 2048 })).toBe(2048);
  });

  it("readers may cap DataLength lower with maxRegionSize (memory bound)", async () => {
    const json = edit(V2, (o) => ((o.EncryptionAgent.Protocol = "2.1"), (o.EncryptedRegionInfo.DataLength = 8 * 1024 * 1024)));
    await expectCode(() => parseEncryptionData(json, { maxRegionSize: 4 * 1024 * 1024 }), "INVALID_ENCRYPTION_DATA");
    expect(parseEncryptionData(json, { maxRegionSize: 8 * 1024 * 1024 }).protocol).toBe("2.1");
  });

  it("NonceLength must be 12", async () => {
    for (const n of [16, 0, 11, "12"]) await expectCode(() => parseEncryptionData(edit(V2, (o) => (o.EncryptedRegionInfo.NonceLength = n))), "INVALID_ENCRYPTION_DATA");
  });

  it("ContentEncryptionIV must be 16 bytes of standard padded base64; EncryptedKey must be standard padded base64", async () => {
    await expectCode(() => parseEncryptionData(edit(V1, (o) => (o.ContentEncryptionIV = "QEFCQ0RFRkdISUpLTE1O"))), "INVALID_ENCRYPTION_DATA");
    await expectCode(() => parseEncryptionData(edit(V1, (o) => (o.ContentEncryptionIV = "QEFCQ0RFRkdISUpLTE1OTw"))), "INVALID_ENCRYPTION_DATA");
    await expectCode(() => parseEncryptionData(edit(V2, (o) => (o.WrappedContentKey.EncryptedKey = "J4GA_Bc2GgpqQCBmP0zJ7mcJaPAlAkxc1cWB1bgtNPjlDUOdugJt-_6kbqEpezbM"))), "INVALID_ENCRYPTION_DATA");
    await expectCode(() => parseEncryptionData(edit(V2, (o) => (o.WrappedContentKey.EncryptedKey = ""))), "INVALID_ENCRYPTION_DATA");
  });

  it("metadata size is bounded (default 16 KiB, configurable), and non-JSON / non-object input is INVALID_ENCRYPTION_DATA", async () => {
    const big = edit(V2, (o) => (o.Padding = "x".repeat(DEFAULT_MAX_ENCRYPTION_DATA_LENGTH)));
    await expectCode(() => parseEncryptionData(big), "INVALID_ENCRYPTION_DATA");
    expect(parseEncryptionData(big, { maxLength: 2 * DEFAULT_MAX_ENCRYPTION_DATA_LENGTH }).protocol).toBe("2.0");
    await expectCode(() => parseEncryptionData(JSON.stringify(V2), { maxLength: 100 }), "INVALID_ENCRYPTION_DATA");
    for (const bad of ["{", "[]", "null", '"x"', "42", ""]) await expectCode(() => parseEncryptionData(bad), "INVALID_ENCRYPTION_DATA");
  });

  it(".NET System.Text.Json escaping (\\u002B for '+', \\u002F for '/') parses to the same bytes", () => {
    const plain = JSON.stringify(V2);
    const escaped = plain.replace(/\+/g, "\\u002B").replace(/\//g, "\\u002F");
    expect(escaped).not.toBe(plain);
    expect(escaped).toContain("\\u002B");
    expect(parseEncryptionData(escaped)).toEqual(parseEncryptionData(plain));
  });

  it("accepts an already parsed object as well as the JSON string", () => {
    expect(parseEncryptionData(clone(V2))).toEqual(parseEncryptionData(JSON.stringify(V2)));
  });
});

describe("encryptiondata metadata key", () => {
  it("is found whatever its letter case; two spellings are INVALID_ENCRYPTION_DATA; absent → undefined", async () => {
    expect(findEncryptionDataInMetadata({ encryptiondata: "a", other: "b" })).toBe("a");
    expect(findEncryptionDataInMetadata({ EncryptionData: "a" })).toBe("a");
    expect(findEncryptionDataInMetadata({ Project: "x" })).toBeUndefined();
    expect(findEncryptionDataInMetadata(undefined)).toBeUndefined();
    await expectCode(() => findEncryptionDataInMetadata({ encryptiondata: "a", EncryptionData: "b" }), "INVALID_ENCRYPTION_DATA");
  });
});

describe("EncryptionData writer: exact names, order, types (spec §2.3/§2.4 writer rules)", () => {
  const kek = new AesKeyWrapKey("local:writer", patternBytes(32, 9));

  async function written(policy: Parameters<typeof createContentEncryption>[0]) {
    const enc = await createContentEncryption(policy);
    return { enc, blob: enc.toJson(true), queue: enc.toJson(false) };
  }

  function shape(v: unknown): unknown {
    if (Array.isArray(v)) return v.map(shape);
    if (v && typeof v === "object") return Object.entries(v).map(([k, x]) => [k, shape(x)]);
    return typeof v;
  }

  it("2.0: .NET/Java field order and casing, numbers as numbers, no extra fields, compact ASCII", async () => {
    const { blob, queue } = await written({ keyEncryptionKey: kek });
    expect(shape(JSON.parse(blob))).toEqual([
      ["EncryptionMode", "string"],
      ["WrappedContentKey", [["KeyId", "string"], ["EncryptedKey", "string"], ["Algorithm", "string"]]],
      ["EncryptionAgent", [["Protocol", "string"], ["EncryptionAlgorithm", "string"]]],
      ["EncryptedRegionInfo", [["DataLength", "number"], ["NonceLength", "number"]]],
      ["KeyWrappingMetadata", [["EncryptionLibrary", "string"]]],
    ]);
    const o = JSON.parse(blob);
    expect(o.EncryptionMode).toBe("FullBlob");
    expect(o.EncryptionAgent).toEqual({ Protocol: "2.0", EncryptionAlgorithm: "AES_GCM_256" });
    expect(o.EncryptedRegionInfo).toEqual({ DataLength: 4194304, NonceLength: 12 });
    expect(o.WrappedContentKey.KeyId).toBe("local:writer");
    expect(o.WrappedContentKey.Algorithm).toBe("A256KW");
    expect(blob).toBe(JSON.stringify(o)); // compact: no whitespace
    expect(/^[\x20-\x7e]*$/.test(blob)).toBe(true);
    // Queue/table form: identical minus EncryptionMode.
    const { EncryptionMode: _m, ...rest } = o;
    expect(queue).toBe(JSON.stringify(rest));
  });

  it("2.1: DataLength is the configured region size, Protocol 2.1", async () => {
    const o = JSON.parse((await written({ keyEncryptionKey: kek, encryptionVersion: "2.1", regionSize: 65536 })).blob);
    expect(o.EncryptionAgent.Protocol).toBe("2.1");
    expect(o.EncryptedRegionInfo).toEqual({ DataLength: 65536, NonceLength: 12 });
  });

  it("1.0: EncryptionMode, WrappedContentKey, EncryptionAgent, ContentEncryptionIV, KeyWrappingMetadata — nothing else", async () => {
    const { blob } = await written({ keyEncryptionKey: kek, encryptionVersion: "1.0", allowDeprecatedV1Encryption: true });
    expect(shape(JSON.parse(blob))).toEqual([
      ["EncryptionMode", "string"],
      ["WrappedContentKey", [["KeyId", "string"], ["EncryptedKey", "string"], ["Algorithm", "string"]]],
      ["EncryptionAgent", [["Protocol", "string"], ["EncryptionAlgorithm", "string"]]],
      ["ContentEncryptionIV", "string"],
      ["KeyWrappingMetadata", [["EncryptionLibrary", "string"]]],
    ]);
    expect(JSON.parse(blob).EncryptionAgent).toEqual({ Protocol: "1.0", EncryptionAlgorithm: "AES_CBC_256" });
  });

  it("binary fields are standard padded base64 (length multiple of 4, '=' padding, no URL alphabet)", async () => {
    const std = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
    for (let i = 0; i < 20; i++) {
      const o1 = JSON.parse((await written({ keyEncryptionKey: kek, encryptionVersion: "1.0", allowDeprecatedV1Encryption: true })).blob);
      expect(o1.WrappedContentKey.EncryptedKey).toMatch(std);
      expect(o1.ContentEncryptionIV).toMatch(std);
      expect(o1.ContentEncryptionIV.length).toBe(24);
      expect(o1.ContentEncryptionIV.endsWith("==")).toBe(true);
    }
  });

  it("EncryptionLibrary identifies us, never contains 'Java' in any case, and VERSION equals package.json", async () => {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
    expect(VERSION).toBe(pkg.version);
    expect(LIBRARY_ID).toBe(`azsdk-js-azure-cse/${pkg.version}`);
    expect(LIBRARY_ID.toLowerCase()).not.toContain("java");
    for (const policy of [{ keyEncryptionKey: kek }, { keyEncryptionKey: kek, encryptionVersion: "1.0" as const, allowDeprecatedV1Encryption: true }]) {
      const { enc, blob } = await written(policy);
      expect(JSON.parse(blob).KeyWrappingMetadata).toEqual({ EncryptionLibrary: LIBRARY_ID });
      expect(blob.toLowerCase()).not.toContain("java");
      expect(isLegacyJavaWriter(parseEncryptionData(blob))).toBe(false);
      expect(enc.encryptionData.keyWrappingMetadata).toEqual({ EncryptionLibrary: LIBRARY_ID });
    }
  });

  it("write → read round trip is lossless, and serializing parsed foreign data keeps its fields in our canonical form", () => {
    const d: EncryptionData = parseEncryptionData(JSON.stringify(V2));
    const again = parseEncryptionData(serializeEncryptionData(d, { includeEncryptionMode: true }));
    expect(again).toEqual({ ...d, encryptionMode: "FullBlob" });
    expect(Object.keys(encryptionDataToJson(d, { includeEncryptionMode: false }))).toEqual(["WrappedContentKey", "EncryptionAgent", "EncryptedRegionInfo", "KeyWrappingMetadata"]);
  });

  it("isLegacyJavaWriter: 'Java' in EncryptionLibrary or no KeyWrappingMetadata (table IV order switch)", () => {
    expect(isLegacyJavaWriter(parseEncryptionData(edit(V2, (o) => (o.KeyWrappingMetadata.EncryptionLibrary = "JavaTrack212.28.0"))))).toBe(true);
    expect(isLegacyJavaWriter(parseEncryptionData(edit(V2, (o) => delete o.KeyWrappingMetadata)))).toBe(true);
    expect(isLegacyJavaWriter(parseEncryptionData(JSON.stringify(V2)))).toBe(false);
  });
});
