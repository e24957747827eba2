import { generateKeyPairSync } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import pino from "pino";
import sshpk from "sshpk";
import { serve } from "../../src/daemon/serve.js";
import { StateStore } from "../../src/store/state.js";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type InProc, startInProc } from "../helpers/inproc.js";
import { run } from "../helpers/procs.js";
import { e2eConfig } from "../helpers/scenario.js";
import { tempDir } from "../helpers/tmp.js";
import { tool } from "../helpers/tools.js";

/**
 * A revoked serial must stay in the KRL until the certificate's validBefore plus the clock-skew
 * margin (5 minutes: a target host whose clock is behind still accepts the certificate that
 * long), however soon requests.keepFinished lets the request itself leave the live state.
 * The live state keeps the serial an hour past validBefore, so a replica whose clock runs fast
 * (its sweep decides for every replica) cannot take revocations away early.
 * The daemon's clock is the test's; ssh-keygen -Q reads the KRL the daemon serves.
 */
let clock = Date.now();
let api: InProc;
const t: Record<string, string> = {};
const dir = tempDir("krl-retention");
const MARGIN_MS = 5 * 60_000;
const KEEP_MS = 60 * 60_000;

/** alice asks for 10 minutes, bob approves; the certificate is written to a file for ssh-keygen. */
async function issue(name: string): Promise<{ id: string; serial: string; validBefore: string; certFile: string }> {
  const publicKey = sshpk
    .parseKey(generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" }), "pem")
    .toString("ssh");
  const created = await api.call("POST", "/v1/requests", {
    token: t.alice!,
    body: { role: "debug", hosts: ["web-1"], ttl: "10m", reason: name, publicKey },
  });
  await api.call("POST", `/v1/requests/${created.body.id}/approve`, {
    token: t.bob!,
    body: { digest: created.body.digest },
  });
  const got = await api.call("GET", `/v1/requests/${created.body.id}`, { token: t.alice! });
  expect(got.body.state).toBe("issued");
  const certFile = join(dir, `${name}-cert.pub`);
  writeFileSync(certFile, `${got.body.certificate}\n`);
  return { id: got.body.id, serial: got.body.serial, validBefore: got.body.validBefore, certFile };
}

const revoke = async (id: string) => {
  const r = await api.call("POST", "/v1/revocations", { token: t.bob!, body: { request: id, reason: "test" } });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
};

/** ssh-keygen -Q against the KRL the daemon serves right now: true when the certificate is revoked. */
async function inServedKrl(certFile: string, url = api.url): Promise<boolean> {
  const krl = await fetch(`${url}/v1/krl`);
  const file = join(dir, `served-${Date.now()}.krl`);
  writeFileSync(file, Buffer.from(await krl.arrayBuffer()));
  const q = await run(tool("ssh-keygen"), ["-Q", "-f", file, certFile]);
  if (/REVOKED/.test(q.stdout)) return true;
  expect(q.stdout, q.stderr).toMatch(/: ok$/m);
  return false;
}

beforeAll(async () => {
  const extra = { requests: { keepFinished: "1s" }, scanning: { enabled: false } };
  api = await startInProc(e2eConfig({ extra }), { now: () => new Date(clock) });
  t.alice = await api.token("alice", ["dev"]);
  t.bob = await api.token("bob", ["sre"]);
});
afterAll(async () => {
  await api?.daemon.stop(); // a second stop is a no-op
});

test("a revoked serial stays in the served KRL until validBefore + the skew margin, and in the state an hour, with keepFinished: 1s", async () => {
  const a = await issue("a");
  await revoke(a.id);
  expect(await inServedKrl(a.certFile)).toBe(true);

  // Past validBefore + keepFinished: the request leaves the live state (the sweep runs every second).
  clock = Date.parse(a.validBefore) + 2000;
  await expect
    .poll(async () => (await api.call("GET", `/v1/requests/${a.id}`, { token: t.bob! })).status, { timeout: 10_000 })
    .toBe(404);
  // Another revocation rebuilds the KRL from what the daemon holds now: a is still in it.
  const b = await issue("b");
  await revoke(b.id);
  expect(await inServedKrl(b.certFile)).toBe(true);
  expect(await inServedKrl(a.certFile)).toBe(true);

  // Past validBefore + the margin, a's serial leaves the KRL; the live state keeps it (a sweep on
  // a replica whose clock is 10 minutes fast sees this much later than the hosts do).
  clock = Date.parse(a.validBefore) + MARGIN_MS + 2000;
  await api.daemon.access.sweep();
  expect(Object.hasOwn(api.daemon.core.storage.state.revoked, a.serial)).toBe(true);
  clock = Date.parse(a.validBefore) + 2 * MARGIN_MS + 2000;
  await api.daemon.access.sweep();
  expect(Object.hasOwn(api.daemon.core.storage.state.revoked, a.serial)).toBe(true);
  const c = await issue("c");
  await revoke(c.id);
  expect(await inServedKrl(c.certFile)).toBe(true);
  expect(await inServedKrl(b.certFile)).toBe(true);
  expect(await inServedKrl(a.certFile)).toBe(false);

  // An hour past validBefore the sweep forgets it.
  clock = Date.parse(a.validBefore) + KEEP_MS + 2000;
  await api.daemon.access.sweep();
  expect(Object.hasOwn(api.daemon.core.storage.state.revoked, a.serial)).toBe(false);
  expect(Object.hasOwn(api.daemon.core.storage.state.revoked, b.serial)).toBe(true);
});

test("state written before revoked serials had their own collection: its revoked requests stay in the KRL", async () => {
  clock = Date.now();
  const d = await issue("d");
  await revoke(d.id);
  const { configPath, paths } = api.daemon.core;
  await api.daemon.stop();
  // What an older sshcad left behind: the revoked request, and no revoked collection.
  const store = await StateStore.open(paths.state, new Date(clock));
  for (const serial of Object.keys(store.data.revoked)) store.remove("revoked", serial);
  await store.persist();
  expect(store.data.requests[d.id]?.state).toBe("revoked");

  const again = await serve({
    configPath,
    dataDirFlag: paths.dataDir,
    env: {},
    log: pino({ level: "silent" }),
    now: () => new Date(clock),
  });
  try {
    expect(await inServedKrl(d.certFile, again.url)).toBe(true);
    expect(Object.hasOwn(again.core.storage.state.revoked, d.serial)).toBe(true);
  } finally {
    await again.stop();
  }
});
