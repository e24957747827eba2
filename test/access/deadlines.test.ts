import { describe, expect, test } from "vitest";
import { Deadlines } from "../../src/access/deadlines.js";
import { sweepAt } from "../../src/access/retention.js";
import type { AccessRequest } from "../../src/domain/request.js";
import type { Config } from "../../src/config/schema.js";
import { config } from "../helpers/config.js";

const req = (id: string, due: number | undefined) => ({ id, due }) as unknown as AccessRequest;
const dueOf = (r: AccessRequest) => (r as unknown as { due: number | undefined }).due;

/** An index over a little live state that the test changes the way the access service does. */
function setup() {
  const live = new Map<string, AccessRequest>();
  let cfg: Config = config();
  let offset = 0; // what a "reload" changes: due times move by this much
  const index = new Deadlines({
    dueAt: (r) => {
      const d = dueOf(r);
      return d === undefined ? undefined : d + offset;
    },
    config: () => cfg,
    now: () => new Date(0),
    all: () => live.values(),
  });
  const put = (id: string, due: number | undefined) => {
    const r = req(id, due);
    live.set(id, r);
    index.track(r);
  };
  const reload = (by: number) => {
    offset = by;
    cfg = config();
  };
  return { index, live, put, reload };
}

describe("deadlines", () => {
  test("hands out what is due, earliest first, once", () => {
    const { index, put } = setup();
    put("c", 30);
    put("a", 10);
    put("never", undefined);
    put("b", 20);
    expect(index.take(5)).toEqual([]);
    expect(index.take(20)).toEqual(["a", "b"]);
    expect(index.take(20)).toEqual([]);
    expect(index.size).toBe(1);
    expect(index.take(1e9)).toEqual(["c"]);
  });

  test("a change moves a request; forget drops it; tracking again after take brings it back", () => {
    const { index, put } = setup();
    put("a", 10);
    put("b", 10);
    put("a", 50); // changed: the entry at 10 is stale
    index.forget("b");
    expect(index.take(40)).toEqual([]);
    expect(index.take(50)).toEqual(["a"]);
    put("a", 50); // handled but still needs work
    expect(index.take(60)).toEqual(["a"]);
    put("a", undefined); // nothing more to do
    expect(index.take(1e9)).toEqual([]);
  });

  test("a due time that does not parse is never due and does not disturb the others", () => {
    const { index, put } = setup();
    put("b", 20);
    put("bad", Number.NaN);
    put("a", 10);
    expect(index.take(15)).toEqual(["a"]);
    expect(index.take(1e9)).toEqual(["b"]);
    expect(index.size).toBe(0);
  });

  test("a configuration change recomputes every due time", () => {
    const { index, put, reload } = setup();
    put("a", 10);
    put("b", 20);
    reload(100);
    expect(index.take(50)).toEqual([]);
    expect(index.take(115)).toEqual(["a"]);
  });

  test("agrees with a full walk over many random changes (including compaction)", () => {
    const { index, live, put } = setup();
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const handled = new Set<string>();
    let now = 0;
    for (let step = 0; step < 20_000; step++) {
      const id = `r${rnd(500)}`;
      const op = rnd(10);
      if (op < 7) {
        put(id, now + rnd(1000));
        handled.delete(id);
      } else if (op < 8) {
        live.delete(id);
        index.forget(id);
      } else {
        now += rnd(50);
        const want = [...live.values()]
          .filter((r) => !handled.has(r.id) && dueOf(r) !== undefined && dueOf(r)! <= now)
          .map((r) => r.id)
          .sort();
        const got = index.take(now);
        expect([...got].sort()).toEqual(want);
        for (const g of got) handled.add(g);
      }
    }
  });
});

describe("sweepAt", () => {
  const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
  const base = { id: "rq", expiresAt: at(100), updatedAt: at(5), cert: { validBefore: at(60) } };
  test.each([
    { state: "pending", want: at(100) },
    { state: "blocked", want: at(100) },
    { state: "approved", want: 0 },
    { state: "denied", want: at(15) },
    { state: "cancelled", want: at(15) },
    { state: "expired", want: at(15) },
    { state: "issued", want: at(70) },
    { state: "revoked", want: at(70) },
  ])("$state", ({ state, want }) => {
    const got = sweepAt({ ...base, state } as AccessRequest, 10);
    expect(got).toBe(typeof want === "number" ? want : Date.parse(want));
  });
});
