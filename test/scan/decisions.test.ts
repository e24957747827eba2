import { describe, expect, test } from "vitest";
import type { AccessRequest } from "../../src/domain/request.js";
import { computeDrift, describeDrift, hasDrift, sameOpen } from "../../src/scan/drift.js";
import { decideGate } from "../../src/access/gate.js";
import { nmapArgs } from "../../src/scan/runner.js";
import { portSpec, portsToScan, TOP_100_TCP } from "../../src/scan/ports.js";
import { dueScans, nextScanAt, scansComplete, watchOf } from "../../src/scan/schedule.js";
import type { PortResult, ScanRef } from "../../src/domain/scan.js";
import { config } from "../helpers/config.js";
import { run } from "../helpers/procs.js";
import { tool } from "../helpers/tools.js";

const open = (port: number, service?: string): PortResult => ({
  port,
  protocol: "tcp",
  state: "open",
  ...(service ? { service } : {}),
});
const ref = (id: string, ports: PortResult[], outcome: ScanRef["outcome"] = "ok"): ScanRef => ({
  id,
  trigger: "issue",
  outcome,
  at: "t",
  open: ports,
});

describe("drift", () => {
  test.each([
    {
      name: "no change",
      before: [open(22, "ssh")],
      after: [open(22, "ssh")],
      expected: [22],
      drift: false,
      text: "no change",
    },
    {
      name: "newly open",
      before: [open(22)],
      after: [open(22), open(8080)],
      expected: [22],
      drift: true,
      text: /newly open 8080\/tcp/,
    },
    {
      name: "newly closed",
      before: [open(22), open(443)],
      after: [open(22)],
      expected: [22, 443],
      drift: true,
      text: /newly closed 443\/tcp/,
    },
    {
      name: "service changed",
      before: [open(22, "ssh")],
      after: [{ ...open(22, "ssh"), product: "Dropbear" }],
      expected: [22],
      drift: true,
      text: /service changed on 22\/tcp/,
    },
    {
      name: "open but not expected, unchanged",
      before: [open(22), open(9000)],
      after: [open(22), open(9000)],
      expected: [22],
      drift: true,
      text: /open but not expected 9000/,
    },
    {
      name: "expected port already closed at issue: recorded, not an alert",
      before: [],
      after: [],
      expected: [22],
      drift: false,
      text: /expected but not open 22/,
    },
    {
      name: "no usable baseline: against expected only",
      before: undefined,
      after: [open(22), open(3306)],
      expected: [22],
      drift: true,
      text: /open but not expected 3306/,
    },
  ])("$name", ({ before, after, expected, drift, text }) => {
    const d = computeDrift(before ? { id: "sc_a", open: before } : undefined, after, expected);
    expect(hasDrift(d)).toBe(drift);
    expect(describeDrift(d)).toMatch(text);
  });
});

describe("gate", () => {
  const expected = (h: string) => (h === "web-2" ? [22, 443] : [22]);
  test.each([
    { name: "waits for every host", scans: { "web-1": ref("a", [open(22)]) }, want: { status: "waiting" } },
    {
      name: "passes with only expected ports",
      scans: { "web-1": ref("a", [open(22)]), "web-2": ref("b", [open(443)]) },
      want: { status: "passed" },
    },
    {
      name: "blocks an unexpected open port, naming it",
      scans: { "web-1": ref("a", [open(22), open(8080, "http-proxy")]), "web-2": ref("b", []) },
      want: { status: "blocked", reason: "web-1: unexpected open port 8080/tcp (http-proxy)" },
    },
    {
      name: "blocks a failed scan",
      scans: { "web-1": ref("a", []), "web-2": { ...ref("b", [], "timeout"), error: "the scan hit its host timeout" } },
      want: { status: "blocked", reason: "web-2: scan timeout (the scan hit its host timeout)" },
    },
  ])("$name", ({ scans, want }) => {
    expect(decideGate(["web-1", "web-2"], scans, expected)).toEqual(want);
  });
});

describe("schedule", () => {
  const cfg = config((c: any) => {
    c.roles.gated = { ...c.roles.debug, scanOnIssue: "gate" };
  });
  const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
  const issued = (extra: Partial<AccessRequest> = {}): AccessRequest =>
    ({
      id: "rq_x",
      state: "issued",
      role: "debug",
      hosts: ["web-1", "web-2"],
      cert: { validBefore: t(10).toISOString() },
      ...extra,
    }) as AccessRequest;

  test.each([
    {
      name: "record: issue scans right after issuance",
      req: issued(),
      now: t(1),
      want: ["web-1/issue/issue", "web-2/issue/issue"],
    },
    {
      name: "nothing while the certificate is valid and issue scans are done",
      req: issued({ scans: { "web-1": { issue: ref("a", []) }, "web-2": { issue: ref("b", []) } } }),
      now: t(5),
      want: [],
    },
    {
      name: "after-access scans at validBefore (and no late issue scan)",
      req: issued(),
      now: t(10),
      want: ["web-1/after/expiry", "web-2/after/expiry"],
    },
    {
      name: "a recorded scan is never due again",
      req: issued({ scans: { "web-1": { after: ref("a", []) }, "web-2": { after: ref("b", []) } } }),
      now: t(99),
      want: [],
    },
    {
      name: "gate: scans before issuance",
      req: issued({ state: "approved", role: "gated", cert: undefined }),
      now: t(1),
      want: ["web-1/issue/issue", "web-2/issue/issue"],
    },
    { name: "pending: nothing", req: issued({ state: "pending", cert: undefined }), now: t(99), want: [] },
  ])("$name", ({ req, now, want }) => {
    expect(dueScans(req, cfg.roles[req.role], now).map((d) => `${d.host}/${d.slot}/${d.trigger}`)).toEqual(want);
  });

  test("nextScanAt is the first instant from now on at which dueScans has something", () => {
    const cases = [
      issued(),
      issued({ scans: { "web-1": { issue: ref("a", []) }, "web-2": { issue: ref("b", []) } } }),
      issued({ scans: { "web-1": { issue: ref("a", []), after: ref("c", []) }, "web-2": { issue: ref("b", []) } } }),
      // Issue scans missed, after-access scans done: due only until the certificate ends.
      issued({ scans: { "web-1": { after: ref("a", []) }, "web-2": { after: ref("b", []) } } }),
      issued({ state: "approved", role: "gated", cert: undefined }),
      issued({ state: "approved", role: "gated", cert: undefined, gate: { status: "passed" } }),
      issued({ state: "revoked" }),
      issued({ state: "revoked", scans: { "web-1": { after: ref("a", []) }, "web-2": { after: ref("b", []) } } }),
      issued({ state: "pending", cert: undefined }),
      issued({ state: "expired", cert: undefined }),
    ];
    const due = (req: AccessRequest, s: number) => dueScans(req, cfg.roles[req.role], t(s)).length > 0;
    const verdicts = cases.map((req) => {
      for (let from = 0; from <= 20; from++) {
        const next = nextScanAt(req, cfg.roles[req.role], t(from));
        const first = [...Array(40).keys()].map((k) => from + k).find((s) => due(req, s));
        expect(next, `${req.state} ${JSON.stringify(req.scans)} from t(${from})`).toBe(
          first === undefined ? undefined : first === from ? 0 : t(first).getTime(),
        );
      }
      const next = nextScanAt(req, cfg.roles[req.role], t(2));
      return next === undefined ? "never" : next === 0 ? "now" : new Date(next).toISOString();
    });
    expect(verdicts).toEqual([
      "now",
      t(10).toISOString(),
      t(10).toISOString(),
      "now",
      "now",
      "never",
      "now",
      "never",
      "never",
      "never",
    ]);
  });

  test("a request's expiry work is done once every host has its after-access scan", () => {
    expect(scansComplete(issued({ scans: { "web-1": { after: ref("a", []) } } }))).toBe(false);
    expect(
      scansComplete(issued({ scans: { "web-1": { after: ref("a", []) }, "web-2": { after: ref("b", []) } } })),
    ).toBe(true);
  });
});

describe("nmap invocation", () => {
  test("connect scan, no ping, no DNS, bounded, '--' before one IP target", () => {
    const args = nmapArgs("127.0.0.1", [443, 22, 80, 81], { hostTimeoutSeconds: 30, versionDetection: false });
    expect(args).toEqual([
      "-sT",
      "-Pn",
      "-n",
      "--unprivileged",
      "--max-retries",
      "2",
      "--host-timeout",
      "30s",
      "-p",
      "22,80-81,443",
      "-oX",
      "-",
      "--",
      "127.0.0.1",
    ]);
  });

  test.each(["-oN/tmp/x", "127.0.0.1 -V", "10.0.0.0/8", "a;b", "web-1.example.com", ""])(
    "refuses %j as a target",
    (target) => {
      expect(() => nmapArgs(target, [22], { hostTimeoutSeconds: 30, versionDetection: false })).toThrow(
        /not an IP address/,
      );
    },
  );

  test("ports: expected plus the top 100 by default, or the host's own list", () => {
    const cfg = config();
    expect(portsToScan(cfg.hosts["web-2"]!)).toEqual([...TOP_100_TCP].sort((a, b) => a - b));
    expect(portSpec([5432, 22, 23, 24, 80])).toBe("22-24,80,5432");
  });

  test("TOP_100_TCP is what the installed nmap calls its top 100", async () => {
    const r = await run(tool("nmap"), ["-sT", "-Pn", "-n", "--top-ports", "100", "-oX", "-", "--", "127.0.0.1"]);
    const services = /\sservices="([^"]+)"/.exec(r.stdout)?.[1] ?? "";
    expect(portSpec(TOP_100_TCP)).toBe(services);
  });
});

describe("watching during the window", () => {
  const cfg = config((c: any) => {
    c.roles.watched = { ...c.roles.debug, watch: "5m" };
    c.hosts["web-2"].watch = "2m";
  });
  const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
  const at = (s: number) => t(s).toISOString();
  const scan = (id: string, s: number): ScanRef => ({ id, trigger: "issue", outcome: "ok", at: at(s), open: [] });
  const req = (extra: Partial<AccessRequest> = {}): AccessRequest =>
    ({
      id: "rq_x",
      state: "issued",
      role: "debug",
      hosts: ["web-1", "web-2"],
      cert: { validBefore: t(10).toISOString() },
      scans: { "web-1": { issue: scan("a", 0) }, "web-2": { issue: scan("b", 0) } },
      ...extra,
    }) as AccessRequest;
  // Seconds stand in for minutes here: the schedule only compares instants.
  const every = (w1?: number, w2?: number) => (h: string) => (h === "web-1" ? w1 : w2);
  const due = (r: AccessRequest, s: number, w = every(3, 4)) =>
    dueScans(r, cfg.roles[r.role], t(s), w).map((d) => `${d.host}/${d.slot}/${d.trigger}`);

  test.each([
    { name: "not before an interval after the issue scan", r: req(), s: 2, want: [] },
    { name: "one host due", r: req(), s: 3, want: ["web-1/during/watch"] },
    { name: "both due", r: req(), s: 4, want: ["web-1/during/watch", "web-2/during/watch"] },
    {
      name: "counted from the latest watch",
      r: req({ scans: { "web-1": { issue: scan("a", 0), during: scan("c", 3) }, "web-2": { issue: scan("b", 0) } } }),
      s: 5,
      want: ["web-2/during/watch"],
    },
    {
      name: "never without an issue-time scan to compare with",
      r: req({ scans: {} }),
      s: 5,
      want: ["web-1/issue/issue", "web-2/issue/issue"],
    },
    {
      name: "at expiry the after-access scan, no watch",
      r: req(),
      s: 10,
      want: ["web-1/after/expiry", "web-2/after/expiry"],
    },
    {
      name: "not after revocation",
      r: req({ state: "revoked" }),
      s: 5,
      want: ["web-1/after/revoke", "web-2/after/revoke"],
    },
  ])("$name", ({ r, s, want }) => {
    expect(due(r, s)).toEqual(want);
  });

  test("a watch that would fall at or after validBefore is left to the after-access scan", () => {
    expect(due(req(), 9, every(10, undefined))).toEqual([]);
    expect(nextScanAt(req(), cfg.roles.debug, t(1), every(10, undefined))).toBe(t(10).getTime());
  });

  test("nextScanAt is the first instant at which dueScans has something, watches included", () => {
    const cases = [
      req(),
      req({ scans: { "web-1": { issue: scan("a", 0), during: scan("c", 3) }, "web-2": { issue: scan("b", 1) } } }),
      req({ state: "revoked" }),
    ];
    for (const r of cases) {
      const w = every(3, 4);
      for (let from = 0; from <= 12; from++) {
        const next = nextScanAt(r, cfg.roles.debug, t(from), w);
        const first = [...Array(30).keys()].map((k) => from + k).find((s) => due(r, s, w).length > 0);
        expect(next).toBe(first === undefined ? undefined : first === from ? 0 : t(first).getTime());
      }
    }
  });

  test("the role's and the host's watch: the shorter wins; neither means no watch", () => {
    expect(watchOf(cfg, cfg.roles.watched)("web-1")).toBe(300);
    expect(watchOf(cfg, cfg.roles.watched)("web-2")).toBe(120);
    expect(watchOf(cfg, cfg.roles.debug)("web-1")).toBeUndefined();
    expect(watchOf(cfg, cfg.roles.debug)("web-2")).toBe(120);
  });

  test("a watch that finds what the last one found raises nothing new", () => {
    expect(sameOpen([open(22), open(8080)], [open(8080), open(22)])).toBe(true);
    expect(sameOpen([open(22)], [open(22), open(8080)])).toBe(false);
    expect(sameOpen([open(22, "ssh")], [{ ...open(22, "ssh"), version: "9.2" }])).toBe(false);
  });

  test("a watch shorter than 10 seconds is refused at load", () => {
    expect(() =>
      config((c: any) => {
        c.roles.debug.watch = "5s";
      }),
    ).toThrow(/watch must be at least 10s/);
  });
});
