import { generateKeyPairSync, randomBytes } from "node:crypto";
import pino from "pino";
import sshpk from "sshpk";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createHostCredential, revokeHostCredential } from "../../src/admin/host-credentials.js";
import { signingKey } from "../../src/ca/keyset.js";
import type { AdminDeps } from "../../src/admin/users.js";
import { parseConfig } from "../../src/config/load.js";
import { checkSilence, silentHosts } from "../../src/evidence/silence.js";
import type { HostSessionEventBody } from "../../src/http/contract.js";
import { auditRecords } from "../helpers/audit-files.js";
import { type InProc, startInProc } from "../helpers/inproc.js";
import { e2eConfig } from "../helpers/scenario.js";

/**
 * POST /v1/host/report: what a companion sends is recorded once per stream position, joined to
 * the request its serial was issued for; bad input is a 400 that changes nothing; a flood is 429;
 * a host that goes quiet is raised once, and its return is recorded.
 */
const publicKey = () => {
  const { publicKey: k } = generateKeyPairSync("ed25519");
  return sshpk.parseKey(k.export({ type: "spki", format: "pem" }), "pem").toString("ssh");
};
let clock = Date.now();
const now = () => new Date(clock);
let api: InProc;
let deps: AdminDeps;
let web1: string;
let caFingerprint: string;
let cert: { id: string; serial: string; keyId: string };
const STREAM = "abcdefghijklmnop";

const event = (seq: number, patch: Partial<HostSessionEventBody> = {}): HostSessionEventBody => ({
  seq,
  kind: "opened",
  at: new Date(clock).toISOString(),
  login: "root",
  from: "10.0.0.9",
  port: 40000 + seq,
  serial: cert.serial,
  keyId: cert.keyId,
  caFingerprint,
  ...patch,
});
const report = (body: unknown, token = web1) => api.call("POST", "/v1/host/report", { token, body });
const records = (type: string) => auditRecords(api.daemon.core.paths.dataDir).filter((r) => r.type === type);

beforeAll(async () => {
  const extra = { scanning: { enabled: false }, limits: { hostReportsPerMinute: 40 } };
  api = await startInProc(e2eConfig({ extra }), { now });
  const { core } = api.daemon;
  deps = { config: () => core.config, storage: core.storage, now, random: randomBytes, access: api.daemon.access };
  caFingerprint = signingKey(core.cas.user.set).fingerprint;
  const alice = await api.token("alice", ["dev"]);
  const bob = await api.token("bob", ["sre"]);
  web1 = (await createHostCredential(deps, "web-1", 86400 * 30, "test")).token;
  const asked = (
    await api.call("POST", "/v1/requests", {
      token: alice,
      body: { role: "debug", hosts: ["web-1"], reason: "INC-9", publicKey: publicKey() },
    })
  ).body;
  const issued = (
    await api.call("POST", `/v1/requests/${asked.id}/approve`, { token: bob, body: { digest: asked.digest } })
  ).body;
  cert = { id: issued.id, serial: issued.serial, keyId: issued.keyId };
});
afterAll(() => api?.daemon.stop());

describe("recording what a host reports", () => {
  test("ok/a login is recorded once, joined to its request; sent again it is not recorded twice", async () => {
    const first = await report({ stream: STREAM, events: [event(1)] });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ host: "web-1", through: 1 });
    const opened = records("session.opened");
    expect(opened).toHaveLength(1);
    expect(opened[0]!.fields).toMatchObject({
      host: "web-1",
      request: cert.id,
      requester: "alice",
      serial: cert.serial,
    });
    expect(records("finding.raised")).toEqual([]);
    const head = api.snapshot().auditSeq;
    const again = await report({ stream: STREAM, events: [event(1)] });
    expect(again.body).toEqual({ host: "web-1", through: 1 });
    expect(api.snapshot().auditSeq).toBe(head);
  });

  test("ok/a heartbeat records nothing; a new stream (the companion's state was reset) starts over", async () => {
    const head = api.snapshot().auditSeq;
    expect((await report({ stream: STREAM, events: [] })).body.through).toBe(1);
    expect(api.snapshot().auditSeq).toBe(head);
    const fresh = await report({ stream: "qrstuvwxyzabcdef", events: [event(1, { kind: "closed" })] });
    expect(fresh.body.through).toBe(1);
    expect(records("session.closed")).toHaveLength(1);
  });

  const bad: { name: string; body: () => unknown; message: RegExp }[] = [
    {
      name: "events out of order",
      body: () => ({ stream: STREAM, events: [event(9), event(8)] }),
      message: /increasing/,
    },
    {
      name: "an unknown field",
      body: () => ({ stream: STREAM, events: [{ ...event(5), user: "x" }] }),
      message: /user/,
    },
    {
      name: "a serial beyond 64 bits",
      body: () => ({ stream: STREAM, events: [event(5, { serial: "18446744073709551616" })] }),
      message: /64-bit/,
    },
    {
      name: "a login with a space",
      body: () => ({ stream: STREAM, events: [event(5, { login: "a b" })] }),
      message: /login/,
    },
    {
      name: "an address that is not one",
      body: () => ({ stream: STREAM, events: [event(5, { from: "evil.example" })] }),
      message: /from/,
    },
    {
      name: "a key id with a newline",
      body: () => ({ stream: STREAM, events: [event(5, { keyId: "a\nb" })] }),
      message: /keyId/,
    },
    {
      name: "26 events at once",
      body: () => ({ stream: STREAM, events: Array.from({ length: 26 }, (_, i) => event(i + 5)) }),
      message: /events/,
    },
    { name: "a malformed stream id", body: () => ({ stream: "../../x", events: [] }), message: /stream/ },
    { name: "no JSON object", body: () => [1, 2], message: /report/ },
  ];
  test.each(bad)("fail/$name is a 400 that changes nothing", async (c) => {
    const before = api.snapshot();
    const r = await report(c.body());
    expect(r.status).toBe(400);
    expect(r.body.error.message).toMatch(c.message);
    expect(api.snapshot()).toEqual(before);
  });
});

describe("a host that stops reporting", () => {
  test("ok/raised once after evidence.silentAfter (by the daemon's own timer), and its return is recorded", async () => {
    expect((await report({ stream: STREAM, events: [] })).status).toBe(200);
    clock += 6 * 60_000;
    const until = Date.now() + 15_000;
    while (!records("finding.raised").some((r) => r.fields.finding === "host_silent")) {
      if (Date.now() > until) throw new Error("no host_silent finding");
      await new Promise((r) => setTimeout(r, 100));
    }
    const silent = records("finding.raised").find((r) => r.fields.finding === "host_silent")!;
    expect(silent.fields).toMatchObject({ host: "web-1" });
    expect(silent.fields.detail).toMatch(/has not reported since/);
    // Once: asking again (another replica, the next tick) raises nothing more.
    const { core } = api.daemon;
    const log = pino({ level: "silent" });
    clock += 60_000;
    expect(await checkSilence({ storage: core.storage, config: () => core.config, now, log })).toEqual([]);
    expect(records("finding.raised").filter((r) => r.fields.finding === "host_silent")).toHaveLength(1);
    await report({ stream: STREAM, events: [] });
    expect(records("host.reporting_resumed").map((r) => r.fields.host)).toEqual(["web-1"]);
    expect(core.storage.state.hostReports["web-1"]!.silentSince).toBeUndefined();
  });

  test("ok/only hosts that reported before, still in the inventory, with a live credential", async () => {
    const config = parseConfig(e2eConfig(), "t");
    const at = new Date("2026-03-01T12:00:00Z");
    const long = "2026-03-01T11:50:00Z";
    const token = (host: string, revokedAt?: string) => ({
      user: `host:${host}`,
      kind: "host" as const,
      host,
      hash: "",
      createdAt: long,
      expiresAt: "2027-01-01T00:00:00Z",
      ...(revokedAt ? { revokedAt } : {}),
    });
    const state = {
      tokens: { a: token("web-1"), b: token("web-2", long), c: token("gone-1") },
      hostReports: {
        "web-1": { stream: STREAM, through: 0, lastSeenAt: long },
        "web-2": { stream: STREAM, through: 0, lastSeenAt: long },
        "gone-1": { stream: STREAM, through: 0, lastSeenAt: long },
        "db-1": { stream: STREAM, through: 0, lastSeenAt: "2026-03-01T11:58:00Z" },
      },
    };
    expect(silentHosts(state, config, at)).toEqual(["web-1"]);
  });

  test("fail/a flood of reports from one host is 429 with Retry-After; a revoked credential is 401", async () => {
    const c = await createHostCredential(deps, "web-2", 86400, "test");
    let last = 200;
    for (let i = 0; i < 45 && last === 200; i++) last = (await report({ stream: STREAM, events: [] }, c.token)).status;
    expect(last).toBe(429);
    const r = await report({ stream: STREAM, events: [] }, c.token);
    expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
    await revokeHostCredential(deps, c.credentialId, "test");
    expect((await report({ stream: STREAM, events: [] }, c.token)).status).toBe(401);
  });
});
