import { generateKeyPairSync } from "node:crypto";
import sshpk from "sshpk";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { revokeToken } from "../../src/admin/users.js";
import { parseConfig } from "../../src/config/load.js";
import { type InProc, startInProc } from "../helpers/inproc.js";
import { e2eConfig } from "../helpers/scenario.js";
import { parseToken } from "../../src/auth/tokens.js";

const publicKey = () => {
  const { publicKey: k } = generateKeyPairSync("ed25519");
  return sshpk.parseKey(k.export({ type: "spki", format: "pem" }), "pem").toString("ssh");
};
let clock = Date.now();
const now = () => new Date(clock);
let api: InProc;
const t: Record<string, string> = {};
let pending: { id: string; digest: string };
let issued: { id: string; serial: string };
let twoStep: { id: string; digest: string };

const ask = async (role: string, hosts: string[]) =>
  (
    await api.call("POST", "/v1/requests", {
      token: t.alice,
      body: { role, hosts, reason: "INC-1", publicKey: publicKey() },
    })
  ).body;

beforeAll(async () => {
  // No scanning here: background scan results would change the state under the "changes nothing" checks.
  const extra = { limits: { requestsPerMinute: 1000, failedAuthPerMinute: 1000 }, scanning: { enabled: false } };
  api = await startInProc(e2eConfig({ extra }), { now });
  for (const [user, group] of [
    ["alice", "dev"],
    ["bob", "sre"],
    ["carol", "dev"],
    ["dave", "leads"],
    ["eve", "auditors"],
    ["root", "admins"],
  ] as const) {
    t[user] = await api.token(user, [group]);
  }
  pending = await ask("debug", ["web-1"]);
  const i = await ask("debug", ["web-2"]);
  issued = (await api.call("POST", `/v1/requests/${i.id}/approve`, { token: t.bob, body: { digest: i.digest } })).body;
  twoStep = await ask("critical", ["db-1"]);
  expect(
    (await api.call("POST", `/v1/requests/${twoStep.id}/approve`, { token: t.bob, body: { digest: twoStep.digest } }))
      .status,
  ).toBe(200);
});
afterAll(() => api?.daemon.stop());

describe("who may do what", () => {
  const cases: {
    name: string;
    as: string;
    method?: string;
    path: () => string;
    body?: () => unknown;
    status: number;
    message?: RegExp;
  }[] = [
    {
      name: "fail/approving one's own request",
      as: "alice",
      path: () => `/v1/requests/${pending.id}/approve`,
      body: () => ({ digest: pending.digest }),
      status: 403,
      message: /your own request/,
    },
    {
      name: "fail/approving as a non-approver who can see it (auditor)",
      as: "eve",
      path: () => `/v1/requests/${pending.id}/approve`,
      body: () => ({ digest: pending.digest }),
      status: 403,
      message: /eve is not an approver for role debug/,
    },
    {
      name: "fail/approving as someone who cannot even see it",
      as: "carol",
      path: () => `/v1/requests/${pending.id}/approve`,
      body: () => ({ digest: pending.digest }),
      status: 404,
      message: /no request/,
    },
    {
      name: "fail/approving a stale digest",
      as: "bob",
      path: () => `/v1/requests/${pending.id}/approve`,
      body: () => ({ digest: `sha256:${"a".repeat(64)}` }),
      status: 409,
      message: /digest mismatch/,
    },
    {
      name: "fail/replaying an approval",
      as: "bob",
      path: () => `/v1/requests/${twoStep.id}/approve`,
      body: () => ({ digest: twoStep.digest }),
      status: 409,
      message: /bob already approved/,
    },
    {
      name: "fail/reading another user's request",
      as: "carol",
      method: "GET",
      path: () => `/v1/requests/${issued.id}`,
      status: 404,
      message: /no request/,
    },
    {
      name: "fail/principals chosen by the client",
      as: "alice",
      path: () => "/v1/requests",
      body: () => ({ role: "debug", hosts: ["web-1"], reason: "x", publicKey: publicKey(), principals: ["root"] }),
      status: 400,
      message: /Unrecognized key: "principals"/,
    },
    {
      name: "fail/a host outside the role",
      as: "alice",
      path: () => "/v1/requests",
      body: () => ({ role: "debug", hosts: ["db-1"], reason: "x", publicKey: publicKey() }),
      status: 400,
      message: /not allowed for role debug/,
    },
    {
      name: "fail/a TTL over the role maximum",
      as: "alice",
      path: () => "/v1/requests",
      body: () => ({ role: "debug", hosts: ["web-1"], ttl: "25h", reason: "x", publicKey: publicKey() }),
      status: 400,
      message: /exceeds the maximum/,
    },
    {
      name: "fail/a role the user may not request",
      as: "bob",
      path: () => "/v1/requests",
      body: () => ({ role: "debug", hosts: ["web-1"], reason: "x", publicKey: publicKey() }),
      status: 403,
      message: /bob may not request role debug/,
    },
    {
      name: "fail/the audit trail as a requester",
      as: "alice",
      method: "GET",
      path: () => "/v1/audit",
      status: 403,
      message: /auditors and admins/,
    },
    {
      name: "fail/a manual scan as a requester",
      as: "alice",
      path: () => "/v1/scans",
      body: () => ({ host: "web-1" }),
      status: 403,
      message: /only approvers/,
    },
    {
      name: "fail/revoking as the requester",
      as: "alice",
      path: () => "/v1/revocations",
      body: () => ({ request: issued.id, reason: "x" }),
      status: 403,
      message: /may not revoke/,
    },
    {
      name: "fail/relinquishing someone else's access",
      as: "bob",
      path: () => `/v1/requests/${issued.id}/relinquish`,
      body: () => ({}),
      status: 403,
      message: /only the requester/,
    },
    {
      name: "fail/overriding a scan of one's own request",
      as: "alice",
      path: () => `/v1/requests/${pending.id}/override`,
      body: () => ({ digest: pending.digest, reason: "x" }),
      status: 409,
      message: /not blocked|nothing to override/,
    },
    {
      name: "fail/cancelling someone else's request",
      as: "carol",
      path: () => `/v1/requests/${pending.id}/cancel`,
      body: () => ({}),
      status: 404,
      message: /no request/,
    },
  ];

  test.each(cases)("$name", async (c) => {
    const before = api.snapshot().state;
    const r = await api.call(c.method ?? "POST", c.path(), { token: t[c.as]!, ...(c.body ? { body: c.body() } : {}) });
    expect(r.status).toBe(c.status);
    if (c.message) expect(r.body.error.message).toMatch(c.message);
    expect(api.snapshot().state).toBe(before);
  });

  test("ok/an approver sees an issued request but never its certificate; the requester does", async () => {
    const asBob = await api.call("GET", `/v1/requests/${issued.id}`, { token: t.bob });
    expect(asBob.status).toBe(200);
    expect(asBob.body.serial).toBe(issued.serial);
    expect(asBob.body.certificate).toBeUndefined();
    const asAlice = await api.call("GET", `/v1/requests/${issued.id}`, { token: t.alice });
    expect(asAlice.body.certificate).toMatch(/^ssh-ed25519-cert-v01@openssh.com /);
    const listed = await api.call("GET", "/v1/requests", { token: t.alice });
    expect(listed.body.requests.every((r: { certificate?: string }) => r.certificate === undefined)).toBe(true);
  });

  test("fail/a revoked token", async () => {
    const token = await api.token("frank", ["dev"]);
    const { core } = api.daemon;
    await revokeToken(
      {
        config: () => core.config,
        storage: core.storage,
        now,
        random: () => Buffer.alloc(0),
        access: api.daemon.access,
      },
      parseToken(token)!.id,
      "test",
    );
    const r = await api.call("GET", "/v1/whoami", { token });
    expect(r.status).toBe(401);
    expect(r.body.error.message).toBe("this API token was revoked");
  });

  test("fail/an expired token", async () => {
    const token = await api.token("grace", ["dev"]);
    expect((await api.call("GET", "/v1/whoami", { token })).status).toBe(200);
    clock += 91 * 86400_000; // auth.tokenTtl is 90d
    const r = await api.call("GET", "/v1/whoami", { token });
    expect(r.status).toBe(401);
    expect(r.body.error.message).toBe("this API token has expired");
  });
});

describe("principals that could be abused are refused at config load", () => {
  test.each([",", "*", " ", "\n", "\u0000", "-"])("%j", (bad) => {
    const cfg = e2eConfig() as any;
    cfg.roles.debug.principals = [bad === "-" ? "-oProxyCommand=x" : `ro${bad}ot`];
    expect(() => parseConfig(cfg, "t")).toThrow(/roles\.debug\.principals\.0: login names must match/);
  });
});
