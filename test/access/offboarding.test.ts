import { describe, expect, test } from "vitest";
import { cutOffStep } from "../../src/access/offboarding.js";
import { decideAsk } from "../../src/access/policy.js";
import { decideApproval, markIssued, newRequest } from "../../src/access/transitions.js";
import type { AccessRequest, Identity } from "../../src/domain/request.js";
import { config } from "../helpers/config.js";

const cfg = config();
const t0 = new Date("2026-01-01T10:00:00Z");
const later = new Date(t0.getTime() + 60_000);
const alice: Identity = { user: "alice", groups: ["dev"] };
const bob: Identity = { user: "bob", groups: ["sre"] };
const dave: Identity = { user: "dave", groups: ["leads"] };
const opts = { actor: "admin", reason: "x was disabled by admin", revokeCertificates: true };

function pending(role = "debug", hosts = ["web-1"]): AccessRequest {
  const d = decideAsk(cfg, alice, { role, hosts, reason: "INC-1" });
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
const approved = (req: AccessRequest, who: Identity) => {
  const d = decideApproval(req, cfg.roles[req.role], who, req.digest, undefined, t0);
  if (!d.ok) throw new Error(d.reason);
  return d.value.request;
};
const issued = (validBefore: Date) =>
  markIssued(
    approved(pending(), bob),
    {
      certificate: "c",
      serial: "7",
      keyId: "k",
      validAfter: t0.toISOString(),
      validBefore: validBefore.toISOString(),
      caFingerprint: "f",
    },
    t0,
  );

describe("what cutting a user off does to a request", () => {
  test.each([
    {
      name: "ok/requester's pending request is cancelled",
      req: () => pending(),
      user: "alice",
      type: "request.cancelled",
      state: "cancelled",
    },
    {
      name: "ok/requester's approved request (being issued) is cancelled",
      req: () => approved(pending(), bob),
      user: "alice",
      type: "request.cancelled",
      state: "cancelled",
    },
    {
      name: "ok/requester's live certificate is revoked",
      req: () => issued(new Date(t0.getTime() + 3_600_000)),
      user: "alice",
      type: "certificate.revoked",
      state: "revoked",
    },
    {
      name: "ok/approver's approval of a waiting request is withdrawn",
      req: () => approved(pending("dba", ["db-1"]), bob),
      user: "bob",
      type: "request.approval_withdrawn",
      state: "pending",
    },
    {
      name: "ok/an approved request whose approver is cut goes back to pending",
      req: () => approved(pending(), bob),
      user: "bob",
      type: "request.approval_withdrawn",
      state: "pending",
    },
    {
      name: "none/an expired certificate needs no revocation",
      req: () => issued(t0),
      user: "alice",
      type: undefined,
      state: undefined,
    },
    {
      name: "none/an issued request keeps the approval it was issued with",
      req: () => issued(new Date(t0.getTime() + 3_600_000)),
      user: "bob",
      type: undefined,
      state: undefined,
    },
    {
      name: "none/someone not involved",
      req: () => approved(pending("dba", ["db-1"]), dave),
      user: "bob",
      type: undefined,
      state: undefined,
    },
  ])("$name", ({ req, user, type, state }) => {
    const before = req();
    const step = cutOffStep(before, user, opts, later);
    expect(step?.type).toBe(type);
    expect(step?.req.state).toBe(state);
    if (step) {
      expect(step.req.version).toBe(before.version + 1);
      expect(step.actor).toBe("admin");
      expect(step.req.approvals.some((a) => a.approver === user && user !== before.requester)).toBe(false);
    }
  });

  test("with revokeCertificates off, a live certificate is left alone", () => {
    expect(
      cutOffStep(issued(new Date(t0.getTime() + 3_600_000)), "alice", { ...opts, revokeCertificates: false }, later),
    ).toBeUndefined();
  });

  test("a withdrawn approval clears the scan gate, so it is decided again at the next approval", () => {
    const req = { ...approved(pending(), bob), gate: { status: "passed" as const } };
    const step = cutOffStep(req, "bob", opts, later)!;
    expect(step.req.gate).toBeUndefined();
    expect(step.fields).toMatchObject({ approver: "bob", approvals: 0, approvalsRequired: 1, approvers: [] });
  });
});
