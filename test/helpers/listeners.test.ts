import { expect, test } from "vitest";
import { testPortRange } from "./listeners.js";

test("each vitest worker draws test ports from its own part of the range, below the ephemeral ports", () => {
  for (const low of [32768, 49152, 20000]) {
    const parts = [undefined, "1", "2", "3", "4", "5", "6", "7"].map((id) => testPortRange(low, id));
    for (const [i, [a, b]] of parts.entries()) {
      expect(a).toBeGreaterThanOrEqual(10_000);
      expect(b).toBeLessThan(low);
      expect(b - a).toBeGreaterThanOrEqual(999);
      for (const [c, d] of parts.slice(i + 1)) expect(b < c || d < a).toBe(true);
    }
  }
  // A pool id outside what the parts cover draws from the whole range.
  expect(testPortRange(32768, "9")).toEqual([20767, 32767]);
});
