import { describe, expect, test } from "vitest";
import { decideReview, markReminded, reminderAt } from "../../src/access/break-glass.js";
import { type LoginAsk, planRequest } from "../../src/access/plan.js";
import { findReusable } from "../../src/access/reuse.js";
import { decideStart, pendingUntil } from "../../src/access/start.js";
import { certValidity } from "../../src/ca/validity.js";
import type { AccessRequest, Identity } from "../../src/domain/request.js";
import type { HostStatus } from "../../src/domain/scan.js";
import { config } from "../helpers/config.js";

const t0 = new Date("2026-01-05T09:00:00Z"); // a Monday, 10:00 in Berlin
const people: Record<string, Identity> = {
  alice: { user: "alice", groups: ["dev"] },
  carol: { user: "carol", groups: ["dev"] },
  bob: { user: "bob", groups: ["sre"] },
  dave: { user: "dave", groups: ["leads"] },
  root: { user: "root", groups: ["admins"] },
};
const cfg = config((c: any) => {
  c.roles.debug.breakGlass = { maxTtl: "10m" };
  c.roles.debug.hours = {
    timeZone: "Europe/Berlin",
    open: [{ days: ["mon", "tue", "wed", "thu", "fri"], from: "08:00", to: "18:00" }],
  };
  c.roles.auto.approvers = ["sre"];
  c.roles.auto.scanAware = {};
  c.roles.dba.singleUse = true;
});
const members = (groups: readonly string[]) =>
  Object.values(people)
    .filter((p) => p.groups.some((g) => groups.includes(g)))
    .map((p) => p.user);
const subject = { line: "ssh-ed25519 AAAA", fingerprint: "SHA256:key" };

function plan(
  ask: Partial<LoginAsk>,
  o: { at?: Date; live?: AccessRequest[]; host?: HostStatus; who?: Identity } = {},
) {
  return planRequest({
    config: cfg,
    identity: o.who ?? people.alice!,
    ask: { role: "debug", hosts: ["web-1"], reason: "INC-9", ...ask },
    subject,
    id: "rq_bbbbbbbbbbbbbbbb",
    now: o.at ?? t0,
    live: o.live ?? [],
    hostStatus: () => o.host,
    membersOf: members,
    identityOf: (u) => people[u],
  });
}

function live(over: Partial<AccessRequest> = {}): AccessRequest {
  const p = plan({});
  if (!p.ok || p.value.kind !== "new") throw new Error("no plan");
  return {
    ...p.value.req,
    id: "rq_cccccccccccccccc",
    state: "issued",
    keyFingerprint: subject.fingerprint,
    cert: {
      certificate: "c",
      serial: "9",
      keyId: "k",
      validAfter: new Date(t0.getTime() - 60_000).toISOString(),
      validBefore: new Date(t0.getTime() + 600_000).toISOString(),
      caFingerprint: "f",
    },
    ...over,
  };
}

interface PlanCase {
  name: string;
  ask: Partial<LoginAsk>;
  at?: Date;
  host?: HostStatus;
  reason?: string | RegExp;
  kind?: "new";
  issueNow?: "auto-approve" | "break-glass" | undefined;
  want?: Record<string, unknown>;
}

describe("planRequest: every rule a login passes", () => {
  test.each<PlanCase>([
    {
      name: "ok/within hours: a request with the role's one stage",
      ask: {},
      at: t0,
      kind: "new",
      want: { state: "pending", stages: [{ name: "approvers", groups: ["sre"], count: 1 }] },
    },
    {
      name: "fail/outside hours: refused with the next opening time, and break-glass offered",
      ask: {},
      at: new Date("2026-01-03T10:12:00Z"),
      reason:
        "role debug can be requested Mon-Fri 08:00-18:00 (Europe/Berlin); now is Sat 2026-01-03 11:12 Europe/Berlin there; it opens next Mon 2026-01-05 08:00 Europe/Berlin (2026-01-05T07:00:00.000Z); in an emergency: sshca login ... --break-glass (issued at once, reviewed afterwards)",
    },
    {
      name: "ok/break-glass outside hours: issued at once, no stages, the short TTL",
      ask: { breakGlass: true },
      at: new Date("2026-01-03T10:12:00Z"),
      kind: "new",
      issueNow: "break-glass",
      want: { stages: [], ttlSeconds: 600, breakGlass: { review: { status: "open" } } },
    },
    {
      name: "fail/break-glass over its maxTtl",
      ask: { breakGlass: true, ttl: "15m" },
      reason: "ttl 15m exceeds the maximum of role debug for break-glass (breakGlass.maxTtl 10m)",
    },
    {
      name: "fail/break-glass on a role without it",
      ask: { role: "dba", hosts: ["db-1"], breakGlass: true },
      reason: "role dba has no break-glass; ask for approval instead",
    },
    {
      name: "fail/break-glass cannot be scheduled",
      ask: { breakGlass: true, start: "2026-01-05T12:00:00Z" },
      reason: "break-glass is for now: it cannot be scheduled (drop --start)",
    },
    {
      name: "ok/a scheduled start: hours checked at the start, digest and window carry it",
      ask: { start: "2026-01-06T08:00:00Z" },
      at: new Date("2026-01-03T10:12:00Z"),
      kind: "new",
      want: { start: "2026-01-06T08:00:00.000Z", expiresAt: "2026-01-06T08:00:00.000Z" },
    },
    {
      name: "fail/a scheduled start outside the hours",
      ask: { start: "2026-01-05T20:00:00Z" },
      reason: /the scheduled start is Mon 2026-01-05 21:00 Europe\/Berlin there; it opens next Tue 2026-01-06 08:00/,
    },
    {
      name: "fail/a start in the past",
      ask: { start: "2026-01-05T08:00:00Z" },
      reason: "start 2026-01-05T08:00:00.000Z is in the past (it is 2026-01-05T09:00:00.000Z here)",
    },
    {
      name: "fail/a start too far ahead",
      ask: { start: "2026-02-05T08:00:00Z" },
      reason: "start 2026-02-05T08:00:00.000Z is more than 7d ahead (requests.scheduleAhead)",
    },
    { name: "fail/a start without a zone", ask: { start: "2026-01-05T12:00" }, reason: /is not a time with a zone/ },
    {
      name: "ok/a suggested reviewer who approves the role",
      ask: { reviewers: ["bob"] },
      kind: "new",
      want: { reviewers: ["bob"] },
    },
    {
      name: "fail/a suggested reviewer who cannot approve it",
      ask: { reviewers: ["dave"] },
      reason: "dave cannot approve role debug (its approvers: bob)",
    },
    {
      name: "fail/suggesting oneself",
      ask: { reviewers: ["alice"] },
      reason: "you cannot suggest yourself as a reviewer",
    },
    {
      name: "ok/auto-approve on a clean host",
      ask: { role: "auto" },
      host: { latest: { scan: "s", at: "", trigger: "manual", outcome: "ok", unexpectedOpen: [] } },
      kind: "new",
      issueNow: "auto-approve",
    },
    {
      name: "fail/auto-approve on a host never scanned becomes one approval from the role's approvers",
      ask: { role: "auto" },
      kind: "new",
      issueNow: undefined,
      want: {
        autoApprove: false,
        approvalsRequired: 1,
        stages: [{ name: "scan", groups: ["sre"], count: 1, because: "web-1 has not been scanned yet" }],
      },
    },
    {
      name: "ok/a single-use role marks its requests",
      ask: { role: "dba", hosts: ["db-1"] },
      kind: "new",
      want: { singleUse: true },
    },
  ])("$name", (c) => {
    const d = plan(c.ask, { ...(c.at ? { at: c.at } : {}), ...(c.host ? { host: c.host } : {}) });
    if (c.reason !== undefined) {
      expect(d.ok).toBe(false);
      if (!d.ok) expect(d.reason).toMatch(c.reason);
      return;
    }
    expect(d.ok).toBe(true);
    if (!d.ok || d.value.kind !== "new") throw new Error("expected a new request");
    if ("issueNow" in c) expect(d.value.issueNow).toBe(c.issueNow);
    if (c.want) expect(d.value.req).toMatchObject(c.want);
  });

  test.each<{ name: string; live: AccessRequest; ask: Partial<LoginAsk>; reuse: boolean; who?: Identity }>([
    { name: "ok/the same role, hosts and key reuse the live certificate", live: live(), ask: {}, reuse: true },
    {
      name: "ok/hosts in another order are the same hosts",
      live: live({ hosts: ["web-1", "web-2"] }),
      ask: { hosts: ["web-2", "web-1"] },
      reuse: true,
    },
    { name: "fail/another key", live: live({ keyFingerprint: "SHA256:other" }), ask: {}, reuse: false },
    { name: "fail/more hosts", live: live(), ask: { hosts: ["web-1", "web-2"] }, reuse: false },
    { name: "fail/a revoked certificate", live: live({ state: "revoked" }), ask: {}, reuse: false },
    { name: "fail/another requester's certificate", live: live({ requester: "carol" }), ask: {}, reuse: false },
    {
      name: "fail/a certificate with under a minute left",
      live: live({ cert: { ...live().cert!, validBefore: new Date(t0.getTime() + 59_000).toISOString() } }),
      ask: {},
      reuse: false,
    },
    {
      name: "fail/a scheduled window that has not begun",
      live: live({ start: "2026-01-05T10:00:00.000Z" }),
      ask: {},
      reuse: false,
    },
    {
      name: "fail/a login with --start never reuses",
      live: live(),
      ask: { start: "2026-01-05T10:00:00Z" },
      reuse: false,
    },
    {
      name: "fail/nothing is reused for a requester no longer allowed the role",
      live: live(),
      ask: {},
      who: { user: "alice", groups: [] },
      reuse: false,
    },
  ])("$name", ({ live: l, ask, reuse, who }) => {
    const d = plan(ask, { live: [l], ...(who ? { who } : {}) });
    if (who) {
      expect(d.ok).toBe(false);
      return;
    }
    expect(d.ok && d.value.kind).toBe(reuse ? "reuse" : "new");
    if (ask.start === undefined && ask.reuse === undefined) {
      const found = findReusable(
        [l],
        { requester: "alice", role: "debug", hosts: ask.hosts ?? ["web-1"], keyFingerprint: subject.fingerprint },
        t0,
      );
      expect(found?.id).toBe(reuse ? l.id : undefined);
    }
  });
});

describe("scheduled windows", () => {
  test.each([
    { name: "ok/no start", start: undefined, want: undefined },
    { name: "ok/a start just passed is now", start: "2026-01-05T08:59:30Z", want: undefined },
    { name: "ok/whole seconds", start: "2026-01-05T10:00:00.750+01:00", want: "2026-01-05T09:00:00.000Z" },
    { name: "ok/an offset", start: "2026-01-05T12:00:00+01:00", want: "2026-01-05T11:00:00.000Z" },
  ])("$name", ({ start, want }) => {
    const d = decideStart(start, t0, 7 * 86400);
    expect(d.ok).toBe(true);
    if (d.ok) expect(d.value?.toISOString()).toBe(want);
  });

  test.each([
    { name: "no start: the role's pendingTtl", start: undefined, want: "2026-01-05T10:00:00.000Z" },
    {
      name: "a start far ahead: approvals until the start",
      start: "2026-01-06T09:00:00Z",
      want: "2026-01-06T09:00:00.000Z",
    },
    {
      name: "a start soon: still the pendingTtl, within the window",
      start: "2026-01-05T09:10:00Z",
      want: "2026-01-05T09:25:00.000Z",
    },
  ])("pending lifetime is not the access: $name", ({ start, want }) => {
    expect(pendingUntil(t0, 3600, start ? new Date(start) : undefined, 900).toISOString()).toBe(want);
  });

  test.each([
    {
      name: "ok/signed ahead of its start: valid from the start, not backdated",
      now: t0,
      start: "2026-01-05T10:00:00Z",
      after: "2026-01-05T10:00:00.000Z",
      before: "2026-01-05T10:15:00.000Z",
    },
    {
      name: "ok/signed after its start: backdated from now, ends with the window",
      now: new Date("2026-01-05T10:05:00Z"),
      start: "2026-01-05T10:00:00Z",
      after: "2026-01-05T10:04:00.000Z",
      before: "2026-01-05T10:15:00.000Z",
    },
    {
      name: "ok/never before its start",
      now: new Date("2026-01-05T10:00:30Z"),
      start: "2026-01-05T10:00:00Z",
      after: "2026-01-05T10:00:00.000Z",
      before: "2026-01-05T10:15:00.000Z",
    },
    {
      name: "ok/no start: backdated from now",
      now: t0,
      start: undefined,
      after: "2026-01-05T08:59:00.000Z",
      before: "2026-01-05T09:15:00.000Z",
    },
  ])("$name", ({ now, start, after, before }) => {
    const v = certValidity(now, 900, 60, start ? new Date(start) : undefined);
    expect([v.validAfter.toISOString(), v.validBefore.toISOString()]).toEqual([after, before]);
  });
});

describe("break-glass review", () => {
  const glass = (): AccessRequest => {
    const p = plan({ breakGlass: true });
    if (!p.ok || p.value.kind !== "new") throw new Error("no plan");
    return { ...p.value.req, state: "issued" };
  };
  test.each([
    {
      name: "ok/an approver reviews with a comment",
      req: glass,
      who: people.bob!,
      comment: "INC-9 real; fine",
      ok: true,
    },
    {
      name: "fail/the requester cannot review their own",
      req: glass,
      who: people.alice!,
      comment: "x",
      reason: /cannot review your own/,
    },
    {
      name: "fail/not an approver",
      req: glass,
      who: people.dave!,
      comment: "x",
      reason: /dave is not an approver for role debug/,
    },
    { name: "fail/no comment", req: glass, who: people.bob!, comment: " ", reason: /needs a comment/ },
    {
      name: "fail/a request that was not break-glass",
      req: () => live(),
      who: people.bob!,
      comment: "x",
      reason: /was not break-glass; there is nothing to review/,
    },
    {
      name: "fail/already reviewed: says by whom",
      req: () => ({
        ...glass(),
        breakGlass: { review: { status: "done" as const, by: "erin", at: "T", comment: "ok" } },
      }),
      who: people.bob!,
      comment: "x",
      reason: /already reviewed by erin at T: ok/,
    },
  ])("$name", ({ req, who, comment, ok, reason }) => {
    const d = decideReview(req(), cfg.roles.debug, who, comment, t0);
    expect(d.ok).toBe(ok === true);
    if (d.ok) expect(d.value.breakGlass?.review).toEqual({ status: "done", by: "bob", at: t0.toISOString(), comment });
    else expect(d.reason).toMatch(reason!);
  });

  test("open reviews are reminded every remindEvery, counted from the last reminder", () => {
    const req = glass();
    expect(reminderAt(req, 3600)).toBe(t0.getTime() + 3_600_000);
    const later = new Date(t0.getTime() + 3_700_000);
    expect(reminderAt(markReminded(req, later), 3600)).toBe(later.getTime() + 3_600_000);
    expect(reminderAt(live(), 3600)).toBeUndefined();
  });
});
