import { afterAll, beforeAll, expect, test } from "vitest";
import { auditRecords } from "../helpers/audit-files.js";
import { type CompanionHost, companionHost, waitForAudit } from "../helpers/companion.js";
import { json } from "../helpers/people.js";
import { run } from "../helpers/procs.js";
import { e2eConfig, LOGIN, startWorld, waitingId, type World } from "../helpers/scenario.js";
import { ssh } from "../helpers/sshd.js";
import { tool } from "../helpers/tools.js";

/**
 * Single use, the whole way as it runs on a real host: the real CLI asks and approves, real ssh
 * logs in to a real sshd (LogLevel VERBOSE), the host companion (`sshca host`, with its host
 * credential) reads the login and logout from sshd's log and reports them to /v1/host/report,
 * the daemon records session.closed, the single-use follower revokes the certificate, and the
 * same companion brings the new KRL to sshd's RevokedKeys, after which sshd refuses it.
 */

let w: World;
let web1: CompanionHost;

async function until<T>(what: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await what();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 100));
  }
}
const show = async (id: string) => json<any>(await w.alice.sshca(["request", "show", id, "--json"]));
const records = (request: string, type: string) =>
  auditRecords(w.daemon.dataDir).filter((r) => r.type === type && r.fields.request === request);

async function issued(role: string): Promise<any> {
  const login = w.alice.spawn([
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
  expect((await w.bob.sshca(["approve", id])).code).toBe(0);
  const done = await login.done;
  expect(done.code, done.stderr).toBe(0);
  return JSON.parse(done.stdout);
}

/** One real session on web-1 with alice's installed certificate, and its close as the companion reported it. */
async function session(req: { id: string }, command: string) {
  const r = await ssh({ port: web1.sshd.port, user: LOGIN, key: w.alice.key, command });
  expect(r.code, r.stderr).toBe(0);
  return waitForAudit(w.daemon.dataDir, (x) => x.type === "session.closed" && x.fields.request === req.id, 30_000);
}

/** ssh-keygen -Q against the KRL file the companion keeps for sshd: true once the certificate is in it. */
async function inHostKrl(): Promise<boolean> {
  const q = await run(tool("ssh-keygen"), ["-Q", "-f", web1.krl, `${w.alice.key}-cert.pub`]);
  if (/REVOKED/.test(q.stdout)) return true;
  expect(q.stdout, q.stderr).toMatch(/: ok$/m);
  return false;
}

beforeAll(async () => {
  const roles = {
    once: { principals: [LOGIN], hosts: ["web-1"], requesters: ["dev"], approvers: ["sre"], singleUse: true },
  };
  w = await startWorld(e2eConfig({ roles }));
  web1 = await companionHost(w.daemon, "web-1");
  await web1.startCompanion("1s");
});
afterAll(async () => {
  await web1?.stop();
  await w?.daemon.stop();
});

test("a single-use certificate is revoked when the companion reports its first session closed; the post-access scan runs; sshd refuses it once the companion brings the KRL", async () => {
  const req = await issued("once");
  expect(req).toMatchObject({ state: "issued", singleUse: true });
  expect((await w.alice.sshca(["request", "show", req.id])).stdout).toContain(
    "Access      15m once issued, one session (single use)",
  );

  const closed = await session(req, "echo first");
  expect(closed).toMatchObject({ actor: "host:web-1", fields: { host: "web-1", serial: req.serial } });

  const ended = await until(async () => {
    const r = await show(req.id);
    return r.state === "revoked" ? r : undefined;
  });
  expect(ended.revocation).toMatchObject({ by: "sshcad", kind: "single-use" });
  expect(ended.revocation.reason).toMatch(/^single use: its first session, on web-1, closed at /);
  const revoked = records(req.id, "certificate.revoked");
  expect(revoked.map((r) => [r.actor, r.fields.kind, r.fields.serial, r.fields.sessionRecord])).toEqual([
    ["sshcad", "single-use", req.serial, closed.seq],
  ]);
  // The post-access scan follows at once (trigger revoke), not at validBefore.
  const scanned = await until(async () => {
    const r = await show(req.id);
    return r.scans?.["web-1"]?.after ? r : undefined;
  });
  expect(scanned.scans["web-1"].after.trigger).toBe("revoke");

  // The companion's next sync writes the KRL sshd reads: then sshd refuses the certificate.
  await until(async () => ((await inHostKrl()) ? true : undefined));
  const second = await ssh({ port: web1.sshd.port, user: LOGIN, key: w.alice.key, command: "echo second" });
  expect(second.code).toBe(255);
  expect(second.stderr).toMatch(/Permission denied/);
  expect(web1.sshd.log()).toMatch(/revoked/i);

  // Used up: waiting on it says so, and nothing else was revoked or reported as a login.
  const waiting = w.alice.spawn(["request", "wait", req.id, "--no-agent"]);
  const done = await waiting.done;
  expect(done.code).toBe(3);
  expect(done.stderr).toContain(
    `request ${req.id} was issued and then used up (single use: its first session, on web-1`,
  );
  expect(records(req.id, "session.opened")).toHaveLength(1);
  expect(records(req.id, "certificate.revoked")).toHaveLength(1);
});

test("the close of a session whose role is not single use ends nothing", async () => {
  const req = await issued("debug");
  await session(req, "echo debug");
  // The follower handles records in order: a later single-use close being handled proves this one was too.
  const marker = await issued("once");
  await session(marker, "echo marker");
  await until(async () => ((await show(marker.id)).state === "revoked" ? true : undefined));
  expect((await show(req.id)).state).toBe("issued");
});
