import { describe, expect, test } from "vitest";
import { decideAsk } from "../../src/access/policy.js";
import { decideStillGranted } from "../../src/access/regrant.js";
import { allMet, assignStages, describeOpen } from "../../src/access/stages.js";
import { decideApproval, decideBotApproval, newRequest } from "../../src/access/transitions.js";
import type { AccessRequest, Approval, Identity, StageRule } from "../../src/domain/request.js";
import { config } from "../helpers/config.js";

const t0 = new Date("2026-01-01T10:00:00Z");
const approval = (approver: string, groups: string[], extra: Partial<Approval> = {}): Approval => ({
  approver,
  at: t0.toISOString(),
  digest: "d",
  groups,
  ...extra,
});
const bot = (name: string): Approval => ({ approver: `bot:${name}`, at: t0.toISOString(), digest: "d", bot: name });
const leads: StageRule = { name: "leads", groups: ["leads"], count: 1 };
const security: StageRule = { name: "security", groups: ["security"], count: 1 };

describe("assignStages: which approval counts for which stage", () => {
  test.each([
    {
      name: "ok/two stages, one approver each",
      stages: [leads, security],
      approvals: [approval("dave", ["leads"]), approval("sam", ["security"])],
      met: true,
      assigned: ["leads", "security"],
    },
    {
      name: "fail/one person in both groups counts for one stage only",
      stages: [leads, security],
      approvals: [approval("ada", ["leads", "security"])],
      met: false,
      assigned: ["leads"],
      open: "security: 1 more from security",
    },
    {
      name: "ok/an early approver in both groups moves aside for a later one who fits only one (matching, not first-come)",
      stages: [
        { name: "a", groups: ["leads", "security"], count: 1 },
        { name: "b", groups: ["leads"], count: 1 },
      ],
      approvals: [approval("ada", ["leads", "security"]), approval("sam", ["security"])],
      met: true,
      assigned: ["b", "a"],
    },
    {
      name: "ok/in approval order when both fit either",
      stages: [
        { name: "a", groups: ["leads", "security"], count: 1 },
        { name: "b", groups: ["leads"], count: 1 },
      ],
      approvals: [approval("ada", ["leads", "security"]), approval("dave", ["leads"])],
      met: true,
      assigned: ["b", "a"],
    },
    {
      name: "fail/the same person twice counts once",
      stages: [{ name: "two", groups: ["sre"], count: 2 }],
      approvals: [approval("bob", ["sre"]), approval("bob", ["sre"])],
      met: false,
      assigned: ["two", undefined],
    },
    {
      name: "fail/an approval from a group no stage takes counts nowhere",
      stages: [leads],
      approvals: [approval("bob", ["sre"])],
      met: false,
      assigned: [undefined],
    },
    {
      name: "fail/auto-approval never fills a person's place",
      stages: [leads],
      approvals: [{ approver: "auto-approve", at: "", digest: "d", auto: true }],
      met: false,
      assigned: [undefined],
    },
    {
      name: "fail/a bot is never the only approval of a stage without botAlone",
      stages: [{ name: "oncall", groups: ["sre"], count: 2, bots: ["pager"] }],
      approvals: [bot("pager")],
      met: false,
      assigned: ["oncall"],
      open: "oncall: 1 more from sre",
    },
    {
      name: "ok/a bot and a person meet a two-approval stage",
      stages: [{ name: "oncall", groups: ["sre"], count: 2, bots: ["pager"] }],
      approvals: [bot("pager"), approval("bob", ["sre"])],
      met: true,
      assigned: ["oncall", "oncall"],
    },
    {
      name: "fail/two bots fill only the bot places of a stage",
      stages: [{ name: "oncall", groups: ["sre"], count: 2, bots: ["pager", "chat"] }],
      approvals: [bot("pager"), bot("chat")],
      met: false,
      assigned: ["oncall", undefined],
    },
    {
      name: "ok/botAlone lets a bot meet a stage by itself",
      stages: [{ name: "oncall", groups: ["sre"], count: 1, bots: ["pager"], botAlone: true }],
      approvals: [bot("pager")],
      met: true,
      assigned: ["oncall"],
    },
    {
      name: "fail/a bot counts only where a stage names it",
      stages: [leads],
      approvals: [bot("pager")],
      met: false,
      assigned: [undefined],
    },
    {
      name: "ok/approvals recorded before stages existed count for the request's one stage",
      stages: [{ name: "approvers", groups: ["*"], count: 1 }],
      approvals: [{ approver: "bob", at: "", digest: "d" }],
      met: true,
      assigned: ["approvers"],
    },
  ])("$name", ({ stages, approvals, met, assigned, open }) => {
    const { status, assigned: got } = assignStages(stages, approvals);
    expect(allMet(status)).toBe(met);
    expect(got).toEqual(assigned);
    if (open) expect(describeOpen(status)).toBe(open);
  });

  test("describeOpen names what is missing, who can close it, and a bot that may", () => {
    const { status } = assignStages(
      [leads, { name: "oncall", groups: ["sre"], count: 2, bots: ["pager"] }],
      [approval("dave", ["leads"])],
    );
    expect(describeOpen(status, (g) => (g.includes("sre") ? ["bob", "erin"] : []))).toBe(
      "oncall: 2 more from sre (bob, erin) or bot pager",
    );
  });
});

const cfg = config((c: any) => {
  c.groups.security = {};
  c.roles.prod = {
    principals: ["deploy"],
    hosts: ["web-1"],
    requesters: ["dev"],
    stages: [
      { name: "leads", approvers: ["leads"] },
      { name: "security", approvers: ["security"] },
    ],
  };
  c.roles.oncall = {
    principals: ["deploy"],
    hosts: ["web-1"],
    requesters: ["dev"],
    stages: [{ name: "oncall", approvers: ["sre"], count: 2, bots: ["pager"] }],
  };
  c.approverBots = { pager: { url: "http://127.0.0.1:9/", secretEnv: "PAGER_SECRET" } };
});
const people: Record<string, Identity> = {
  alice: { user: "alice", groups: ["dev"] },
  bob: { user: "bob", groups: ["sre"] },
  erin: { user: "erin", groups: ["sre"] },
  dave: { user: "dave", groups: ["leads"] },
  sam: { user: "sam", groups: ["security"] },
  ada: { user: "ada", groups: ["leads", "security"] },
};
const members = (groups: readonly string[]) =>
  Object.values(people)
    .filter((p) => p.groups.some((g) => groups.includes(g)))
    .map((p) => p.user);

function pending(role: string): AccessRequest {
  const d = decideAsk(cfg, people.alice!, { role, hosts: ["web-1"], reason: "CHG-1" });
  if (!d.ok) throw new Error(d.reason);
  return newRequest({
    id: "rq_aaaaaaaaaaaaaaaa",
    requester: "alice",
    grant: d.value,
    publicKey: "k",
    keyFingerprint: "SHA256:x",
    now: t0,
  });
}
function approveAll(req: AccessRequest, who: string[]): AccessRequest {
  for (const u of who) {
    const d = decideApproval(req, cfg.roles[req.role], people[u]!, req.digest, undefined, t0, members);
    if (!d.ok) throw new Error(d.reason);
    req = d.value.request;
  }
  return req;
}

describe("decideApproval with stages", () => {
  test("a two-stage role is approved only once both stages are met, each approval naming its stage", () => {
    const one = decideApproval(pending("prod"), cfg.roles.prod, people.dave!, pending("prod").digest, undefined, t0);
    expect(one.ok && one.value.complete).toBe(false);
    expect(one.ok && one.value.stage).toBe("leads");
    const both = approveAll(pending("prod"), ["dave", "sam"]);
    expect(both.state).toBe("approved");
    expect(both.approvals.map((a) => [a.approver, a.stage])).toEqual([
      ["dave", "leads"],
      ["sam", "security"],
    ]);
  });

  test.each([
    {
      name: "fail/a second lead fits only the stage already met: refused, naming what is open and who can close it",
      first: ["dave"],
      who: { user: "lea", groups: ["leads"] } as Identity,
      reason:
        /^lea's approval would not count: it can close none of the open stages; still open: security: 1 more from security \(sam, ada\)$/,
    },
    {
      name: "ok/a person in both groups fills whichever is open",
      first: ["sam"],
      who: people.ada!,
      reason: undefined,
    },
    {
      name: "fail/the requester never counts, even in an approver group",
      first: [],
      who: { user: "alice", groups: ["dev", "leads"] } as Identity,
      reason: /your own request/,
    },
  ])("$name", ({ first, who, reason }) => {
    const req = approveAll(pending("prod"), first);
    const d = decideApproval(req, cfg.roles.prod, who, req.digest, undefined, t0, members);
    expect(d.ok).toBe(reason === undefined);
    if (!d.ok) expect(d.reason).toMatch(reason!);
  });

  test("a bot's yes counts as bot:NAME, but a person is still needed in its stage", () => {
    const req = pending("oncall");
    const b = decideBotApproval(req, "pager", "alice is on call", t0);
    expect(b.ok).toBe(true);
    if (!b.ok) return;
    expect(b.value.complete).toBe(false);
    expect(b.value.request.approvals[0]).toMatchObject({ approver: "bot:pager", bot: "pager", stage: "oncall" });
    const again = decideBotApproval(b.value.request, "pager", undefined, t0);
    expect(again.ok).toBe(false);
    const done = approveAll(b.value.request, ["bob"]);
    expect(done.state).toBe("approved");
  });

  test("a bot no stage names cannot approve", () => {
    const d = decideBotApproval(pending("prod"), "pager", undefined, t0);
    expect(d).toMatchObject({ ok: false, code: "forbidden", reason: /bot pager approves no stage/ });
  });
});

describe("decideStillGranted with stages: today's groups and stages", () => {
  test.each([
    { name: "ok/unchanged", who: people, patch: () => undefined, ok: true },
    {
      name: "fail/the security approver left the group: the stage is open again",
      who: { ...people, sam: { user: "sam", groups: ["dev"] } },
      patch: () => undefined,
      ok: false,
      reason: /1 of the approvals still count \(open: security: 1 more from security\)/,
    },
    {
      name: "fail/a third stage was added to the role",
      who: people,
      patch: (c: any) => c.roles.prod.stages.push({ name: "cab", approvers: ["sre"] }),
      ok: false,
      reason: /now needs 3 approvals/,
    },
  ])("$name", ({ who, patch, ok, reason }) => {
    const now = config((c: any) => {
      c.groups.security = {};
      c.roles.prod = {
        principals: ["deploy"],
        hosts: ["web-1"],
        requesters: ["dev"],
        stages: [
          { name: "leads", approvers: ["leads"] },
          { name: "security", approvers: ["security"] },
        ],
      };
      patch(c);
    });
    const req = approveAll(pending("prod"), ["dave", "sam"]);
    const d = decideStillGranted(now, people.alice, req, (u) => (who as Record<string, Identity>)[u]);
    expect(d.ok).toBe(ok);
    if (!d.ok) expect(d.reason).toMatch(reason!);
  });
});
