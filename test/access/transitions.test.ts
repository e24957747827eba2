import { describe, expect, test } from "vitest";
import { decideAsk } from "../../src/access/policy.js";
import {
  decideApproval,
  decideCancel,
  decideDenial,
  expireIfDue,
  markIssued,
  newRequest,
} from "../../src/access/transitions.js";
import type { AccessRequest, Identity } from "../../src/domain/request.js";
import { config } from "../helpers/config.js";

const cfg = config();
const t0 = new Date("2026-01-01T10:00:00Z");
const at = (minutes: number) => new Date(t0.getTime() + minutes * 60_000);
const alice: Identity = { user: "alice", groups: ["dev"] };
const bob: Identity = { user: "bob", groups: ["sre"] };
const carol: Identity = { user: "carol", groups: ["dev"] };
const dave: Identity = { user: "dave", groups: ["leads"] };
const admin: Identity = { user: "root", groups: ["admins"] };

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
const approveAs = (req: AccessRequest, who: Identity, when = at(1), digest = req.digest) =>
  decideApproval(req, cfg.roles[req.role], who, digest, undefined, when);
const issuedCert = {
  certificate: "c",
  serial: "7",
  keyId: "k",
  validAfter: "",
  validBefore: "",
  caFingerprint: "f",
};

describe("approvals", () => {
  test.each([
    {
      name: "fail/requester approving own request",
      req: () => pending(),
      who: alice,
      code: "forbidden",
      reason: /your own request/,
    },
    {
      name: "fail/non-approver",
      req: () => pending(),
      who: carol,
      code: "forbidden",
      reason: /carol is not an approver for role debug/,
    },
    {
      name: "fail/approver of another role's group",
      req: () => pending(),
      who: dave,
      code: "forbidden",
      reason: /not an approver/,
    },
    {
      name: "fail/admin is not an approver",
      req: () => pending(),
      who: admin,
      code: "forbidden",
      reason: /not an approver/,
    },
    {
      name: "fail/stale digest",
      req: () => pending(),
      who: bob,
      digest: `sha256:${"1".repeat(64)}`,
      code: "conflict",
      reason: /digest mismatch/,
    },
    {
      name: "fail/stale digest from an approver who already approved: the digest is what is wrong",
      req: () => (approveAs(pending("dba", ["db-1"]), bob) as { value: { request: AccessRequest } }).value.request,
      who: bob,
      digest: `sha256:${"1".repeat(64)}`,
      code: "conflict",
      reason:
        /^digest mismatch: request rq_aaaaaaaaaaaaaaaa is not what you reviewed \(sha256:1+ is not its digest\); nothing changed/,
    },
    {
      name: "fail/expired",
      req: () => pending(),
      who: bob,
      when: at(61),
      code: "conflict",
      reason: /expired at/,
    },
    {
      name: "fail/already issued",
      req: () => markIssued({ ...pending(), state: "approved" }, issuedCert, at(1)),
      who: bob,
      code: "conflict",
      reason: /already issued \(serial 7\)/,
    },
    {
      name: "fail/denied",
      req: () => (decideDenial(pending(), cfg.roles.debug, bob, "no", at(1)) as { value: AccessRequest }).value,
      who: bob,
      code: "conflict",
      reason: /was denied by bob: no/,
    },
    {
      name: "fail/cancelled",
      req: () => (decideCancel(pending(), alice, false, at(1)) as { value: AccessRequest }).value,
      who: bob,
      code: "conflict",
      reason: /cancelled by alice/,
    },
    {
      name: "fail/expired state",
      req: () => expireIfDue(pending(), at(61))!,
      who: bob,
      code: "conflict",
      reason: /expired at .* without enough approvals/,
    },
  ])("$name", ({ req, who, when, digest, code, reason }) => {
    const r = req();
    const d = approveAs(r, who, when ?? at(1), digest ?? r.digest);
    expect(d.ok).toBe(false);
    if (!d.ok) {
      expect(d.code).toBe(code);
      expect(d.reason).toMatch(reason);
    }
  });

  test("ok/one approval completes a one-approval role", () => {
    const d = approveAs(pending(), bob);
    expect(d.ok && d.value.complete).toBe(true);
    expect(d.ok && d.value.request.state).toBe("approved");
    expect(d.ok && d.value.request.version).toBe(2);
  });

  test("ok/a two-approval role needs two distinct approvers, each counted once", () => {
    const first = approveAs(pending("dba", ["db-1"]), bob);
    if (!first.ok) throw new Error(first.reason);
    expect(first.value.complete).toBe(false);
    expect(first.value.request.state).toBe("pending");
    const repeat = approveAs(first.value.request, bob);
    expect(repeat.ok || repeat.reason).toMatch(/bob already approved/);
    const second = approveAs(first.value.request, dave);
    if (!second.ok) throw new Error(second.reason);
    expect(second.value.complete).toBe(true);
    expect(second.value.request.approvals.map((a) => a.approver)).toEqual(["bob", "dave"]);
  });
});

describe("deny, cancel, expire", () => {
  test.each([
    {
      name: "ok/approver denies",
      run: () => decideDenial(pending(), cfg.roles.debug, bob, "why", at(1)),
      ok: true,
    },
    {
      name: "fail/requester denies own",
      run: () => decideDenial(pending(), cfg.roles.debug, alice, "why", at(1)),
      ok: false,
    },
    {
      name: "fail/non-approver denies",
      run: () => decideDenial(pending(), cfg.roles.debug, carol, "why", at(1)),
      ok: false,
    },
    {
      name: "ok/requester cancels",
      run: () => decideCancel(pending(), alice, false, at(1)),
      ok: true,
    },
    { name: "ok/admin cancels", run: () => decideCancel(pending(), admin, true, at(1)), ok: true },
    {
      name: "fail/someone else cancels",
      run: () => decideCancel(pending(), carol, false, at(1)),
      ok: false,
    },
    {
      name: "fail/cancel after expiry",
      run: () => decideCancel(pending(), alice, false, at(60)),
      ok: false,
    },
  ])("$name", ({ run, ok }) => {
    expect(run().ok).toBe(ok);
  });

  test("a pending request expires exactly at expiresAt, not before", () => {
    expect(expireIfDue(pending(), at(59))).toBeUndefined();
    expect(expireIfDue(pending(), at(60))?.state).toBe("expired");
  });

  test("only an approved request can be marked issued", () => {
    expect(() => markIssued(pending(), issuedCert, at(1))).toThrow(/state pending/);
  });

  test("the digest changes with anything that changes the certificate", () => {
    const a = pending("debug", ["web-1"]);
    const b = pending("debug", ["web-1", "web-2"]);
    expect(a.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(a.digest).not.toBe(b.digest);
  });
});
