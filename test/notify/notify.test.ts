import { createHmac } from "node:crypto";
import { describe, expect, test } from "vitest";
import type { AuditRecord } from "../../src/audit/record.js";
import { buildPayload, slackMessage } from "../../src/notify/payload.js";
import { recipientsFor } from "../../src/notify/recipients.js";
import { signBody } from "../../src/notify/webhook-worker.js";
import { config } from "../helpers/config.js";

const cfg = config();
const members: Record<string, string[]> = {
  sre: ["bob", "erin"],
  leads: ["dave"],
  dev: ["alice", "carol"],
  admins: ["root"],
};
const membersOf = (groups: readonly string[]) => [...new Set(groups.flatMap((g) => members[g] ?? []))].sort();
const rec = (type: string, fields: Record<string, unknown>, actor = "alice"): AuditRecord =>
  ({ seq: 7, time: "2026-01-01T00:00:00Z", actor, type, fields, prev: "p", hash: "h" }) as AuditRecord;

describe("who is told", () => {
  test.each([
    {
      name: "a new request goes to the role's approvers, never the requester",
      record: rec("request.created", { requester: "alice", role: "dba" }),
      want: { users: ["bob", "dave", "erin"], groups: ["sre", "leads"] },
    },
    {
      name: "a partial approval still waits: the approvers who have not approved yet",
      record: rec(
        "request.approved",
        { requester: "alice", role: "dba", approvals: 1, approvalsRequired: 2, approvers: ["bob"] },
        "bob",
      ),
      want: { users: ["dave", "erin"], groups: ["sre", "leads"] },
    },
    {
      name: "issuance goes to everyone involved",
      record: rec("certificate.issued", { requester: "alice", role: "dba", approvers: ["bob", "dave"] }, "sshcad"),
      want: { users: ["alice", "bob", "dave"], groups: [] },
    },
    {
      name: "a denial goes to the requester, those who had approved, and the denier",
      record: rec("request.denied", { requester: "alice", role: "dba", approvers: ["dave"] }, "bob"),
      want: { users: ["alice", "dave", "bob"], groups: [] },
    },
    {
      name: "a new sign-in key is announced to its user and every admin",
      record: rec("auth.key_registered", { user: "alice", keyFingerprint: "SHA256:x", via: "token:abc" }),
      want: { users: ["alice", "root"], groups: ["admins"] },
    },
    {
      name: "a disabled user is announced to them and every admin",
      record: rec("user.disabled", { user: "carol" }, "admin"),
      want: { users: ["carol", "root"], groups: ["admins"] },
    },
    {
      name: "an approval that stopped counting puts the request back before the other approvers",
      record: rec(
        "request.approval_withdrawn",
        { requester: "alice", role: "dba", approver: "bob", approvals: 0, approvalsRequired: 2, approvers: [] },
        "admin",
      ),
      want: { users: ["dave", "erin"], groups: ["sre", "leads"] },
    },
    {
      name: "a revocation by the admin actor names no daemon actor",
      record: rec("certificate.revoked", { requester: "alice", role: "debug", approvers: ["bob"] }, "admin"),
      want: { users: ["alice", "bob"], groups: [] },
    },
    {
      name: "a denial by policy names no daemon actor",
      record: rec("request.denied", { requester: "alice", role: "debug", approvers: [] }, "policy"),
      want: { users: ["alice"], groups: [] },
    },
    {
      name: "a revocation goes to the requester, the approvers and the revoker",
      record: rec("certificate.revoked", { requester: "alice", role: "debug", approvers: ["bob"] }, "erin"),
      want: { users: ["alice", "bob", "erin"], groups: [] },
    },
    {
      name: "relinquishing tells the approvers (the requester is the actor)",
      record: rec("certificate.revoked", { requester: "alice", role: "debug", approvers: ["bob"] }, "alice"),
      want: { users: ["alice", "bob"], groups: [] },
    },
    {
      name: "auto-approve roles wait for nobody",
      record: rec("request.created", { requester: "alice", role: "auto" }),
      want: { users: [], groups: [] },
    },
    {
      name: "other events go to nobody in particular",
      record: rec("config.loaded", {}),
      want: { users: [], groups: [] },
    },
  ])("$name", ({ record, want }) => {
    expect(recipientsFor(record, cfg, membersOf)).toEqual(want);
  });
});

describe("payloads", () => {
  test("the idempotency key is stable per webhook and record; the signature is HMAC-SHA256 over the body", () => {
    const p = buildPayload(
      "chat",
      rec("request.denied", { requester: "alice", role: "debug", request: "rq_x", reason: "no" }, "bob"),
      {
        users: ["alice"],
        groups: [],
      },
    );
    expect(p.id).toBe("chat:7");
    expect(p.summary).toBe("bob denied rq_x (debug for alice): no");
    expect(slackMessage(p)).toEqual({ text: "[sshca] bob denied rq_x (debug for alice): no (@alice)" });
    const body = JSON.stringify(p);
    expect(signBody("s3cret", body)).toBe(`sha256=${createHmac("sha256", "s3cret").update(body).digest("hex")}`);
  });
});
