import { expect, test } from "vitest";
import { Pool } from "../../src/scan/pool.js";

test("the pool never runs more than its limit, even when new tasks arrive as others finish", async () => {
  const pool = new Pool(2);
  let active = 0;
  let peak = 0;
  const task = async () => {
    active++;
    peak = Math.max(peak, active);
    await new Promise((r) => setTimeout(r, 1));
    active--;
  };
  const all: Promise<void>[] = [];
  for (let i = 0; i < 50; i++) {
    all.push(pool.run(task).then(() => pool.run(task)));
  }
  await Promise.all(all);
  expect(peak).toBe(2);
});

test("high-priority tasks start before waiting low-priority ones, and always find a slot", async () => {
  const pool = new Pool(3, 2);
  const started: string[] = [];
  const gates: (() => void)[] = [];
  const task = (name: string) => () =>
    new Promise<void>((resolve) => {
      started.push(name);
      gates.push(resolve);
    });
  const all = [1, 2, 3, 4, 5].map((i) => pool.run(task(`low${i}`), "low"));
  await new Promise((r) => setTimeout(r, 0));
  expect(started).toEqual(["low1", "low2"]); // low ones never take the last slot
  expect(pool.queued).toEqual({ high: 0, low: 3 });
  all.push(pool.run(task("high1"), "high"));
  await new Promise((r) => setTimeout(r, 0));
  expect(started).toEqual(["low1", "low2", "high1"]); // no wait behind the queued low ones
  all.push(pool.run(task("high2"), "high"));
  gates.shift()!(); // low1 ends: its slot goes to the waiting high task first
  await new Promise((r) => setTimeout(r, 0));
  expect(started).toEqual(["low1", "low2", "high1", "high2"]);
  while (gates.length > 0) {
    gates.shift()!();
    await new Promise((r) => setTimeout(r, 0));
  }
  await Promise.all(all);
  expect(started.slice(4).sort()).toEqual(["low3", "low4", "low5"]);
});
