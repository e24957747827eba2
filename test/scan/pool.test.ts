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
