import { generateKeyPairSync } from "node:crypto";
import sshpk from "sshpk";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type InProc, startInProc } from "../helpers/inproc.js";
import { e2eConfig, LOGIN } from "../helpers/scenario.js";

/**
 * The approval-policy inputs at the edge: every malformed field is a 400 naming it and changes
 * nothing (the state file and the audit head stay as they were); who may see and resolve a
 * host's drift.
 */
let api: InProc;
const t: Record<string, string> = {};
const publicKey = sshpk
  .parseKey(generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" }), "pem")
  .toString("ssh");

beforeAll(async () => {
  const roles = {
    glass: {
      principals: [LOGIN],
      hosts: ["web-1"],
      requesters: ["dev"],
      approvers: ["sre"],
      breakGlass: {},
    },
  };
  api = await startInProc(e2eConfig({ roles, extra: { scanning: { enabled: false } } }));
  t.alice = await api.token("alice", ["dev"]);
  t.bob = await api.token("bob", ["sre"]);
  t.audrey = await api.token("audrey", ["auditors"]);
  t.dave = await api.token("dave", ["leads"]);
});
afterAll(async () => {
  await api?.daemon.stop();
});

const ask = { role: "debug", hosts: ["web-1"], reason: "INC-1", publicKey };

test.each([
  {
    name: "start without a zone",
    body: { ...ask, start: "2026-01-05T10:00" },
    want: /start "2026-01-05T10:00" is not a time with a zone/,
  },
  { name: "start that is no time", body: { ...ask, start: "tomorrow" }, want: /is not a time with a zone/ },
  { name: "start as a number", body: { ...ask, start: 1767600000 }, want: /invalid request: start: / },
  { name: "start too long", body: { ...ask, start: "2".repeat(65) }, want: /invalid request: start: / },
  { name: "reviewers not a list", body: { ...ask, reviewers: "bob" }, want: /invalid request: reviewers: / },
  {
    name: "too many reviewers",
    body: { ...ask, reviewers: ["a", "b", "c", "d", "e", "f"] },
    want: /at most 5 suggested reviewers/,
  },
  { name: "an unknown reviewer", body: { ...ask, reviewers: ["nobody"] }, want: /nobody cannot approve role debug/ },
  { name: "breakGlass not a boolean", body: { ...ask, breakGlass: "yes" }, want: /invalid request: breakGlass: / },
  { name: "reuse not a boolean", body: { ...ask, reuse: 0 }, want: /invalid request: reuse: / },
  {
    name: "break-glass on a role without it",
    body: { ...ask, breakGlass: true },
    want: /role debug has no break-glass/,
    status: 403,
  },
])("fail/$name", async ({ body, want, status }) => {
  const before = api.snapshot();
  const r = await api.call("POST", "/v1/requests", { token: t.alice!, body });
  expect(r.status, JSON.stringify(r.body)).toBe(status ?? 400);
  expect(r.body.error.message).toMatch(want);
  expect(api.snapshot()).toEqual(before);
});

test.each([
  { name: "a host name that is not one", path: "/v1/hosts/-x/resolve", body: { comment: "x" }, status: 400 },
  { name: "no comment", path: "/v1/hosts/web-1/resolve", body: {}, status: 400 },
  { name: "an empty comment", path: "/v1/hosts/web-1/resolve", body: { comment: " " }, status: 400 },
  { name: "an extra field", path: "/v1/hosts/web-1/resolve", body: { comment: "x", host: "web-2" }, status: 400 },
  { name: "a host not in the inventory", path: "/v1/hosts/web-9/resolve", body: { comment: "x" }, status: 404 },
  { name: "a host without drift", path: "/v1/hosts/web-1/resolve", body: { comment: "x" }, status: 409 },
  { name: "a query on the list", path: "/v1/hosts?all=1", body: undefined, status: 400 },
])("fail/resolve: $name", async ({ path, body, status }) => {
  const before = api.snapshot();
  const r = await api.call(body === undefined ? "GET" : "POST", path, { token: t.bob!, ...(body ? { body } : {}) });
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  expect(api.snapshot()).toEqual(before);
});

test("hosts are shown to approvers of a role covering them, auditors and admins; only approvers may resolve", async () => {
  const list = async (who: string) =>
    (await api.call("GET", "/v1/hosts", { token: t[who]! })).body.hosts?.map((h: any) => h.host);
  expect(await list("bob")).toEqual(["db-1", "web-1", "web-2"]);
  expect(await list("dave")).toEqual(["db-1", "web-1", "web-2"]);
  expect(await list("audrey")).toEqual(["db-1", "web-1", "web-2"]);
  expect(await list("alice")).toEqual([]);
  const requester = await api.call("POST", "/v1/hosts/web-1/resolve", { token: t.alice!, body: { comment: "x" } });
  expect(requester.status).toBe(404);
  const auditor = await api.call("POST", "/v1/hosts/web-1/resolve", { token: t.audrey!, body: { comment: "x" } });
  expect(auditor.status).toBe(403);
  expect(auditor.body.error.message).toBe(
    "audrey may not resolve drift on web-1 (approvers of a role covering it may)",
  );
});

test("a break-glass request answers 201 issued at once; a second login reuses it with 200", async () => {
  const first = await api.call("POST", "/v1/requests", {
    token: t.alice!,
    body: { role: "glass", hosts: ["web-1"], reason: "INC-2", publicKey, breakGlass: true },
  });
  expect(first.status).toBe(201);
  expect(first.body).toMatchObject({ state: "issued", breakGlass: { review: { status: "open" } }, accessSeconds: 900 });
  const again = await api.call("POST", "/v1/requests", {
    token: t.alice!,
    body: { role: "glass", hosts: ["web-1"], reason: "INC-2 again", publicKey },
  });
  expect(again.status).toBe(200);
  expect(again.body).toMatchObject({ id: first.body.id, reused: true });
  expect(typeof again.body.certificate).toBe("string");
});
