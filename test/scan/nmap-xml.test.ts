import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { parseNmapXml } from "../../src/scan/nmap-xml.js";
import { classifyRun } from "../../src/scan/outcome.js";
import { ROOT } from "../helpers/daemon.js";

const fixture = (name: string) => readFileSync(join(ROOT, "test", "fixtures", "nmap", `${name}.xml`), "utf8");

describe("nmap XML (captured from nmap 7.93; see test/fixtures/nmap/capture.sh)", () => {
  test("open and closed ports, with table service names", () => {
    const run = parseNmapXml(fixture("open-closed"));
    expect(run.version).toBe("7.93");
    expect(run.host?.ports).toEqual([
      { port: 22, protocol: "tcp", state: "closed", service: "ssh" },
      { port: 18081, protocol: "tcp", state: "open" },
      { port: 18082, protocol: "tcp", state: "closed" },
    ]);
    expect(classifyRun(run)).toEqual({ outcome: "ok" });
  });

  test("filtered ports are reported as filtered, and the scan is ok", () => {
    const run = parseNmapXml(fixture("filtered"));
    expect(run.host?.ports.map((p) => [p.port, p.state])).toEqual([
      [22, "filtered"],
      [80, "filtered"],
    ]);
    expect(classifyRun(run).outcome).toBe("ok");
  });

  test.each([
    { name: "host down", file: "host-down", outcome: "failed", error: /did not respond/ },
    { name: "host timed out", file: "timed-out", outcome: "timeout", error: /host timeout/ },
    {
      name: "resolve failure (nmap exits 0, scans nothing)",
      file: "resolve-failed",
      outcome: "failed",
      error: /nothing was scanned/,
    },
    {
      name: "nmap refusing its arguments",
      file: "run-error",
      outcome: "failed",
      error: /Ports specified must be between/,
    },
  ])("$name is a failure, never 'no open ports'", ({ file, outcome, error }) => {
    const run = parseNmapXml(fixture(file));
    const verdict = classifyRun(run);
    expect(verdict.outcome).toBe(outcome);
    expect(verdict.error).toMatch(error);
    expect(run.host?.ports.filter((p) => p.state === "open") ?? []).toEqual([]);
  });

  test("entities in attributes are decoded; non-nmap text is refused", () => {
    expect(parseNmapXml(fixture("timed-out")).args).toContain("--host-timeout 2s");
    expect(() => parseNmapXml("Starting Nmap 7.93\nsegfault")).toThrow(/not nmap XML/);
  });

  test("a truncated document (nmap killed mid-run) is a failure", () => {
    const cut = fixture("open-closed").split("<runstats>")[0]!;
    expect(classifyRun(parseNmapXml(cut))).toMatchObject({
      outcome: "failed",
      error: /ended before the scan finished/,
    });
  });
});
