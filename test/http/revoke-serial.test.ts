import { generateKeyPairSync } from "node:crypto";
import sshpk from "sshpk";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type InProc, startInProc } from "../helpers/inproc.js";
import { e2eConfig } from "../helpers/scenario.js";

/**
 * POST /v1/revocations {serial}: whoever may not revoke a certificate (and so may or may not
 * even see its request) gets exactly the answer an unknown serial gets: nothing tells them the
 * serial exists, which request it belongs to, or whose it is.
 */
let api: InProc;
const t: Record<string, string> = {};
let debug: { id: string; serial: string }; // alice's, role debug (approvers: sre, leads)
let short: { id: string; serial: string }; // alice's, role short (approvers: sre)
const UNKNOWN = "9007199254740993";

async function issued(role: string): Promise<{ id: string; serial: string }> {
  const publicKey = sshpk
    .parseKey(generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" }), "pem")
    .toString("ssh");
  const created = await api.call("POST", "/v1/requests", {
    token: t.alice!,
    body: { role, hosts: ["web-1"], reason: "x", publicKey },
  });
  const approved = await api.call("POST", `/v1/requests/${created.body.id}/approve`, {
    token: t.bob!,
    body: { digest: created.body.digest },
  });
  expect(approved.body.state).toBe("issued");
  return { id: approved.body.id, serial: approved.body.serial };
}

const revoke = (as: string, serial: string) =>
  api.call("POST", "/v1/revocations", { token: t[as]!, body: { serial, reason: "lost laptop" } });

/** The answer with the serial asked about taken out, so answers for different serials compare. */
const shape = (r: { status: number; body: unknown }, serial: string) => ({
  status: r.status,
  body: JSON.stringify(r.body).replaceAll(serial, "<serial>"),
});

beforeAll(async () => {
  const extra = { limits: { requestsPerMinute: 1000, failedAuthPerMinute: 1000 }, scanning: { enabled: false } };
  api = await startInProc(e2eConfig({ extra }));
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
  debug = await issued("debug");
  short = await issued("short");
});
afterAll(() => api?.daemon.stop());

describe("revoking by serial without the right to revoke looks exactly like an unknown serial", () => {
  const cases = [
    { name: "fail/another requester, who cannot see the request", as: "carol", cert: () => debug },
    { name: "fail/an approver of another role, who cannot see it", as: "dave", cert: () => short },
    { name: "fail/the requester herself (sees it, may not revoke)", as: "alice", cert: () => debug },
    { name: "fail/an auditor (sees it, may not revoke)", as: "eve", cert: () => debug },
  ];

  test.each(cases)("$name", async (c) => {
    const before = api.snapshot();
    const unknown = await revoke(c.as, UNKNOWN);
    expect(unknown.status).toBe(404);
    const known = await revoke(c.as, c.cert().serial);
    expect(shape(known, c.cert().serial)).toEqual(shape(unknown, UNKNOWN));
    expect(JSON.stringify(known.body)).not.toMatch(/rq_|alice|debug|short/);
    expect(api.snapshot()).toEqual(before);
  });

  test("ok/an approver of the role revokes by serial; afterwards outsiders still learn nothing", async () => {
    const ok = await revoke("dave", debug.serial);
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body).toMatchObject({ id: debug.id, state: "revoked" });
    // Already revoked: the approver is told so, an outsider gets the unknown-serial answer.
    const again = await revoke("bob", debug.serial);
    expect(again.status).toBe(409);
    expect(again.body.error.message).toMatch(/already revoked by dave/);
    expect(shape(await revoke("carol", debug.serial), debug.serial)).toEqual(
      shape(await revoke("carol", UNKNOWN), UNKNOWN),
    );
  });

  test("ok/an admin revokes any certificate by serial", async () => {
    const ok = await revoke("root", short.serial);
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.state).toBe("revoked");
  });
});
