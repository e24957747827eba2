import { describe, expect, it } from "vitest";
import { InFlightGate } from "../../src/store/postgres/in-flight.js";

/** A task that runs until its test lets it finish. */
function held<T>(value: T) {
  let finish!: () => void;
  let started = false;
  const gate = new Promise<void>((r) => (finish = r));
  return {
    task: async () => {
      started = true;
      await gate;
      return value;
    },
    finish: () => finish(),
    started: () => started,
  };
}

describe("InFlightGate", () => {
  it("runs `limit` at once, queues `queue` more in order, refuses the rest at once with unavailable", async () => {
    const g = new InFlightGate(2, 2, "busy", 10_000);
    const a = held("a");
    const b = held("b");
    const c = held("c");
    const d = held("d");
    const pa = g.run(a.task);
    const pb = g.run(b.task);
    const pc = g.run(c.task);
    const pd = g.run(d.task);
    await expect(g.run(async () => "e")).rejects.toMatchObject({ code: "unavailable", message: "busy" });
    await Promise.resolve();
    expect([a.started(), b.started(), c.started(), d.started()]).toEqual([true, true, false, false]);
    a.finish();
    expect(await pa).toBe("a");
    await new Promise((r) => setImmediate(r));
    expect([c.started(), d.started()]).toEqual([true, false]);
    b.finish();
    c.finish();
    d.finish();
    expect(await Promise.all([pb, pc, pd])).toEqual(["b", "c", "d"]);
  });

  it("a waiter is refused after maxWaitMs and leaves the queue; a failing task frees its slot", async () => {
    const g = new InFlightGate(1, 1, "busy", 50);
    const a = held("a");
    const pa = g.run(a.task);
    const waited = Date.now();
    await expect(g.run(async () => "late")).rejects.toMatchObject({ code: "unavailable" });
    expect(Date.now() - waited).toBeGreaterThanOrEqual(45);
    // Its place in the queue is free again: another may wait, and gets the slot when a finishes.
    const pb = g.run(async () => "b");
    a.finish();
    expect(await pa).toBe("a");
    expect(await pb).toBe("b");
    await expect(
      g.run(async () => {
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    // Both slots' worth of calls run at once again: nothing leaked.
    expect(await Promise.all([g.run(async () => 1), g.run(async () => 2)])).toEqual([1, 2]);
  });
});
