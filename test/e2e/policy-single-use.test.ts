import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type InProc, startInProc } from "../helpers/inproc.js";
import { json, makePerson, type Person } from "../helpers/people.js";
import { e2eConfig, LOGIN, targetHost, waitingId } from "../helpers/scenario.js";
import { ssh, type TestSshd } from "../helpers/sshd.js";
import { tempDir } from "../helpers/tmp.js";

/**
 * Single use, with the real CLI, a real sshd and real ssh. The daemon runs in this process so the
 * test can stand in for the host companion (issue 14, not on main yet): it appends the
 * session.closed record the companion's report would become, through the storage port, exactly
 * as HostReports writes it. The KRL reaches the host the way the KRL sync timer brings it:
 * `sshca krl fetch --out` into sshd's RevokedKeys.
 */

let api: InProc;
let alice: Person;
let bob: Person;
let web1: TestSshd;
const krl = join(tempDir("single-use"), "revoked.krl");

async function until<T>(what: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await what();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 100));
  }
}
const show = async (id: string) => json<any>(await alice.sshca(["request", "show", id, "--json"]));
/** What the host companion's report of a closed session becomes in the audit log. */
const reportClose = (req: { id: string; serial: string; role: string }) =>
  api.daemon.core.storage.append("session.closed", "host:web-1", {
    host: "web-1",
    login: LOGIN,
    from: "127.0.0.1",
    at: new Date().toISOString(),
    serial: req.serial,
    request: req.id,
    requester: "alice",
    role: req.role,
  });
async function issued(role: string): Promise<any> {
  const login = alice.spawn([
    "login",
    "--role",
    role,
    "--host",
    "web-1",
    "--reason",
    "INC-6",
    "--no-agent",
    "--new",
    "--json",
  ]);
  const id = await waitingId(login);
  expect((await bob.sshca(["approve", id])).code).toBe(0);
  const done = await login.done;
  expect(done.code, done.stderr).toBe(0);
  return JSON.parse(done.stdout);
}

beforeAll(async () => {
  const roles = {
    once: { principals: [LOGIN], hosts: ["web-1"], requesters: ["dev"], approvers: ["sre"], singleUse: true },
  };
  api = await startInProc(e2eConfig({ roles }));
  alice = await makePerson("alice", api.url, await api.token("alice", ["dev"]));
  bob = await makePerson("bob", api.url, await api.token("bob", ["sre"]));
  expect((await bob.sshca(["krl", "fetch", "--out", krl])).code).toBe(0);
  expect(existsSync(krl)).toBe(true);
  web1 = await targetHost(bob, "web-1", krl);
});
afterAll(async () => {
  await web1?.stop();
  await api?.daemon.stop();
});

test("a single-use certificate is revoked when its first session closes; the post-access scan runs; sshd refuses it once the KRL arrives", async () => {
  const req = await issued("once");
  expect(req).toMatchObject({ state: "issued", singleUse: true });
  expect((await alice.sshca(["request", "show", req.id])).stdout).toContain(
    "Access      15m once issued, one session (single use)",
  );

  const first = await ssh({ port: web1.port, user: LOGIN, key: alice.key, command: "echo first" });
  expect(first.code, first.stderr).toBe(0);
  await reportClose(req);

  const ended = await until(async () => {
    const r = await show(req.id);
    return r.state === "revoked" ? r : undefined;
  });
  expect(ended.revocation).toMatchObject({ by: "sshcad", kind: "single-use" });
  expect(ended.revocation.reason).toMatch(/^single use: its first session, on web-1, closed at /);
  const revoked = (
    await api.daemon.core.storage.audit.query({ request: req.id, types: ["certificate.revoked"] }, { limit: 10 })
  ).records;
  expect(revoked.map((r) => [r.actor, r.fields.kind, r.fields.serial])).toEqual([["sshcad", "single-use", req.serial]]);
  // The post-access scan follows at once (trigger revoke), not at validBefore.
  const scanned = await until(async () => {
    const r = await show(req.id);
    return r.scans?.["web-1"]?.after ? r : undefined;
  });
  expect(scanned.scans["web-1"].after.trigger).toBe("revoke");

  // The KRL reaches the host (the sync timer's command): sshd refuses the certificate.
  expect((await bob.sshca(["krl", "fetch", "--out", krl])).code).toBe(0);
  const second = await ssh({ port: web1.port, user: LOGIN, key: alice.key, command: "echo second" });
  expect(second.code).toBe(255);
  expect(second.stderr).toMatch(/Permission denied/);
  expect(web1.log()).toMatch(/revoked/i);

  // A second report of a close changes nothing more.
  await reportClose(req);
  const waiting = alice.spawn(["request", "wait", req.id, "--no-agent"]);
  const w = await waiting.done;
  expect(w.code).toBe(3);
  expect(w.stderr).toContain(`request ${req.id} was issued and then used up (single use: its first session, on web-1`);
});

test("the close of a session whose role is not single use ends nothing", async () => {
  const req = await issued("debug");
  await reportClose(req);
  // The follower handles records in order: a later single-use close being handled proves this one was too.
  const marker = await issued("once");
  await reportClose(marker);
  await until(async () => ((await show(marker.id)).state === "revoked" ? true : undefined));
  expect((await show(req.id)).state).toBe("issued");
});
