import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import sshpk from "sshpk";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ROOT } from "../helpers/daemon.js";
import { type InProc, startInProc } from "../helpers/inproc.js";
import { e2eConfig } from "../helpers/scenario.js";

const sshLine = (type: "ed25519" | "rsa", bits?: number) => {
  const { publicKey } =
    type === "rsa" ? generateKeyPairSync("rsa", { modulusLength: bits ?? 2048 }) : generateKeyPairSync("ed25519");
  return sshpk.parseKey(publicKey.export({ type: "spki", format: "pem" }), "pem").toString("ssh");
};
const ED = sshLine("ed25519");
const DSA = readFileSync(join(ROOT, "test", "fixtures", "dsa_key.pub"), "utf8").trim();
const ok = { role: "debug", hosts: ["web-1"], reason: "INC-9", publicKey: ED };

let api: InProc;
let alice: string;
let bob: string;

beforeAll(async () => {
  // Generous limits: this table sends many requests as one user from one address on purpose.
  // No scanning: background scan results would change the state under the "changes nothing" checks.
  const extra = { limits: { requestsPerMinute: 1000, failedAuthPerMinute: 1000 }, scanning: { enabled: false } };
  api = await startInProc(e2eConfig({ extra }));
  alice = await api.token("alice", ["dev"]);
  bob = await api.token("bob", ["sre"]);
});
afterAll(() => api?.daemon.stop());

describe("POST /v1/requests refuses bad input with a clear 4xx and changes nothing", () => {
  const cases: {
    name: string;
    body?: unknown;
    raw?: string;
    type?: string;
    status: number;
    message: RegExp;
  }[] = [
    {
      name: "fail/unparsable key",
      body: { ...ok, publicKey: "ssh-ed25519 AAAAnotakey" },
      status: 400,
      message: /not an OpenSSH public key/,
    },
    {
      name: "fail/DSA key",
      body: { ...ok, publicKey: DSA },
      status: 400,
      message: /DSA keys are not accepted/,
    },
    {
      name: "fail/RSA 1024",
      body: { ...ok, publicKey: sshLine("rsa", 1024) },
      status: 400,
      message: /at least 2048 bits \(this one has 1024\)/,
    },
    {
      name: "fail/certificate instead of key",
      body: { ...ok, publicKey: `ssh-ed25519-cert-v01@openssh.com AAAA` },
      status: 400,
      message: /is a certificate/,
    },
    {
      name: "fail/two lines of key",
      body: { ...ok, publicKey: `${ED}\n${ED}` },
      status: 400,
      message: /single line/,
    },
    {
      name: "fail/malformed ttl",
      body: { ...ok, ttl: "ten minutes" },
      status: 400,
      message: /not a duration/,
    },
    {
      name: "fail/ttl over role max",
      body: { ...ok, ttl: "2h" },
      status: 400,
      message: /exceeds the maximum of role debug \(1h\)/,
    },
    { name: "fail/ttl zero", body: { ...ok, ttl: 0 }, status: 400, message: /at least/ },
    { name: "fail/negative ttl", body: { ...ok, ttl: -5 }, status: 400, message: /ttl/ },
    {
      name: "fail/unknown role",
      body: { ...ok, role: "root-everything" },
      status: 400,
      message: /unknown role "root-everything"/,
    },
    {
      name: "fail/host outside role",
      body: { ...ok, hosts: ["db-1"] },
      status: 400,
      message: /db-1 not allowed for role debug/,
    },
    {
      name: "fail/host not in inventory",
      body: { ...ok, hosts: ["evil;rm"] },
      status: 400,
      message: /not allowed for role debug/,
    },
    {
      name: "fail/no hosts",
      body: { ...ok, hosts: [] },
      status: 400,
      message: /at least one host/,
    },
    {
      name: "fail/empty reason",
      body: { ...ok, reason: "   " },
      status: 400,
      message: /reason is required/,
    },
    {
      name: "fail/missing reason",
      body: { role: "debug", hosts: ["web-1"], publicKey: ED },
      status: 400,
      message: /reason/,
    },
    {
      name: "fail/newline in reason",
      body: { ...ok, reason: "a\nb" },
      status: 400,
      message: /one line/,
    },
    {
      name: "fail/principals from the client",
      body: { ...ok, principals: ["root"] },
      status: 400,
      message: /Unrecognized key: "principals"/,
    },
    { name: "fail/wrong types", body: { ...ok, hosts: "web-1" }, status: 400, message: /hosts/ },
    { name: "fail/array body", body: [ok], status: 400, message: /invalid request/ },
    {
      name: "fail/oversized body",
      body: { ...ok, reason: "x".repeat(20_000) },
      status: 413,
      message: /too large/,
    },
    {
      name: "fail/not JSON",
      raw: "role=debug",
      type: "application/x-www-form-urlencoded",
      status: 415,
      message: /must be JSON/,
    },
    { name: "fail/broken JSON", raw: '{"role": ', status: 400, message: /not valid JSON/ },
  ];

  test.each(cases)("$name", async (c) => {
    const before = api.snapshot();
    const r = await api.call("POST", "/v1/requests", {
      token: alice,
      ...(c.raw !== undefined ? { raw: c.raw } : { body: c.body }),
      ...(c.type ? { type: c.type } : {}),
    });
    expect(r.status).toBe(c.status);
    expect(r.body.error.message).toMatch(c.message);
    expect(JSON.stringify(r.body)).not.toMatch(/at .*\.js:\d+|stack/i);
    expect(api.snapshot()).toEqual(before);
  });

  test("ok/the same body without the fault is accepted (the table above is not vacuous)", async () => {
    const r = await api.call("POST", "/v1/requests", { token: alice, body: ok });
    expect(r.status).toBe(201);
    expect(r.body.principals).toEqual([`${(e2eConfig() as any).roles.debug.principals[0]}@web-1`]);
    const rsa = await api.call("POST", "/v1/requests", {
      token: alice,
      body: { ...ok, publicKey: sshLine("rsa", 2048) },
    });
    expect(rsa.status).toBe(201);
  });
});

describe("other endpoints", () => {
  test.each([
    {
      name: "fail/no token",
      path: "/v1/whoami",
      token: undefined,
      status: 401,
      message: /missing API token/,
    },
    {
      name: "fail/garbage token",
      path: "/v1/whoami",
      token: "nope",
      status: 401,
      message: /malformed API token/,
    },
    {
      name: "fail/unknown token",
      path: "/v1/whoami",
      token: `sshca_${"a".repeat(16)}_${"A".repeat(43)}`,
      status: 401,
      message: /invalid API token/,
    },
    {
      name: "fail/malformed request id",
      path: "/v1/requests/../../etc",
      token: "alice",
      status: 404,
      message: /no such endpoint/,
    },
    {
      name: "fail/bad request id",
      path: "/v1/requests/rq_XYZ",
      token: "alice",
      status: 400,
      message: /malformed request id/,
    },
    {
      name: "fail/unknown request",
      path: `/v1/requests/rq_${"a".repeat(16)}`,
      token: "alice",
      status: 404,
      message: /no request/,
    },
    {
      name: "fail/unknown host",
      path: "/v1/principals?host=nope",
      token: "alice",
      status: 404,
      message: /no host nope/,
    },
    {
      name: "fail/unknown query field",
      path: "/v1/requests?evil=1",
      token: "alice",
      status: 400,
      message: /Unrecognized key/,
    },
  ])("$name", async (c) => {
    const before = api.snapshot();
    const token = c.token === "alice" ? alice : c.token;
    const r = await api.call("GET", c.path, token ? { token } : {});
    expect(r.status).toBe(c.status);
    expect(r.body.error.message).toMatch(c.message);
    expect(api.snapshot().state).toBe(before.state);
  });

  test("approve refuses a malformed digest (400) and a stale one (409), changing nothing", async () => {
    const created = await api.call("POST", "/v1/requests", { token: alice, body: ok });
    const id = created.body.id as string;
    const before = api.snapshot();
    const bad = await api.call("POST", `/v1/requests/${id}/approve`, {
      token: bob,
      body: { digest: "abc" },
    });
    expect(bad.status).toBe(400);
    const stale = await api.call("POST", `/v1/requests/${id}/approve`, {
      token: bob,
      body: { digest: `sha256:${"0".repeat(64)}` },
    });
    expect(stale.status).toBe(409);
    expect(stale.body.error.message).toMatch(/digest mismatch/);
    const extra = await api.call("POST", `/v1/requests/${id}/approve`, {
      token: bob,
      body: { digest: created.body.digest, state: "issued" },
    });
    expect(extra.status).toBe(400);
    expect(api.snapshot()).toEqual(before);
    const good = await api.call("POST", `/v1/requests/${id}/approve`, {
      token: bob,
      body: { digest: created.body.digest },
    });
    expect(good.status).toBe(200);
    expect(good.body.state).toBe("issued");
  });
});

describe("errors never carry stack traces or request bodies, whatever NODE_ENV says", () => {
  test("NODE_ENV=development", async () => {
    const previous = process.env.NODE_ENV;
    process.env.NODE_ENV = "development";
    const dev = await startInProc(e2eConfig({ extra: { scanning: { enabled: false } } }));
    try {
      const token = await dev.token("alice", ["dev"]);
      const secretish = '{"reason": "hunter2-in-the-body", ';
      const r = await dev.call("POST", "/v1/requests", { token, raw: secretish });
      expect(r.status).toBe(400);
      expect(r.body).toEqual({ error: { code: "bad_request", message: "request body is not valid JSON" } });
      const big = await dev.call("POST", "/v1/requests", { token, body: { reason: "hunter2".repeat(5000) } });
      expect(JSON.stringify(big.body)).not.toContain("hunter2");
    } finally {
      process.env.NODE_ENV = previous;
      await dev.daemon.stop();
    }
  });
});
