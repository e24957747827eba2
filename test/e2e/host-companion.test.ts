import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { auditRecords } from "../helpers/audit-files.js";
import { type CompanionHost, companionHost, waitForAudit } from "../helpers/companion.js";
import { json, makePerson } from "../helpers/people.js";
import { run, start } from "../helpers/procs.js";
import { type Receiver, startReceiver } from "../helpers/receiver.js";
import { e2eConfig, LOGIN, startWorld, type World } from "../helpers/scenario.js";
import { freePort } from "../helpers/listeners.js";
import { ssh } from "../helpers/sshd.js";
import { tempDir } from "../helpers/tmp.js";
import { tool } from "../helpers/tools.js";

/**
 * The host companion against real sshd and real ssh logins: it keeps the KRL and principals
 * files current (sshd reads them), reports every certificate login and logout from sshd's
 * VERBOSE log, and the daemon raises findings for what should not have happened.
 */
let w: World;
let web1: CompanionHost;
let web2: CompanionHost;
let receiver: Receiver;
let configPath: string;
let config: ReturnType<typeof e2eConfig> & Record<string, any>;
let rogueCa: string;

const sessionsOf = (request: string) =>
  auditRecords(w.daemon.dataDir).filter((r) => r.type.startsWith("session.") && r.fields.request === request);
const findings = () => auditRecords(w.daemon.dataDir).filter((r) => r.type === "finding.raised");

async function issue(host: string): Promise<{ id: string; serial: string }> {
  const req = json<{ id: string }>(
    await w.alice.sshca([
      "login",
      "--role",
      "debug",
      "--host",
      host,
      "--reason",
      "INC-7",
      "--no-wait",
      "--new",
      "--json",
    ]),
  );
  expect((await w.bob.sshca(["approve", req.id, "--comment", "ok"])).code).toBe(0);
  return json<{ id: string; serial: string }>(await w.alice.sshca(["request", "wait", req.id, "--no-agent", "--json"]));
}

const login = (host: CompanionHost, command = "echo in") =>
  ssh({ port: host.sshd.port, user: LOGIN, key: w.alice.key, command });

beforeAll(async () => {
  receiver = await startReceiver();
  const secretFile = join(tempDir("hook"), "secret");
  writeFileSync(secretFile, "s3cret\n");
  // A fixed port, so the companions find the daemon again after it restarts.
  config = e2eConfig({
    extra: {
      listen: { address: "127.0.0.1", port: await freePort() },
      webhooks: [{ name: "soc", url: receiver.url("/hook"), secretFile, retry: { initial: "1s", max: "1s" } }],
    },
  }) as typeof config;
  w = await startWorld(config);
  configPath = w.daemon.configPath;
  // Another CA that web-2 also trusts (a leftover, or a rogue admin's): its certificates log in there.
  const rogueDir = tempDir("rogue");
  rogueCa = join(rogueDir, "ca");
  await run(tool("ssh-keygen"), ["-q", "-t", "ed25519", "-N", "", "-f", rogueCa]);
  web1 = await companionHost(w.daemon, "web-1");
  await web1.startCompanion("1s");
  // web-2 syncs its files only at start (an hour's interval): its KRL stays behind.
  web2 = await companionHost(w.daemon, "web-2", { extraCaLines: [readFileSync(`${rogueCa}.pub`, "utf8").trim()] });
  await web2.startCompanion("1h");
});
afterAll(async () => {
  await web1?.stop();
  await web2?.stop();
  await w?.daemon.stop();
  await receiver?.close();
});

describe("sshca host on a real target host", () => {
  test("a certificate login and its logout are reported once each, joined to the request", async () => {
    const { id, serial } = await issue("web-1");
    const r = await login(web1);
    expect(r.code, r.stderr).toBe(0);
    expect(web1.sshd.log()).toMatch(new RegExp(`Accepted publickey for ${LOGIN} .* \\(serial ${serial}\\)`));
    const closed = await waitForAudit(w.daemon.dataDir, (x) => x.type === "session.closed" && x.fields.request === id);
    const [opened, closedAgain] = sessionsOf(id);
    expect(opened).toMatchObject({
      type: "session.opened",
      actor: "host:web-1",
      fields: { host: "web-1", login: LOGIN, from: "127.0.0.1", serial, requester: "alice", role: "debug" },
    });
    expect(opened!.fields.keyId).toBe(`req=${id};user=alice;role=debug;approvers=bob`);
    expect(closedAgain).toEqual(closed);
    expect(closed.fields.port).toBe(opened!.fields.port);
    expect(findings().filter((f) => f.fields.request === id)).toEqual([]);

    // The requester's report: the whole window, the login and logout, no findings (exit 0).
    const text = await w.alice.sshca(["report", id]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`Approved +\\S+ by bob; comment "ok"`));
    expect(text.stdout).toMatch(new RegExp(`Certificate serial ${serial}, principals ${LOGIN}@web-1`));
    expect(text.stdout).toMatch(new RegExp(`${LOGIN}@web-1 from 127\\.0\\.0\\.1 port \\d+: in \\S+, out \\S+`));
    expect(text.stdout.trimEnd()).toMatch(/No findings\.$/);
    const report = json<any>(await w.alice.sshca(["report", id, "--json"]));
    expect(report.sessions).toEqual([
      expect.objectContaining({ host: "web-1", serial, openedAt: opened!.fields.at, closedAt: closed.fields.at }),
    ]);
    expect(report.scans.map((x: { trigger: string }) => x.trigger)).toContain("issue");
    // Someone who may not see the request learns nothing of it.
    const carol = await w.carol.sshca(["report", id]);
    expect(carol.code).toBe(1);
    expect(carol.stderr).toContain(`no request ${id}`);
  });

  test("a logout while the companion is down, and a login while the daemon is down, are reported after, once", async () => {
    const { id } = await issue("web-1");
    const session = start(
      tool("ssh"),
      [
        ...["-T", "-F", "/dev/null", "-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no"],
        ...["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none"],
        ...["-i", w.alice.key, "-o", `CertificateFile=${w.alice.key}-cert.pub`, "-p", String(web1.sshd.port)],
        `${LOGIN}@127.0.0.1`,
        "echo started; read line",
      ],
      { keepStdin: true },
    );
    await session.waitFor(/started/);
    await waitForAudit(w.daemon.dataDir, (x) => x.type === "session.opened" && x.fields.request === id);
    await web1.stopCompanion();
    session.proc.stdin!.end("bye\n"); // the logout happens while nobody watches
    expect((await session.done).code).toBe(0);
    await web1.startCompanion("1s");
    await waitForAudit(w.daemon.dataDir, (x) => x.type === "session.closed" && x.fields.request === id);

    // The daemon goes away; a login happens; the companion keeps it and delivers it once back.
    await w.daemon.stop();
    expect((await login(web1)).code).toBe(0);
    await web1.companion!.waitFor(/report failed \(kept/, 20_000);
    w.daemon = await w.daemon.restart();
    await waitForAudit(w.daemon.dataDir, () => sessionsOf(id).filter((s) => s.type === "session.closed").length === 2);
    // The companion dropped what the daemon acknowledged: what is recorded now is final, each event once.
    const state = () => JSON.parse(readFileSync(join(web1.stateDir, "state.json"), "utf8")) as { pending: unknown[] };
    await eventually(async () => state().pending.length === 0);
    const kinds = sessionsOf(id).map((s) => s.type);
    expect(kinds).toEqual(["session.opened", "session.closed", "session.opened", "session.closed"]);
  });

  test("a revocation reaches web-1's KRL by itself: sshd refuses the certificate", async () => {
    const { id } = await issue("web-1");
    expect((await login(web1)).code).toBe(0);
    expect((await w.bob.sshca(["revoke", "--request", id, "--reason", "laptop lost"])).code).toBe(0);
    await eventually(async () =>
      (await run(tool("ssh-keygen"), ["-Q", "-f", web1.krl, `${w.alice.key}-cert.pub`])).stdout.includes("REVOKED"),
    );
    const refused = await login(web1);
    expect(refused.code).toBe(255);
    expect(web1.sshd.log()).toMatch(/revoked by file/);
  });

  test("a role change reaches web-1's principals files: sshd stops and starts accepting the certificate", async () => {
    await issue("web-1");
    const file = join(web1.principalsDir, LOGIN);
    expect(readFileSync(file, "utf8")).toContain(`${LOGIN}@web-1`);
    expect((await login(web1)).code).toBe(0);
    // The roles that granted LOGIN on web-1 lose it: the file is emptied (still there, listing nothing).
    const narrowed = structuredClone(config);
    for (const role of Object.values(narrowed.roles as Record<string, { hosts: string[] }>))
      role.hosts = role.hosts.filter((h) => h !== "web-1").concat(role.hosts.includes("web-1") ? ["web-2"] : []);
    for (const role of Object.values(narrowed.roles as Record<string, { hosts: string[] }>))
      role.hosts = [...new Set(role.hosts)];
    await reload(narrowed);
    await eventually(async () => !readFileSync(file, "utf8").includes(`${LOGIN}@web-1`));
    expect(readFileSync(file, "utf8")).toMatch(/^# written by sshca host/);
    expect((await login(web1)).code).toBe(255);
    await reload(config);
    await eventually(async () => readFileSync(file, "utf8").includes(`${LOGIN}@web-1`));
    expect((await login(web1)).code).toBe(0);
  });

  test("a login with a revoked certificate, before the KRL sync reaches the host, is a finding (audit, log, webhook)", async () => {
    const { id, serial } = await issue("web-2");
    expect((await w.bob.sshca(["revoke", "--request", id, "--reason", "left the team"])).code).toBe(0);
    const r = await login(web2);
    expect(r.code, r.stderr).toBe(0); // web-2's KRL is an hour behind
    const f = await waitForAudit(w.daemon.dataDir, (x) => x.type === "finding.raised" && x.fields.request === id);
    expect(f.fields).toMatchObject({ finding: "revoked_certificate", host: "web-2", serial, requester: "alice" });
    expect(f.fields.detail).toMatch(/revoked by bob/);
    await receiver.waitFor((all) => all.some((d) => d.body.event === "finding.raised" && d.body.fields.request === id));
    const hook = receiver.deliveries.find((d) => d.body.event === "finding.raised" && d.body.fields.request === id)!;
    expect(hook.body.notify.users).toContain("alice");
    expect(hook.body.summary).toMatch(/^FINDING revoked_certificate on web-2/);
    expect(w.daemon.proc.stdout()).toMatch(/"level":40.*finding: a login that should not have happened/);

    // The report lists it and exits 5, for compliance jobs.
    const r2 = await w.bob.sshca(["report", id]);
    expect(r2.code).toBe(5);
    expect(r2.stdout).toMatch(/Ended +revoked at \S+ by bob: "left the team"/);
    expect(r2.stdout).toMatch(/FINDINGS \(1\):\n.*revoked_certificate on web-2: login/);
    expect(r2.stderr).toContain("1 finding");
  });

  test("a login to a host outside the request (a principals file edited by hand) is a finding", async () => {
    const { id } = await issue("web-1");
    web2.sshd.setPrincipals(LOGIN, [`${LOGIN}@web-2`, `${LOGIN}@web-1`]);
    const r = await login(web2);
    expect(r.code, r.stderr).toBe(0);
    const f = await waitForAudit(w.daemon.dataDir, (x) => x.type === "finding.raised" && x.fields.request === id);
    expect(f.fields).toMatchObject({ finding: "host_outside_request", host: "web-2" });
    expect(f.fields.detail).toMatch(/approved for web-1 only/);
  });

  test("a login with a certificate this CA did not issue is a finding", async () => {
    const key = join(tempDir("rogue-user"), "id");
    await run(tool("ssh-keygen"), ["-q", "-t", "ed25519", "-N", "", "-f", key]);
    const signed = await run(tool("ssh-keygen"), [
      ...["-q", "-s", rogueCa, "-I", "req=rq_aaaaaaaaaaaaaaaa;user=alice;role=debug;approvers=bob"],
      ...["-n", `${LOGIN}@web-2`, "-z", "4242", "-V", "-1m:+5m", `${key}.pub`],
    ]);
    expect(signed.code, signed.stderr).toBe(0);
    const r = await ssh({ port: web2.sshd.port, user: LOGIN, key, command: "true" });
    expect(r.code, r.stderr).toBe(0);
    const f = await waitForAudit(
      w.daemon.dataDir,
      (x) => x.type === "finding.raised" && x.fields.serial === "4242" && x.fields.host === "web-2",
    );
    expect(f.fields.finding).toBe("foreign_certificate");
    expect(f.fields.detail).toMatch(/which this CA never issued/);
    expect(f.fields.request).toBeUndefined(); // its key id claims a request; it is not joined to one
  });

  test("sshca report --since: per user and host, windows, logins and findings, for auditors", async () => {
    const eve = await makePerson("eve", w.daemon, await w.daemon.addUser("eve", ["auditors"]));
    const r = await eve.sshca(["report", "--since", "1h"]);
    expect(r.code, r.stderr).toBe(5);
    const s = json<any>(await eve.sshca(["report", "--since", "1h", "--json"]).then((x) => ({ ...x, code: 0 })));
    const row = (user: string, host: string) => s.rows.find((x: any) => x.user === user && x.host === host);
    expect(row("alice", "web-1")).toMatchObject({ logins: expect.any(Number), windows: expect.any(Number) });
    expect(row("alice", "web-1").windows).toBeGreaterThanOrEqual(4);
    expect(row("alice", "web-1").logins).toBeGreaterThanOrEqual(4);
    expect(row("alice", "web-2")).toMatchObject({ findings: 2 }); // the revoked login, the login outside its request
    expect(row("-", "web-2")).toMatchObject({ windows: 0, logins: 1, findings: 1 }); // the foreign certificate
    expect(s.findings.map((x: any) => x.finding).sort()).toEqual([
      "foreign_certificate",
      "host_outside_request",
      "revoked_certificate",
    ]);
    expect(r.stdout).toMatch(/USER +HOST +WINDOWS +LOGINS +FINDINGS/);
    // Only for auditors and admins; a bad period is a one-line error.
    const asAlice = await w.alice.sshca(["report", "--since", "1h"]);
    expect(asAlice.code).toBe(1);
    expect(asAlice.stderr).toMatch(/for auditors and admins/);
    const bad = await eve.sshca(["report", "--since", "yesterday"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/since must be a duration/);
    expect((await eve.sshca(["report"])).code).toBe(2);
  });
});

async function reload(next: object): Promise<void> {
  writeFileSync(configPath, JSON.stringify(next));
  const before = (w.daemon.proc.stdout().match(/config reloaded/g) ?? []).length;
  w.daemon.proc.proc.kill("SIGHUP");
  await eventually(async () => (w.daemon.proc.stdout().match(/config reloaded/g) ?? []).length > before);
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 100));
  }
}
