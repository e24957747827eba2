import { describe, expect, test } from "vitest";
import { decideAsk } from "../../src/access/policy.js";
import { decideSingleUse, type SessionClosed, sessionClosedOf } from "../../src/access/single-use.js";
import { newRequest } from "../../src/access/transitions.js";
import type { AccessRequest } from "../../src/domain/request.js";
import { config } from "../helpers/config.js";

const cfg = config((c: any) => (c.roles.debug.singleUse = true));
const t0 = new Date("2026-01-05T09:00:00Z");
const later = new Date("2026-01-05T09:05:00Z");

function issued(role = "debug", over: Partial<AccessRequest> = {}): AccessRequest {
  const d = decideAsk(cfg, { user: "alice", groups: ["dev"] }, { role, hosts: ["web-1"], reason: "INC-1" });
  if (!d.ok) throw new Error(d.reason);
  const req = newRequest({
    id: "rq_aaaaaaaaaaaaaaaa",
    requester: "alice",
    grant: d.value,
    publicKey: "k",
    keyFingerprint: "f",
    now: t0,
  });
  return {
    ...req,
    state: "issued",
    cert: {
      certificate: "c",
      serial: "77",
      keyId: "k",
      validAfter: "2026-01-05T08:59:00Z",
      validBefore: "2026-01-05T09:15:00Z",
      caFingerprint: "f",
    },
    ...over,
  };
}
const closed: SessionClosed = {
  request: "rq_aaaaaaaaaaaaaaaa",
  serial: "77",
  host: "web-1",
  at: "2026-01-05T09:04:59Z",
  seq: 42,
};

describe("decideSingleUse: the first session's close ends a single-use certificate", () => {
  test.each([
    {
      name: "ok/the first close of a single-use certificate revokes it",
      req: () => issued(),
      ev: closed,
      reason: undefined,
    },
    {
      name: "fail/a role that is not single use keeps its certificate",
      req: () => issued("debug", { singleUse: undefined }),
      ev: closed,
      reason: /is not single use/,
    },
    {
      name: "fail/a second close changes nothing (already ended)",
      req: () => issued("debug", { state: "revoked" }),
      ev: closed,
      reason: /is revoked; its first session already ended it/,
    },
    {
      name: "fail/the close of another certificate's session",
      req: () => issued(),
      ev: { ...closed, serial: "78" },
      reason: /serial 78 is not the certificate of request/,
    },
    {
      name: "fail/a certificate past validBefore needs no revocation",
      req: () => issued("debug", { cert: { ...issued().cert!, validBefore: "2026-01-05T09:04:00Z" } }),
      ev: closed,
      reason: /already expired/,
    },
    { name: "fail/no live request", req: () => undefined, ev: closed, reason: /no live request for serial 77/ },
  ])("$name", ({ req, ev, reason }) => {
    const d = decideSingleUse(req(), ev, later);
    expect(d.ok).toBe(reason === undefined);
    if (d.ok)
      expect(d.value).toMatchObject({
        state: "revoked",
        revocation: {
          by: "sshcad",
          kind: "single-use",
          reason: "single use: its first session, on web-1, closed at 2026-01-05T09:04:59Z",
          at: later.toISOString(),
        },
      });
    else expect(d.reason).toMatch(reason!);
  });

  test.each([
    {
      name: "ok/the fields the companion writes",
      fields: { host: "web-1", serial: "77", at: "T", request: "rq_x", login: "root" },
      want: { request: "rq_x", serial: "77", host: "web-1", at: "T", seq: 5 },
    },
    {
      name: "ok/a certificate sshcad does not know has no request",
      fields: { host: "web-1", serial: "77", at: "T" },
      want: { serial: "77", host: "web-1", at: "T", seq: 5 },
    },
    { name: "fail/no serial", fields: { host: "web-1", at: "T" }, want: undefined },
    { name: "fail/a serial that is not text", fields: { host: "web-1", serial: 77, at: "T" }, want: undefined },
  ])("$name", ({ fields, want }) => {
    expect(sessionClosedOf(5, fields)).toEqual(want);
  });
});
