import { generateKeyPairSync } from "node:crypto";
import sshpk from "sshpk";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type InProc, startInProc } from "../helpers/inproc.js";
import { e2eConfig } from "../helpers/scenario.js";

let clock = Date.now();
let api: InProc;
const bad = `sshca_${"b".repeat(16)}_${"X".repeat(43)}`;
const publicKey = sshpk
  .parseKey(generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" }), "pem")
  .toString("ssh");

beforeAll(async () => {
  const extra = { limits: { failedAuthPerMinute: 3, requestsPerMinute: 2 }, scanning: { enabled: false } };
  api = await startInProc(e2eConfig({ extra }), { now: () => new Date(clock) });
});
afterAll(() => api?.daemon.stop());

test("failed sign-ins from one address are rate limited (429, Retry-After), audited only until the limit", async () => {
  const good = await api.token("alice", ["dev"]);
  for (let i = 0; i < 3; i++) expect((await api.call("GET", "/v1/whoami", { token: bad })).status).toBe(401);
  await new Promise((r) => setTimeout(r, 100)); // the auth.failed records are appended in the background
  const seqAtLimit = api.snapshot().auditSeq;
  const limited = await api.call("GET", "/v1/whoami", { token: bad });
  expect(limited.status).toBe(429);
  expect(limited.body.error.message).toMatch(/^too many failed sign-ins from this address; retry in \d+s$/);
  expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
  // Locked out means locked out, even with a good token, until the window refills.
  expect((await api.call("GET", "/v1/whoami", { token: good })).status).toBe(429);
  for (let i = 0; i < 50; i++) await api.call("GET", "/v1/whoami", { token: bad });
  await new Promise((r) => setTimeout(r, 100));
  expect(api.snapshot().auditSeq).toBe(seqAtLimit); // a flood does not flood the audit log
  clock += 60_000;
  expect((await api.call("GET", "/v1/whoami", { token: good })).status).toBe(200);
});

test("new requests per user are rate limited; other users are not affected", async () => {
  clock += 60_000;
  const alice = await api.token("alice2", ["dev"]);
  const carol = await api.token("carol", ["dev"]);
  const ask = (token: string) =>
    api.call("POST", "/v1/requests", { token, body: { role: "debug", hosts: ["web-1"], reason: "x", publicKey } });
  expect((await ask(alice)).status).toBe(201);
  expect((await ask(alice)).status).toBe(201);
  const third = await ask(alice);
  expect(third.status).toBe(429);
  expect(third.body.error.message).toMatch(/too many new requests from you/);
  expect((await ask(carol)).status).toBe(201);
});
