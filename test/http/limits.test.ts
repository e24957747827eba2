import { generateKeyPairSync } from "node:crypto";
import { join } from "node:path";
import sshpk from "sshpk";
import { afterAll, beforeAll, expect, test } from "vitest";
import { httpCall } from "../helpers/client.js";
import { type InProc, startInProc } from "../helpers/inproc.js";
import { e2eConfig } from "../helpers/scenario.js";
import { tempDir } from "../helpers/tmp.js";

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
  // Someone else's failures from this address do not lock out a valid token: it is checked first.
  expect((await api.call("GET", "/v1/whoami", { token: good })).status).toBe(200);
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

test("on a unix socket (every client shares one address) a valid token passes while bad ones are locked out", async () => {
  const socketPath = join(tempDir("sock"), "api.sock");
  const extra = { limits: { failedAuthPerMinute: 3 }, scanning: { enabled: false } };
  const unix = await startInProc(e2eConfig({ extra }), {
    now: () => new Date(clock),
    listen: { socket: socketPath, tls: { enabled: false } },
  });
  try {
    const good = await unix.token("alice", ["dev"]);
    const whoami = (token: string) => httpCall({ socketPath }, "GET", "/v1/whoami", { token });
    for (let i = 0; i < 3; i++) expect((await whoami(bad)).status).toBe(401);
    expect((await whoami(bad)).status).toBe(429);
    const ok = await whoami(good);
    expect(ok.status).toBe(200);
    expect(ok.body.user).toBe("alice");
    expect((await whoami(bad)).status).toBe(429);
  } finally {
    await unix.daemon.stop();
  }
});
