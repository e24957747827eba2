import { describe, expect, test } from "vitest";
import { decideScanAware, hostProblems } from "../../src/access/scan-aware.js";
import type { HostStatus } from "../../src/domain/scan.js";
import { afterScan, decideResolve } from "../../src/scan/host-status.js";
import type { ScanRecord } from "../../src/domain/scan.js";
import { config } from "../helpers/config.js";

const clean: HostStatus = {
  latest: { scan: "sc_1", at: "2026-01-01T09:00:00Z", trigger: "manual", outcome: "ok", unexpectedOpen: [] },
};
const drifted: HostStatus = {
  ...clean,
  drift: { since: "2026-01-01T08:00:00Z", scan: "sc_0", summary: "newly open 8080/tcp" },
};
const failed: HostStatus = {
  latest: {
    scan: "sc_2",
    at: "2026-01-01T09:00:00Z",
    trigger: "expiry",
    outcome: "timeout",
    unexpectedOpen: [],
    error: "host timeout",
  },
};
const unexpected: HostStatus = {
  latest: {
    scan: "sc_3",
    at: "2026-01-01T09:00:00Z",
    trigger: "manual",
    outcome: "ok",
    unexpectedOpen: [{ port: 8080, protocol: "tcp", state: "open" }],
  },
};

const cfg = config((c: any) => {
  c.roles.auto = { ...c.roles.auto, approvers: ["sre"], scanAware: {} };
  c.roles.debug.scanAware = {};
  c.roles.strict = { ...c.roles.debug, scanAware: { onDrift: "refuse" } };
});

describe("decideScanAware: what the hosts' scans mean for a new request", () => {
  test.each([
    {
      name: "ok/auto-approve when the latest scan is clean",
      role: "auto",
      status: clean,
      auto: true,
      stage: undefined,
    },
    {
      name: "fail/auto-approve needs an approval for a host never scanned",
      role: "auto",
      status: undefined,
      auto: false,
      stage: /web-1 has not been scanned yet/,
    },
    {
      name: "fail/auto-approve needs an approval after a failed scan",
      role: "auto",
      status: failed,
      auto: false,
      stage: /web-1's latest scan sc_2 timeout \(host timeout\)/,
    },
    {
      name: "fail/auto-approve needs an approval when a port outside the expected ones is open",
      role: "auto",
      status: unexpected,
      auto: false,
      stage: /found 8080\/tcp open, outside its expected ports/,
    },
    {
      name: "fail/auto-approve needs an approval while drift is unresolved",
      role: "auto",
      status: drifted,
      auto: false,
      stage: /unresolved drift since 2026-01-01T08:00:00Z \(scan sc_0: newly open 8080\/tcp\)/,
    },
    {
      name: "ok/an approved role needs nothing more on a clean host",
      role: "debug",
      status: clean,
      auto: false,
      stage: undefined,
    },
    {
      name: "ok/an approved role needs nothing more on a host never scanned (people approve anyway)",
      role: "debug",
      status: undefined,
      auto: false,
      stage: undefined,
    },
    {
      name: "fail/an approved role needs one more approval while drift is unresolved",
      role: "debug",
      status: drifted,
      auto: false,
      stage: /unresolved drift/,
    },
  ])("$name", ({ role, status, auto, stage }) => {
    const d = decideScanAware(role, cfg.roles[role]!, ["web-1"], () => status);
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.value.autoApprove).toBe(auto);
    if (stage === undefined) expect(d.value.stage).toBeUndefined();
    else
      expect(d.value.stage).toMatchObject({
        name: "scan",
        groups: ["sre"],
        count: 1,
        because: expect.stringMatching(stage),
      });
  });

  test("onDrift: refuse refuses the request, saying how to resolve the drift and who may", () => {
    const d = decideScanAware(
      "strict",
      cfg.roles.strict!,
      ["web-1"],
      () => drifted,
      () => ["bob", "erin"],
    );
    expect(d).toMatchObject({
      ok: false,
      code: "conflict",
      reason:
        'role strict cannot be requested while a host has unresolved drift: web-1 has unresolved drift since 2026-01-01T08:00:00Z (scan sc_0: newly open 8080/tcp); an approver of a role covering the host marks it resolved once they looked: sshca drift resolve web-1 --comment "..." (bob, erin)',
    });
  });

  test("a role without scanAware ignores scans", () => {
    const d = decideScanAware("dba", cfg.roles.dba!, ["db-1"], () => drifted);
    expect(d).toEqual({ ok: true, value: { autoApprove: false } });
    expect(hostProblems(["db-1", "web-1"], (h) => (h === "db-1" ? clean : drifted)).map((p) => p.kind)).toEqual([
      "drift",
    ]);
  });
});

const scan = (over: Partial<ScanRecord>): ScanRecord => ({
  id: "sc_9",
  host: "web-1",
  address: "127.0.0.1",
  trigger: "manual",
  startedAt: "2026-01-02T00:00:00Z",
  durationMs: 1,
  nmapVersion: "7",
  args: [],
  outcome: "ok",
  ports: [],
  extraPorts: [],
  expectedPorts: [22],
  ...over,
});

describe("host status after each scan, and resolving drift", () => {
  test.each([
    { name: "ok/a clean scan opens no drift", prev: undefined, record: scan({}), summary: undefined, drift: undefined },
    {
      name: "fail/an open port outside the expected ones opens drift",
      prev: undefined,
      record: scan({ ports: [{ port: 8080, protocol: "tcp", state: "open", service: "http-proxy" }] }),
      summary: undefined,
      drift: "open but not expected 8080/tcp (http-proxy)",
    },
    {
      name: "fail/a scan.drift after access opens drift with its summary",
      prev: undefined,
      record: scan({ trigger: "expiry" }),
      summary: "newly closed 22/tcp",
      drift: "newly closed 22/tcp",
    },
    {
      name: "fail/a clean scan later does not close drift: a person must look",
      prev: drifted,
      record: scan({}),
      summary: undefined,
      drift: "newly open 8080/tcp",
    },
    {
      name: "ok/a failed scan is recorded, but is not drift",
      prev: clean,
      record: scan({ outcome: "failed", error: "x" }),
      summary: undefined,
      drift: undefined,
    },
  ])("$name", ({ prev, record, summary, drift }) => {
    const next = afterScan(prev, record, summary);
    expect(next.latest?.scan).toBe("sc_9");
    expect(next.drift?.summary).toBe(drift);
  });

  const now = new Date("2026-01-03T00:00:00Z");
  test.each([
    {
      name: "ok/an approver resolves with a comment",
      prev: drifted,
      may: true,
      comment: "8080 is the new health check",
      ok: true,
    },
    {
      name: "fail/someone who may not",
      prev: drifted,
      may: false,
      comment: "x",
      reason: /bob may not resolve drift on web-1/,
    },
    { name: "fail/nothing to resolve", prev: clean, may: true, comment: "x", reason: /web-1 has no unresolved drift/ },
    { name: "fail/no comment", prev: drifted, may: true, comment: "  ", reason: /needs a comment/ },
  ])("$name", ({ prev, may, comment, ok, reason }) => {
    const d = decideResolve("web-1", prev, "bob", may, comment, now);
    expect(d.ok).toBe(ok === true);
    if (d.ok) {
      expect(d.value.drift).toBeUndefined();
      expect(d.value.resolved).toEqual({
        by: "bob",
        at: now.toISOString(),
        comment,
        scan: "sc_0",
        summary: "newly open 8080/tcp",
      });
    } else expect(d.reason).toMatch(reason!);
  });
});
