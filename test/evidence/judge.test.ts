import { describe, expect, test } from "vitest";
import { type CertificateOrigin, judgeLogin, type SessionEvent } from "../../src/evidence/judge.js";

const CA = "SHA256:rDPLgxiL0HzFY67mnfRJaHhQ57AmO9xVX7T6tU3oKxQ";
const OTHER = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const origin: CertificateOrigin = {
  request: "rq_aaaaaaaaaaaaaaaa",
  requester: "alice",
  role: "debug",
  hosts: ["web-1"],
  keyId: "req=rq_aaaaaaaaaaaaaaaa;user=alice;role=debug;approvers=bob",
  validAfter: "2026-03-01T11:59:00Z",
  validBefore: "2026-03-01T12:15:00Z",
  caFingerprint: CA,
};
const login = (patch: Partial<SessionEvent> = {}): SessionEvent => ({
  kind: "opened",
  at: "2026-03-01T12:01:00Z",
  login: "root",
  from: "10.0.0.9",
  port: 40000,
  serial: "42",
  keyId: origin.keyId,
  caFingerprint: CA,
  ...patch,
});

describe("what a login on a host means", () => {
  const cases: {
    name: string;
    event?: Partial<SessionEvent>;
    host?: string;
    origin?: CertificateOrigin | undefined;
    revoked?: { at: string; by: string };
    expect: string[];
  }[] = [
    { name: "ok/the certificate of the request, on its host, in its window", expect: [] },
    {
      name: "ok/a logout raises nothing",
      event: { kind: "closed", at: "2026-03-02T00:00:00Z" },
      host: "db-9",
      expect: [],
    },
    { name: "ok/revoked after the login", revoked: { at: "2026-03-01T12:02:00Z", by: "bob" }, expect: [] },
    {
      name: "fail/revoked before the login",
      revoked: { at: "2026-03-01T12:00:30Z", by: "bob" },
      expect: ["revoked_certificate"],
    },
    {
      name: "fail/after validBefore (the host's clock)",
      event: { at: "2026-03-01T12:15:00Z" },
      expect: ["expired_certificate"],
    },
    { name: "fail/before validAfter", event: { at: "2026-03-01T11:58:59Z" }, expect: ["expired_certificate"] },
    { name: "fail/a host the request did not name", host: "web-2", expect: ["host_outside_request"] },
    { name: "fail/a serial this CA never issued", origin: undefined, expect: ["foreign_certificate"] },
    { name: "fail/our serial under another CA", event: { caFingerprint: OTHER }, expect: ["foreign_certificate"] },
    { name: "fail/our serial with another key id", event: { keyId: "someone-else" }, expect: ["foreign_certificate"] },
    {
      name: "fail/revoked, expired and elsewhere at once",
      event: { at: "2026-03-01T13:00:00Z" },
      host: "db-1",
      revoked: { at: "2026-03-01T12:30:00Z", by: "bob" },
      expect: ["revoked_certificate", "expired_certificate", "host_outside_request"],
    },
  ];
  test.each(cases)("$name", (c) => {
    const o = "origin" in c ? c.origin : origin;
    const found = judgeLogin(login(c.event), c.host ?? "web-1", o, c.revoked, [CA]);
    expect(found.map((f) => f.finding)).toEqual(c.expect);
    for (const f of found) expect(f.detail).toMatch(/serial 42/);
  });

  test("the detail of a foreign certificate names whether our CA key signed it", () => {
    expect(judgeLogin(login(), "web-1", undefined, undefined, [CA])[0]!.detail).toMatch(/signed by this CA's key/);
    expect(judgeLogin(login({ caFingerprint: OTHER }), "web-1", undefined, undefined, [CA])[0]!.detail).toMatch(
      new RegExp(`signed by CA ${OTHER}`),
    );
  });
});
