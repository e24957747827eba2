import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";
import { ROOT } from "./helpers/daemon.js";

const major = (v: string) => Number(v.replace(/^v/, "").split(".")[0]);

test("the suite runs on Node 24 LTS, the runtime package.json engines, the README and the unit name", () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { engines: { node: string } };
  expect(pkg.engines.node).toBe(">=24.0.0");
  // CI installs Node 24 (.ci/install-node); engines must not claim a runtime nobody tests.
  if (process.env.CI === "true") expect(major(process.version)).toBe(24);
  expect(major(process.version)).toBeGreaterThanOrEqual(24);
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  expect(readme).toContain("Node.js 24 LTS");
  expect(readme).not.toMatch(/Node(\.js)? ?(≥|>=) ?20/);
});
