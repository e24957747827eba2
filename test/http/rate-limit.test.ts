import { afterEach, describe, expect, test } from "vitest";
import { clientKey } from "../../src/http/client-address.js";
import { RateLimiter } from "../../src/http/rate-limit.js";

/**
 * Counts the work a piece of code does on Maps (lookups, writes, deletes and iteration steps)
 * and the largest Map it builds, by wrapping Map's methods while it runs. Work, not wall time:
 * the count does not depend on how busy the machine is. A call that does more than `budget`
 * operations throws at once, so a limiter that walks its whole table fails fast.
 */
function mapWork(budget: number) {
  const proto = Map.prototype as unknown as Record<string | symbol, (...a: unknown[]) => unknown>;
  const saved = new Map<string | symbol, (...a: unknown[]) => unknown>();
  const state = { ops: 0, maxOps: 0, maxSize: 0 };
  // Only calls made through call() are counted: the test runner's own Maps are left alone.
  let active = false;
  const tick = () => {
    if (active && ++state.ops > budget) {
      active = false;
      throw new Error(`more than ${budget} map operations in one call`);
    }
  };
  for (const name of ["get", "set", "delete", "has"] as const) {
    const original = proto[name]!;
    saved.set(name, original);
    proto[name] = function (this: Map<unknown, unknown>, ...args: unknown[]) {
      tick();
      const result = original.apply(this, args);
      if (active) state.maxSize = Math.max(state.maxSize, this.size);
      return result;
    };
  }
  for (const name of [Symbol.iterator, "entries", "keys", "values"] as const) {
    const original = proto[name]!;
    saved.set(name, original);
    proto[name] = function (this: Map<unknown, unknown>) {
      const it = original.call(this) as Iterator<unknown>;
      const counted = {
        next: () => {
          tick();
          return it.next();
        },
        [Symbol.iterator]: () => counted,
      };
      return counted;
    };
  }
  return {
    state,
    /** Runs one call, counting its operations. */
    call<T>(fn: () => T): T {
      state.ops = 0;
      active = true;
      try {
        return fn();
      } finally {
        active = false;
        state.maxOps = Math.max(state.maxOps, state.ops);
      }
    },
    restore() {
      for (const [name, fn] of saved) proto[name] = fn;
    },
  };
}

let restore: (() => void) | undefined;
afterEach(() => {
  restore?.();
  restore = undefined;
});

describe("per-address rate limiting under an address flood", () => {
  test("200,000 distinct addresses: the table stays bounded and every call does constant work", () => {
    let clock = 0;
    const capacity = 10_000;
    const limiter = new RateLimiter(
      () => 10,
      () => clock,
      () => capacity,
    );
    const work = mapWork(50);
    restore = work.restore;
    for (let i = 0; i < 200_000; i++) {
      clock += 0.01; // the whole flood within 2 s: no bucket refills, so only the capacity bounds the table
      const address = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      // Each flooding address fails once: its bucket is no longer full, so it is not idle state.
      work.call(() => limiter.take(address));
      work.call(() => limiter.waitFor(address));
    }
    work.restore();
    expect(work.state.maxOps).toBeLessThanOrEqual(12);
    expect(work.state.maxSize).toBe(capacity);
    expect(limiter.size).toBe(capacity);
  });

  test("the flood does not reset a limited address that keeps trying, and idle entries are forgotten", () => {
    let clock = 0;
    const limiter = new RateLimiter(
      () => 3,
      () => clock,
      () => 1000,
    );
    for (let i = 0; i < 3; i++) expect(limiter.take("192.0.2.66")).toBe(true);
    expect(limiter.take("192.0.2.66")).toBe(false);
    for (let i = 0; i < 5000; i++) {
      clock += 1;
      limiter.take(`10.1.${(i >> 8) & 255}.${i & 255}`);
      // The attacker keeps trying, so its bucket stays among the recently used.
      if (i % 100 === 0) expect(limiter.take("192.0.2.66")).toBe(false);
    }
    expect(limiter.size).toBeLessThanOrEqual(1000);
    clock += 120_000; // everything refills: nothing is worth remembering any more
    for (let i = 0; i < 2000; i++) limiter.take("198.51.100.1");
    expect(limiter.size).toBe(1);
  });
});

describe("client addresses as rate-limit keys", () => {
  test("an attacker rotating addresses inside one IPv6 /64 is limited as one client", () => {
    const limiter = new RateLimiter(() => 3);
    const rotating = Array.from(
      { length: 200 },
      (_, i) => `2001:db8:0:1:${((i * 7919) & 0xffff).toString(16)}:${i.toString(16)}:0:${(i + 1).toString(16)}`,
    );
    const allowed = rotating.filter((a) => limiter.take(clientKey(a))).length;
    expect(allowed).toBe(3);
    // The neighbouring /64 is someone else.
    expect(limiter.take(clientKey("2001:db8:0:2::1"))).toBe(true);
  });

  test.each([
    ["2001:db8::1", "2001:0db8:0000:0000:ffff:1:2:3"],
    ["2001:DB8:0:0:1::", "2001:db8::ffff"],
    ["fe80::1%eth0", "fe80::2"],
    ["::ffff:192.0.2.7", "192.0.2.7"],
    ["::FFFF:c000:0207", "192.0.2.7"],
  ])("%s and %s are one client", (a, b) => {
    expect(clientKey(a)).toBe(clientKey(b));
  });

  test.each([
    ["192.0.2.7", "192.0.2.8"],
    ["2001:db8:0:1::1", "2001:db8:0:2::1"],
    ["::ffff:192.0.2.7", "::ffff:192.0.2.8"],
    ["::1", "127.0.0.1"],
  ])("%s and %s are different clients", (a, b) => {
    expect(clientKey(a)).not.toBe(clientKey(b));
  });

  test("clients of a unix socket (no address) are one client", () => {
    expect(clientKey(undefined)).toBe(clientKey(""));
    expect(clientKey(undefined)).not.toBe(clientKey("127.0.0.1"));
  });
});
