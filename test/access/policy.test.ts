import { describe, expect, test } from "vitest";
import { decideAsk } from "../../src/access/policy.js";
import type { Identity } from "../../src/domain/request.js";
import { config } from "../helpers/config.js";

const cfg = config();
const alice: Identity = { user: "alice", groups: ["dev"] };
const bob: Identity = { user: "bob", groups: ["sre"] };
const base = { role: "debug", hosts: ["web-1"], reason: "INC-1 disk full" };

describe("decideAsk: who may ask for what", () => {
  test.each([
    {
      name: "ok/default ttl",
      who: alice,
      ask: base,
      want: { ttlSeconds: 900, principals: ["debug@web-1"] },
    },
    {
      name: "ok/explicit ttl text",
      who: alice,
      ask: { ...base, ttl: "30m" },
      want: { ttlSeconds: 1800 },
    },
    {
      name: "ok/ttl in seconds",
      who: alice,
      ask: { ...base, ttl: 3600 },
      want: { ttlSeconds: 3600 },
    },
    {
      name: "ok/hosts sorted and de-duplicated, principals scoped per host",
      who: alice,
      ask: { ...base, hosts: ["web-2", "web-1", "web-2"] },
      want: { hosts: ["web-1", "web-2"], principals: ["debug@web-1", "debug@web-2"] },
    },
    {
      name: "ok/options and extensions come from the role, sorted",
      who: alice,
      ask: { ...base, role: "dba", hosts: ["db-1"] },
      want: {
        principals: ["dba@db-1", "postgres@db-1"],
        extensions: ["permit-port-forwarding", "permit-pty"],
        criticalOptions: {
          "force-command": "/usr/bin/psql",
          "source-address": "10.0.0.0/8,192.168.1.1",
        },
        approvalsRequired: 2,
      },
    },
    {
      name: "ok/reason is trimmed",
      who: alice,
      ask: { ...base, reason: "  INC-2  " },
      want: { reason: "INC-2" },
    },
    {
      name: "ok/auto-approve role says so",
      who: alice,
      ask: { ...base, role: "auto" },
      want: { autoApprove: true },
    },
  ])("$name", ({ who, ask, want }) => {
    const d = decideAsk(cfg, who, ask);
    expect(d.ok, d.ok ? "" : d.reason).toBe(true);
    if (d.ok) expect(d.value).toMatchObject(want);
  });

  test.each([
    {
      name: "fail/unknown role",
      who: alice,
      ask: { ...base, role: "god" },
      code: "bad_request",
      reason: /unknown role "god" \(you may request: auto, dba, debug\)/,
    },
    {
      name: "fail/prototype key as role",
      who: alice,
      ask: { ...base, role: "__proto__" },
      code: "bad_request",
      reason: /unknown role/,
    },
    {
      name: "fail/not a requester",
      who: bob,
      ask: base,
      code: "forbidden",
      reason: /bob may not request role debug/,
    },
    {
      name: "fail/host outside role",
      who: alice,
      ask: { ...base, hosts: ["db-1"] },
      code: "bad_request",
      reason: /db-1 not allowed for role debug \(allowed: web-1, web-2\)/,
    },
    {
      name: "fail/no hosts",
      who: alice,
      ask: { ...base, hosts: [] },
      code: "bad_request",
      reason: /at least one host/,
    },
    {
      name: "fail/ttl over max",
      who: alice,
      ask: { ...base, ttl: "61m" },
      code: "bad_request",
      reason: /exceeds the maximum of role debug \(1h\)/,
    },
    {
      name: "fail/ttl malformed",
      who: alice,
      ask: { ...base, ttl: "1 hour" },
      code: "bad_request",
      reason: /not a duration/,
    },
    {
      name: "fail/ttl zero",
      who: alice,
      ask: { ...base, ttl: 0 },
      code: "bad_request",
      reason: /at least 1s/,
    },
    {
      name: "fail/ttl fractional",
      who: alice,
      ask: { ...base, ttl: 1.5 },
      code: "bad_request",
      reason: /not a duration/,
    },
    {
      name: "fail/empty reason",
      who: alice,
      ask: { ...base, reason: " " },
      code: "bad_request",
      reason: /reason is required/,
    },
    {
      name: "fail/control characters in reason",
      who: alice,
      ask: { ...base, reason: "a\u0000b" },
      code: "bad_request",
      reason: /printable/,
    },
    {
      name: "fail/overlong reason",
      who: alice,
      ask: { ...base, reason: "x".repeat(501) },
      code: "bad_request",
      reason: /longer than 500/,
    },
  ])("$name", ({ who, ask, code, reason }) => {
    const d = decideAsk(cfg, who, ask);
    expect(d.ok).toBe(false);
    if (!d.ok) {
      expect(d.code).toBe(code);
      expect(d.reason).toMatch(reason);
    }
  });
});
