import { generateKeyPairSync } from "node:crypto";
import sshpk from "sshpk";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type InProc, startInProc } from "../helpers/inproc.js";
import { e2eConfig, LOGIN } from "../helpers/scenario.js";

/**
 * Break-glass requests are reported until reviewed: the daemon's clock is the test's, so the
 * reminders (request.review_reminder, every breakGlass.remindEvery) and the live state's
 * retention can be watched without waiting hours. The sweep runs every second in real time.
 */
let clock = Date.now();
let api: InProc;
const t: Record<string, string> = {};

const publicKey = () =>
  sshpk
    .parseKey(generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" }), "pem")
    .toString("ssh");
const reminders = async (id: string) =>
  (await api.daemon.core.storage.audit.query({ request: id, types: ["request.review_reminder"] }, { limit: 100 }))
    .records;

beforeAll(async () => {
  const extra = { requests: { keepFinished: "1m" }, scanning: { enabled: false } };
  const roles = {
    emergency: {
      principals: [LOGIN],
      hosts: ["web-1"],
      requesters: ["dev"],
      approvers: ["sre"],
      breakGlass: { maxTtl: "10m", remindEvery: "1h" },
    },
  };
  api = await startInProc(e2eConfig({ roles, extra }), { now: () => new Date(clock) });
  t.alice = await api.token("alice", ["dev"]);
  t.bob = await api.token("bob", ["sre"]);
});
afterAll(async () => {
  await api?.daemon.stop();
});

test("an open review is reminded every remindEvery, keeps the request live past its retention, and stops once reviewed", async () => {
  const start = clock;
  const created = await api.call("POST", "/v1/requests", {
    token: t.alice!,
    body: { role: "emergency", hosts: ["web-1"], reason: "INC-1 outage", publicKey: publicKey(), breakGlass: true },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  expect(created.body).toMatchObject({ state: "issued", breakGlass: { review: { status: "open" } } });
  const id: string = created.body.id;
  expect(await reminders(id)).toEqual([]);

  clock = start + 61 * 60_000;
  await expect.poll(async () => (await reminders(id)).length, { timeout: 10_000 }).toBe(1);
  const [first] = await reminders(id);
  expect(first).toMatchObject({ actor: "sshcad", fields: { reason: "INC-1 outage", reviewers: ["bob"] } });

  // Listed as open; reminded again once another hour has passed since that reminder (the spacing
  // itself is table-tested in test/access/plan.test.ts).
  const open = await api.call("GET", "/v1/requests?review=open", { token: t.bob! });
  expect(open.body.requests.map((r: any) => r.id)).toEqual([id]);
  clock = start + 122 * 60_000;
  await expect.poll(async () => (await reminders(id)).length, { timeout: 10_000 }).toBe(2);

  // Long past validBefore + keepFinished, the unreviewed request is still live (and listed).
  expect((await api.call("GET", `/v1/requests/${id}`, { token: t.bob! })).status).toBe(200);

  const reviewed = await api.call("POST", `/v1/requests/${id}/review`, { token: t.bob!, body: { comment: "needed" } });
  expect(reviewed.status, JSON.stringify(reviewed.body)).toBe(200);
  expect((await api.call("GET", "/v1/requests?review=open", { token: t.bob! })).body.requests).toEqual([]);
  // Reviewed, it leaves the live state at the next sweep; no reminder follows.
  clock = start + 240 * 60_000;
  await expect
    .poll(async () => (await api.call("GET", `/v1/requests/${id}`, { token: t.bob! })).status, { timeout: 10_000 })
    .toBe(404);
  expect((await reminders(id)).length).toBe(2);
});

test("a review with bad input is a 400 and changes nothing", async () => {
  const created = await api.call("POST", "/v1/requests", {
    token: t.alice!,
    body: { role: "emergency", hosts: ["web-1"], reason: "INC-2", publicKey: publicKey(), breakGlass: true },
  });
  const before = api.snapshot();
  for (const body of [{}, { comment: "  " }, { comment: "x", extra: 1 }, { comment: "x".repeat(501) }]) {
    const r = await api.call("POST", `/v1/requests/${created.body.id}/review`, { token: t.bob!, body });
    expect(r.status, JSON.stringify(body)).toBe(400);
  }
  expect(api.snapshot().auditSeq).toBe(before.auditSeq);
});
