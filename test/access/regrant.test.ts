import { describe, expect, test } from "vitest";
import { decideAsk } from "../../src/access/policy.js";
import { decideStillGranted } from "../../src/access/regrant.js";
import { decideApproval, newRequest } from "../../src/access/transitions.js";
import type { AccessRequest, Identity } from "../../src/domain/request.js";
import { config } from "../helpers/config.js";

const alice: Identity = { user: "alice", groups: ["dev"] };
const people: Record<string, Identity> = {
  alice,
  bob: { user: "bob", groups: ["sre"] },
  dave: { user: "dave", groups: ["leads"] },
};

/** A dba request (two approvals) approved by bob and dave under the original config. */
function approvedDba(): AccessRequest {
  const cfg = config();
  const g = decideAsk(cfg, alice, { role: "dba", hosts: ["db-1"], reason: "x" });
  if (!g.ok) throw new Error(g.reason);
  let req = newRequest({
    id: "rq_aaaaaaaaaaaaaaaa",
    requester: "alice",
    grant: g.value,
    publicKey: "k",
    keyFingerprint: "f",
    now: new Date(),
  });
  for (const who of ["bob", "dave"]) {
    const d = decideApproval(req, cfg.roles.dba, people[who]!, req.digest, undefined, new Date());
    if (!d.ok) throw new Error(d.reason);
    req = d.value.request;
  }
  return req;
}

describe("just before signing, the grant and its approvals are checked against today's config", () => {
  test.each([
    { name: "ok/nothing changed", patch: () => undefined, who: people, ok: true },
    {
      name: "fail/more approvals required now",
      patch: (c: any) => (c.roles.dba.approvalsRequired = 3),
      who: people,
      ok: false,
      reason: /now needs 3 approvals/,
    },
    {
      name: "fail/an approver left the approver groups",
      patch: () => undefined,
      who: { ...people, dave: { user: "dave", groups: ["dev"] } },
      ok: false,
      reason: /1 of the approvals still count/,
    },
    {
      name: "fail/an approver no longer exists",
      patch: () => undefined,
      who: { alice, bob: people.bob! },
      ok: false,
      reason: /still count/,
    },
    {
      name: "fail/the role's TTL limit dropped",
      patch: (c: any) => (c.roles.dba.maxTtl = "5m"),
      who: people,
      ok: false,
      reason: /policy changed/,
    },
    {
      name: "fail/the role asks for a second factor now: approvals without one no longer count",
      patch: (c: any) => (c.roles.dba.stepUp = { methods: ["totp"] }),
      who: people,
      ok: false,
      reason: /0 of the approvals still count/,
    },
    {
      name: "fail/the requester left the requester groups",
      patch: () => undefined,
      who: { ...people, alice: { user: "alice", groups: [] } },
      ok: false,
      reason: /policy changed/,
    },
  ])("$name", ({ patch, who, ok, reason }) => {
    const cfg = config(patch);
    const d = decideStillGranted(
      cfg,
      (who as Record<string, Identity>).alice,
      approvedDba(),
      (u) => (who as Record<string, Identity>)[u],
    );
    expect(d.ok).toBe(ok);
    if (!d.ok && reason) expect(d.reason).toMatch(reason);
  });
});
