// The one bounded TTL/LRU cache (TtlLruCache) behind the caching key resolver, the Key Vault resolver and the
// content-key cache.
import { describe, expect, it } from "vitest";
import { TtlLruCache, type CacheEvictionReason } from "../src/internal.js";

describe("TtlLruCache", () => {
  it("serves until the TTL, evicts the least recently used over the cap, and reports every eviction with its reason", () => {
    let t = 0;
    const evicted: [string, CacheEvictionReason][] = [];
    const c = new TtlLruCache<string, string>({ maxEntries: 2, ttlInMs: 100, now: () => t, onEvict: (v, r) => evicted.push([v, r]) });
    c.set("a", "A");
    c.set("b", "B");
    expect(c.get("a")).toBe("A"); // a is now the most recently used
    c.set("c", "C"); // b goes
    expect(evicted).toEqual([["B", "capacity"]]);
    expect(c.get("b")).toBeUndefined();
    c.set("a", "A2");
    expect(evicted.at(-1)).toEqual(["A", "replaced"]);
    t = 100;
    expect(c.get("a")).toBeUndefined();
    expect(evicted.at(-1)).toEqual(["A2", "expired"]);
    expect(c.size).toBe(1);
    c.clear();
    expect(evicted.at(-1)).toEqual(["C", "cleared"]);
    expect(c.size).toBe(0);
    c.set("d", "D");
    expect(c.delete("d")).toBe(true);
    expect(evicted).toHaveLength(4);
  });

  it("refuses a non-positive or fractional cap and a non-positive TTL (INVALID_ARGUMENT)", () => {
    for (const o of [{ maxEntries: 0, ttlInMs: 1 }, { maxEntries: 1.5, ttlInMs: 1 }, { maxEntries: 1, ttlInMs: 0 }, { maxEntries: 1, ttlInMs: Number.NaN }]) {
      expect(() => new TtlLruCache(o)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    }
  });
});
