import { describe, expect, test } from "vitest";
import type { AuditRecord } from "../../src/audit/record.js";
import { summarize } from "../../src/notify/payload.js";
import { recipientsFor } from "../../src/notify/recipients.js";
import { config } from "../helpers/config.js";

const cfg = config();
const members: Record<string, string[]> = {
  sre: ["bob", "erin"],
  leads: ["dave"],
  dev: ["alice", "carol"],
  auditors: ["audrey"],
};
const membersOf = (groups: readonly string[]) => [...new Set(groups.flatMap((g) => members[g] ?? []))].sort();
const rec = (type: string, fields: Record<string, unknown>, actor = "alice"): AuditRecord =>
  ({ seq: 7, time: "2026-01-01T00:00:00Z", actor, type, fields, prev: "p", hash: "h" }) as AuditRecord;
const open = [
  { stage: "leads", missing: 1, groups: ["leads"], bots: [], canClose: ["dave"] },
  { stage: "oncall", missing: 2, groups: ["sre"], bots: ["pager"], canClose: ["bob", "erin"] },
];

describe("who is told, with stages, reviewers and break-glass", () => {
  test.each([
    {
      name: "a new request goes to those who can close an open stage, suggested reviewers first",
      record: rec("request.created", { requester: "alice", role: "dba", openStages: open, reviewers: ["erin"] }),
      want: { users: ["erin", "bob", "dave"], groups: ["leads", "sre"], suggested: ["erin"] },
    },
    {
      name: "an approval that leaves stages open goes to those who can close them",
      record: rec(
        "request.approved",
        {
          requester: "alice",
          role: "dba",
          approvals: 1,
          approvalsRequired: 3,
          approvers: ["dave"],
          openStages: [open[1]],
        },
        "dave",
      ),
      want: { users: ["bob", "erin"], groups: ["sre"] },
    },
    {
      name: "break-glass goes at once to everyone who could have approved and every auditor",
      record: rec("request.break_glass", { requester: "alice", role: "dba" }),
      want: { users: ["audrey", "bob", "dave", "erin"], groups: ["sre", "leads", "auditors"] },
    },
    {
      name: "a review reminder goes to those who may review",
      record: rec("request.review_reminder", { requester: "alice", role: "dba" }, "sshcad"),
      want: { users: ["bob", "dave", "erin"], groups: ["sre", "leads"] },
    },
    {
      name: "a review goes to the requester and the auditors",
      record: rec("request.reviewed", { requester: "alice", role: "dba" }, "bob"),
      want: { users: ["alice", "audrey"], groups: ["auditors"] },
    },
  ])("$name", ({ record, want }) => {
    expect(recipientsFor(record, cfg, membersOf)).toEqual(want);
  });

  test("the summary says the access and the pending lifetime as two things, and what is open", () => {
    const text = summarize(
      rec("request.created", {
        request: "rq_aaaaaaaaaaaaaaaa",
        requester: "alice",
        role: "dba",
        hosts: ["db-1"],
        ttlSeconds: 1800,
        expiresAt: "2026-01-01T01:00:00.000Z",
        reason: "CHG-1",
        openStages: open,
      }),
    );
    expect(text).toBe(
      'alice requests dba on db-1 for 30m of access; waits for approval until 2026-01-01T01:00:00.000Z: "CHG-1"; still open: leads (1 more: dave), oncall (2 more: bob, erin, bot:pager). Approve with: sshca approve rq_aaaaaaaaaaaaaaaa',
    );
    expect(
      summarize(
        rec("request.break_glass", {
          request: "rq_x",
          role: "dba",
          hosts: ["db-1"],
          ttlSeconds: 600,
          reason: "prod down",
        }),
      ),
    ).toBe(
      'BREAK-GLASS: alice took dba on db-1 for 10m without approval: "prod down". An approver must review it: sshca review rq_x --comment "..."',
    );
  });
});
