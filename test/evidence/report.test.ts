import { describe, expect, test } from "vitest";
import type { AuditRecord, AuditType } from "../../src/audit/record.js";
import { buildReport } from "../../src/evidence/report.js";
import { summarize } from "../../src/evidence/summary.js";

let seq = 0;
const rec = (
  type: AuditType,
  actor: string,
  fields: Record<string, unknown>,
  time = "2026-03-01T12:00:00Z",
): AuditRecord => ({
  seq: ++seq,
  time,
  actor,
  type,
  fields: { request: "rq_aaaaaaaaaaaaaaaa", requester: "alice", role: "debug", ...fields },
  prev: "",
  hash: "",
});
const created = rec("request.created", "alice", {
  hosts: ["web-1"],
  principals: ["root@web-1"],
  reason: "INC-1",
  ttlSeconds: 900,
});
const issued = rec("certificate.issued", "sshcad", {
  serial: "42",
  keyId: "k",
  principals: ["root@web-1"],
  validAfter: "2026-03-01T11:59:00Z",
  validBefore: "2026-03-01T12:15:00Z",
});
const at = (s: string) => new Date(s);

describe("one access window from its audit records", () => {
  test("an approval with its comment and second factor; a relinquished certificate", () => {
    const r = buildReport(
      "rq_aaaaaaaaaaaaaaaa",
      [
        created,
        rec("request.approved", "bob", {
          comment: "ok",
          factor: { kind: "sk", factor: "f1", userVerified: true },
          approvals: 1,
          approvalsRequired: 1,
        }),
        issued,
        rec("certificate.revoked", "alice", { kind: "relinquish", reason: "relinquished by its owner" }),
      ],
      at("2026-03-01T12:05:00Z"),
    );
    expect(r.approvals).toEqual([
      { approver: "bob", at: created.time, comment: "ok", factor: "sk", userVerified: true },
    ]);
    expect(r.state).toBe("revoked");
    expect(r.ended).toMatchObject({ kind: "relinquished", by: "alice" });
    expect(r.findings).toEqual([]);
  });

  test("a certificate past validBefore ended by expiry; a logout whose login was not seen is still shown", () => {
    const r = buildReport(
      "rq_aaaaaaaaaaaaaaaa",
      [
        created,
        rec("request.auto_approved", "sshcad", {}),
        issued,
        rec("session.closed", "host:web-1", {
          host: "web-1",
          login: "root",
          from: "10.0.0.1",
          port: 5,
          serial: "42",
          at: "2026-03-01T12:10:00Z",
        }),
      ],
      at("2026-03-01T12:20:00Z"),
    );
    expect(r.approvals).toEqual([{ approver: "auto-approve", at: created.time, auto: true }]);
    expect(r.state).toBe("expired");
    expect(r.ended).toEqual({ kind: "expired", at: "2026-03-01T12:15:00Z" });
    expect(r.sessions).toEqual([
      { host: "web-1", login: "root", from: "10.0.0.1", port: 5, serial: "42", closedAt: "2026-03-01T12:10:00Z" },
    ]);
  });

  test("denied before issuance: no certificate; drift at expiry is a finding, attached to its scan", () => {
    const denied = buildReport(
      "rq_aaaaaaaaaaaaaaaa",
      [created, rec("request.denied", "bob", { reason: "no" })],
      at("2026-03-01T13:00:00Z"),
    );
    expect(denied).toMatchObject({ state: "denied", ended: { kind: "denied", by: "bob", reason: "no" } });
    expect(denied.certificate).toBeUndefined();
    const drifted = buildReport(
      "rq_aaaaaaaaaaaaaaaa",
      [
        created,
        issued,
        rec("scan.finished", "sshcad", {
          scan: "sc_1",
          host: "web-1",
          trigger: "expiry",
          outcome: "ok",
          ports: [
            { port: 22, protocol: "tcp", state: "open", service: "ssh" },
            { port: 9, protocol: "tcp", state: "closed" },
          ],
        }),
        rec("scan.drift", "sshcad", { scan: "sc_1", host: "web-1", trigger: "expiry", summary: "newly open 22/tcp" }),
      ],
      at("2026-03-01T13:00:00Z"),
    );
    expect(drifted.scans).toEqual([
      expect.objectContaining({ scan: "sc_1", open: ["22/tcp (ssh)"], drift: "newly open 22/tcp" }),
    ]);
    expect(drifted.findings).toEqual([
      { finding: "drift", at: expect.any(String), host: "web-1", detail: "at expiry: newly open 22/tcp" },
    ]);
  });

  test("the summary counts windows per host of the certificate, logins and findings per user and host", () => {
    const s = summarize(
      [
        rec("certificate.issued", "sshcad", { hosts: ["web-1", "web-2"] }),
        rec("session.opened", "host:web-1", { host: "web-1" }),
        rec("finding.raised", "sshcad", { host: "web-2", finding: "revoked_certificate", detail: "d" }),
        {
          ...rec("finding.raised", "sshcad", { host: "web-3", finding: "host_silent", detail: "quiet" }),
          fields: { host: "web-3", finding: "host_silent", detail: "quiet" },
        },
      ],
      { since: at("2026-03-01T00:00:00Z"), until: at("2026-03-02T00:00:00Z") },
    );
    expect(s.rows).toEqual([
      { user: "-", host: "web-3", windows: 0, logins: 0, findings: 1 },
      { user: "alice", host: "web-1", windows: 1, logins: 1, findings: 0 },
      { user: "alice", host: "web-2", windows: 1, logins: 0, findings: 1 },
    ]);
    expect(s.findings.map((f) => [f.finding, f.user, f.request])).toEqual([
      ["revoked_certificate", "alice", "rq_aaaaaaaaaaaaaaaa"],
      ["host_silent", undefined, undefined],
    ]);
  });
});
