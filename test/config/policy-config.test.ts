import { describe, expect, test } from "vitest";
import { parseConfig } from "../../src/config/load.js";
import { baseConfig } from "../helpers/config.js";

const parsed = (patch: (c: any) => void) => {
  const c: any = baseConfig();
  c.groups.security = {};
  patch(c);
  return parseConfig(c, "test.yaml");
};
const problems = (patch: (c: any) => void): string[] => {
  try {
    parsed(patch);
  } catch (err) {
    return (err as { details: { problems: string[] } }).details.problems;
  }
  return [];
};
const stages = [
  { name: "leads", approvers: ["leads"] },
  { name: "security", approvers: ["security"] },
];

describe("approval policy config", () => {
  test("an existing role is the one-stage policy, unchanged", () => {
    const cfg = parsed(() => undefined);
    expect(cfg.roles.dba).toMatchObject({
      approvers: ["sre", "leads"],
      approvalsRequired: 2,
      stages: [{ name: "approvers", groups: ["sre", "leads"], count: 2 }],
      singleUse: false,
    });
    expect(cfg.roles.auto).toMatchObject({ autoApprove: true, approvers: [], stages: [] });
  });

  test("stages: their groups are the role's approvers, their counts its approvals", () => {
    const cfg = parsed((c) => {
      c.roles.debug = { ...c.roles.debug, approvers: undefined, stages };
      delete c.roles.debug.approvers;
    });
    expect(cfg.roles.debug).toMatchObject({
      approvers: ["leads", "security"],
      approvalsRequired: 2,
      stages: [
        { name: "leads", groups: ["leads"], count: 1, bots: [], botAlone: false },
        { name: "security", groups: ["security"], count: 1, bots: [], botAlone: false },
      ],
    });
  });

  test("break-glass, hours, scanAware and bots get their defaults", () => {
    const cfg = parsed((c) => {
      c.roles.debug.breakGlass = {};
      c.roles.debug.hours = { open: [{ days: ["mon"], from: "09:00", to: "17:00" }] };
      c.roles.debug.scanAware = {};
      c.approverBots = { pager: { url: "http://127.0.0.1:9000/approve", secretEnv: "PAGER" } };
    });
    expect(cfg.roles.debug!.breakGlass).toEqual({ maxTtl: 900, remindEvery: 4 * 3600 });
    expect(cfg.roles.debug!.hours?.timeZone).toBe("UTC");
    expect(cfg.roles.debug!.scanAware).toEqual({ onDrift: "extra-approval" });
    expect(cfg.approverBots.pager).toMatchObject({ timeout: 10 });
    expect(cfg.requests.scheduleAhead).toBe(7 * 86400);
  });

  test.each([
    {
      name: "stages and approvers together",
      patch: (c: any) => (c.roles.debug.stages = stages),
      want: "roles.debug.stages: give either approvers/approvalsRequired (one stage) or stages, not both",
    },
    {
      name: "stages on an auto-approved role",
      patch: (c: any) => (c.roles.auto.stages = stages),
      want: "roles.auto.stages: a role with autoApprove has no approval stages",
    },
    {
      name: "two stages with one name",
      patch: (c: any) => {
        delete c.roles.debug.approvers;
        c.roles.debug.stages = [stages[0], { ...stages[1], name: "leads" }];
      },
      want: "roles.debug.stages: stage names must be distinct",
    },
    {
      name: "an unknown group in a stage",
      patch: (c: any) => {
        delete c.roles.debug.approvers;
        c.roles.debug.stages = [{ name: "cab", approvers: ["cab"] }];
      },
      want: 'roles.debug.stages.0.approvers.0: unknown group "cab"',
    },
    {
      name: "a stage without approvers",
      patch: (c: any) => {
        delete c.roles.debug.approvers;
        c.roles.debug.stages = [{ name: "cab", approvers: [] }];
      },
      want: "roles.debug.stages.0.approvers: a stage needs at least one approver group",
    },
    {
      name: "the reserved stage name",
      patch: (c: any) => {
        delete c.roles.debug.approvers;
        c.roles.debug.stages = [{ name: "scan", approvers: ["sre"] }];
      },
      want: 'roles.debug.stages.0.name: the stage name "scan" is kept for scan-aware roles',
    },
    {
      name: "a bot alone in a one-approval stage without botAlone",
      patch: (c: any) => {
        delete c.roles.debug.approvers;
        c.approverBots = { pager: { url: "http://127.0.0.1:9/", secretEnv: "P" } };
        c.roles.debug.stages = [{ name: "oncall", approvers: ["sre"], bots: ["pager"] }];
      },
      want: "roles.debug.stages.0.bots: a bot is never the only approval of a stage",
    },
    {
      name: "an unknown bot",
      patch: (c: any) => {
        delete c.roles.debug.approvers;
        c.roles.debug.stages = [{ name: "oncall", approvers: ["sre"], count: 2, bots: ["pager"] }];
      },
      want: 'roles.debug.stages.0.bots.0: unknown approver bot "pager" (not in approverBots:)',
    },
    {
      name: "a bot with both secret sources",
      patch: (c: any) => (c.approverBots = { pager: { url: "http://127.0.0.1:9/", secretEnv: "P", secretFile: "/x" } }),
      want: "approverBots.pager: give exactly one of secretFile or secretEnv",
    },
    {
      name: "a bot with a long timeout",
      patch: (c: any) => (c.approverBots = { pager: { url: "http://127.0.0.1:9/", secretEnv: "P", timeout: "5m" } }),
      want: "approverBots.pager.timeout: may be at most 60s",
    },
    {
      name: "a long break-glass",
      patch: (c: any) => (c.roles.debug.breakGlass = { maxTtl: "8h" }),
      want: "roles.debug.breakGlass.maxTtl: may be at most 4h",
    },
    {
      name: "break-glass longer than the role",
      patch: (c: any) => {
        c.roles.debug.maxTtl = "10m";
        c.roles.debug.defaultTtl = "5m";
        c.roles.debug.breakGlass = { maxTtl: "30m" };
      },
      want: "roles.debug.breakGlass.maxTtl: breakGlass.maxTtl is longer than maxTtl",
    },
    {
      name: "break-glass on a role nobody approves",
      patch: (c: any) => (c.roles.auto.breakGlass = {}),
      want: "roles.auto.breakGlass: break-glass needs approver groups",
    },
    {
      name: "break-glass groups that do not exist",
      patch: (c: any) => (c.roles.debug.breakGlass = { requesters: ["oncall"] }),
      want: 'roles.debug.breakGlass.requesters.0: unknown group "oncall"',
    },
    {
      name: "an unknown time zone",
      patch: (c: any) =>
        (c.roles.debug.hours = { timeZone: "Mars/Olympus", open: [{ days: ["mon"], from: "09:00", to: "17:00" }] }),
      want: "roles.debug.hours.timeZone: unknown time zone (an IANA name such as Europe/Berlin, or UTC)",
    },
    {
      name: "a time of day that is not one",
      patch: (c: any) => (c.roles.debug.hours = { open: [{ days: ["mon"], from: "9am", to: "17:00" }] }),
      want: 'roles.debug.hours.open.0.from: expected a time of day "HH:MM" from 00:00 to 24:00',
    },
    {
      name: "an empty range",
      patch: (c: any) => (c.roles.debug.hours = { open: [{ days: ["mon"], from: "09:00", to: "09:00" }] }),
      want: "roles.debug.hours.open.0: from and to are the same time; the range would be empty",
    },
    {
      name: "a day that is not one",
      patch: (c: any) => (c.roles.debug.hours = { open: [{ days: ["monday"], from: "09:00", to: "17:00" }] }),
      want: "roles.debug.hours.open.0.days.0: expected days among mon, tue, wed, thu, fri, sat, sun",
    },
    {
      name: "scanAware with scanning off",
      patch: (c: any) => {
        c.roles.debug.scanAware = {};
        c.scanning = { enabled: false };
      },
      want: "roles.debug.scanAware: scanAware needs scanning.enabled: true",
    },
    {
      name: "scanAware auto-approval with nobody to approve a dirty host",
      patch: (c: any) => (c.roles.auto.scanAware = {}),
      want: "roles.auto.approvers: scanAware with autoApprove needs approver groups",
    },
    {
      name: "an unknown onDrift",
      patch: (c: any) => (c.roles.debug.scanAware = { onDrift: "ignore" }),
      want: "roles.debug.scanAware.onDrift",
    },
  ])("fail/$name", ({ patch, want }) => {
    expect(problems(patch).join("\n")).toContain(want);
  });
});
