import { generateKeyPairSync, randomBytes } from "node:crypto";
import sshpk from "sshpk";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createHostCredential, revokeHostCredential } from "../../src/admin/host-credentials.js";
import type { AdminDeps } from "../../src/admin/users.js";
import { parseToken } from "../../src/auth/tokens.js";
import { isKrl } from "../../src/ca/krl.js";
import { type InProc, startInProc } from "../helpers/inproc.js";
import { e2eConfig, LOGIN } from "../helpers/scenario.js";

/**
 * A host credential speaks for one inventory host, on /v1/host/ only: it cannot request, approve
 * or read anything else, and a person's token cannot stand in for a host.
 */
const publicKey = () => {
  const { publicKey: k } = generateKeyPairSync("ed25519");
  return sshpk.parseKey(k.export({ type: "spki", format: "pem" }), "pem").toString("ssh");
};
let clock = Date.now();
const now = () => new Date(clock);
let api: InProc;
let deps: AdminDeps;
const t: Record<string, string> = {};
let web1: string;
let pending: { id: string; digest: string };
let issued: { id: string; serial: string };

beforeAll(async () => {
  const extra = { limits: { requestsPerMinute: 1000, failedAuthPerMinute: 1000 }, scanning: { enabled: false } };
  api = await startInProc(e2eConfig({ extra }), { now });
  const { core } = api.daemon;
  deps = { config: () => core.config, storage: core.storage, now, random: randomBytes, access: api.daemon.access };
  for (const [user, group] of [
    ["alice", "dev"],
    ["bob", "sre"],
    ["eve", "auditors"],
    ["root", "admins"],
  ] as const) {
    t[user] = await api.token(user, [group]);
  }
  web1 = (await createHostCredential(deps, "web-1", 365 * 86400, "test")).token;
  const ask = async (hosts: string[]) =>
    (
      await api.call("POST", "/v1/requests", {
        token: t.alice,
        body: { role: "debug", hosts, reason: "INC-1", publicKey: publicKey() },
      })
    ).body;
  pending = await ask(["web-1"]);
  const i = await ask(["web-1"]);
  issued = (await api.call("POST", `/v1/requests/${i.id}/approve`, { token: t.bob, body: { digest: i.digest } })).body;
  expect(issued.serial).toMatch(/^\d+$/);
});
afterAll(() => api?.daemon.stop());

describe("a host credential anywhere but /v1/host/ is refused (403) and changes nothing", () => {
  const cases: { name: string; method: "GET" | "POST"; path: () => string; body?: () => unknown }[] = [
    {
      name: "request access",
      method: "POST",
      path: () => "/v1/requests",
      body: () => ({ role: "debug", hosts: ["web-1"], reason: "x", publicKey: publicKey() }),
    },
    {
      name: "approve",
      method: "POST",
      path: () => `/v1/requests/${pending.id}/approve`,
      body: () => ({ digest: pending.digest }),
    },
    { name: "deny", method: "POST", path: () => `/v1/requests/${pending.id}/deny`, body: () => ({ reason: "no" }) },
    { name: "cancel", method: "POST", path: () => `/v1/requests/${pending.id}/cancel`, body: () => ({}) },
    {
      name: "override a scan",
      method: "POST",
      path: () => `/v1/requests/${pending.id}/override`,
      body: () => ({ digest: pending.digest, reason: "x" }),
    },
    { name: "relinquish", method: "POST", path: () => `/v1/requests/${issued.id}/relinquish`, body: () => ({}) },
    {
      name: "revoke",
      method: "POST",
      path: () => "/v1/revocations",
      body: () => ({ serial: issued.serial, reason: "x" }),
    },
    { name: "list requests", method: "GET", path: () => "/v1/requests" },
    { name: "read a request", method: "GET", path: () => `/v1/requests/${issued.id}` },
    { name: "a request's timeline", method: "GET", path: () => `/v1/requests/${issued.id}/timeline` },
    { name: "a requester's windows", method: "GET", path: () => `/v1/requests/${issued.id}/windows` },
    { name: "the audit trail", method: "GET", path: () => "/v1/audit?host=web-1" },
    { name: "audit verify", method: "GET", path: () => "/v1/audit/verify" },
    { name: "a request's report", method: "GET", path: () => `/v1/reports/requests/${issued.id}` },
    { name: "the summary of reports", method: "GET", path: () => "/v1/reports?since=7d" },
    { name: "scans", method: "GET", path: () => "/v1/scans?host=web-1" },
    { name: "a manual scan", method: "POST", path: () => "/v1/scans", body: () => ({ host: "web-1" }) },
    { name: "whoami", method: "GET", path: () => "/v1/whoami" },
    { name: "the user principals view", method: "GET", path: () => "/v1/principals?host=web-1" },
    { name: "the event stream", method: "GET", path: () => "/v1/events" },
    { name: "sign-in keys", method: "GET", path: () => "/v1/keys" },
    {
      name: "registering a sign-in key",
      method: "POST",
      path: () => "/v1/keys/challenge",
      body: () => ({ publicKey: publicKey() }),
    },
    { name: "second factors", method: "GET", path: () => "/v1/factors" },
    { name: "enrolling a second factor", method: "POST", path: () => "/v1/factors/totp", body: () => ({}) },
    { name: "a console sign-in link", method: "POST", path: () => "/v1/console/links", body: () => ({}) },
    { name: "the console session", method: "GET", path: () => "/v1/console/session" },
    {
      name: "logout (revoking itself as a user would)",
      method: "POST",
      path: () => "/v1/auth/logout",
      body: () => ({}),
    },
  ];

  test.each(cases)("fail/$name", async (c) => {
    const before = api.snapshot();
    const r = await api.call(c.method, c.path(), { token: web1, ...(c.body ? { body: c.body() } : {}) });
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe("forbidden");
    expect(r.body.error.message).toMatch(/host credential works only/);
    // Not even a failed sign-in record: the state and the audit log are as they were.
    expect(api.snapshot()).toEqual(before);
  });

  test("fail/as the console's session cookie", async () => {
    const before = api.snapshot();
    const r = await api.call("GET", "/v1/requests", { headers: { cookie: `__Host-sshca-console=${web1}` } });
    expect(r.status).toBe(403);
    expect(api.snapshot()).toEqual(before);
  });
});

describe("/v1/host/ takes host credentials only, each for its own host", () => {
  test("ok/the host learns who it is, its own principals files, and the KRL", async () => {
    const who = await api.call("GET", "/v1/host/whoami", { token: web1 });
    expect(who.status).toBe(200);
    expect(who.body).toEqual({ host: "web-1", credentialId: parseToken(web1)!.id });
    const p = await api.call("GET", "/v1/host/principals", { token: web1 });
    expect(p.body).toEqual({ host: "web-1", principals: { [LOGIN]: [`${LOGIN}@web-1`] } });
    const krl = await fetch(`${api.url}/v1/host/krl`, { headers: { authorization: `Bearer ${web1}` } });
    expect(krl.status).toBe(200);
    expect(isKrl(Buffer.from(await krl.arrayBuffer()))).toBe(true);
  });

  test("ok/another host's credential gets that host's files, never web-1's", async () => {
    const db1 = (await createHostCredential(deps, "db-1", 86400, "test")).token;
    const p = await api.call("GET", "/v1/host/principals", { token: db1 });
    expect(p.body).toEqual({ host: "db-1", principals: { [LOGIN]: [`${LOGIN}@db-1`] } });
  });

  test.each(["alice", "eve", "root"])("fail/a person's token (%s) on /v1/host/ is 403", async (who) => {
    const r = await api.call("GET", "/v1/host/principals", { token: t[who]! });
    expect(r.status).toBe(403);
    expect(r.body.error.message).toMatch(/only a host credential/);
  });

  test("fail/no credential, a malformed one, or a wrong secret is 401", async () => {
    expect((await api.call("GET", "/v1/host/principals")).status).toBe(401);
    expect((await api.call("GET", "/v1/host/principals", { token: "sshca_nope" })).status).toBe(401);
    const wrong = web1.replace(/.$/, (c) => (c === "A" ? "B" : "A"));
    expect((await api.call("GET", "/v1/host/principals", { token: wrong })).status).toBe(401);
  });

  test("fail/a revoked host credential is refused at once", async () => {
    const c = await createHostCredential(deps, "web-2", 86400, "test");
    expect((await api.call("GET", "/v1/host/whoami", { token: c.token })).status).toBe(200);
    await revokeHostCredential(deps, c.credentialId, "test");
    const r = await api.call("GET", "/v1/host/whoami", { token: c.token });
    expect(r.status).toBe(401);
    expect(r.body.error.message).toBe("this host credential was revoked");
  });

  test("fail/an expired host credential", async () => {
    const c = await createHostCredential(deps, "web-2", 3600, "test");
    clock += 2 * 3600_000;
    const r = await api.call("GET", "/v1/host/whoami", { token: c.token });
    expect(r.status).toBe(401);
    expect(r.body.error.message).toBe("this host credential has expired");
  });

  test("fail/credentials for hosts outside the inventory are never made", async () => {
    await expect(createHostCredential(deps, "nope-1", 86400, "test")).rejects.toThrow(/no host nope-1/);
    await expect(createHostCredential(deps, "web-1", 10, "test")).rejects.toThrow(/between 1 minute and 5 years/);
  });
});
