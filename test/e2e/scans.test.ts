import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { auditRecords } from "../helpers/audit-files.js";
import { startDaemon, type TestDaemon, writeConfig } from "../helpers/daemon.js";
import { freePortOn, listen } from "../helpers/listeners.js";
import { json, makePerson, type Person } from "../helpers/people.js";
import { e2eConfig, LOGIN, waitingId } from "../helpers/scenario.js";

/** Scans in this file only touch 127.0.0.2, on ports the test chose. */
const TARGET = "127.0.0.2";
let daemon: TestDaemon;
let alice: Person;
let bob: Person;
let expectedPort: { port: number; close: () => Promise<void> };
let laterPort: number;
let strayPort: number;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(what: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await what();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error("condition not met in time");
    await sleep(100);
  }
}
const show = async (p: Person, id: string) => json<any>(await p.sshca(["request", "show", id, "--json"]));

/** alice asks for `role` on `hosts` (a waiting `sshca login`), bob approves; the login runs on. */
async function approvedLogin(role: string, hosts: string[], reason: string, ttl?: string) {
  const login = alice.spawn([
    "login",
    "--role",
    role,
    ...hosts.flatMap((h) => ["--host", h]),
    ...(ttl ? ["--ttl", ttl] : []),
    "--reason",
    reason,
    "--no-agent",
    "--json",
  ]);
  const id = await waitingId(login);
  expect((await bob.sshca(["approve", id])).code).toBe(0);
  return { id, login };
}

beforeAll(async () => {
  expectedPort = await listen(TARGET);
  laterPort = await freePortOn(TARGET);
  strayPort = await freePortOn(TARGET);
  const config = e2eConfig({
    extra: {
      hosts: {
        "app-1": {
          address: TARGET,
          expectedPorts: [expectedPort.port],
          scan: { ports: [expectedPort.port, laterPort], timeout: "20s" },
        },
        "app-2": {
          address: TARGET,
          expectedPorts: [expectedPort.port],
          scan: { ports: [expectedPort.port, strayPort], timeout: "20s" },
        },
        "web-1": { address: "127.0.0.1", expectedPorts: [22], scan: { ports: [22] } },
      },
    },
    roles: {
      debug: { principals: [LOGIN], hosts: ["web-1"], requesters: ["dev"], approvers: ["sre"] },
      critical: { principals: [LOGIN], hosts: ["web-1"], requesters: ["dev"], approvers: ["sre"] },
      short: { principals: [LOGIN], hosts: ["web-1"], requesters: ["dev"], approvers: ["sre"] },
      selfserve: { principals: [LOGIN], hosts: ["web-1"], requesters: ["dev"], autoApprove: true },
      watch: { principals: [LOGIN], hosts: ["app-1"], requesters: ["dev"], approvers: ["sre"], maxTtl: "1m" },
      guarded: {
        principals: [LOGIN],
        hosts: ["app-1", "app-2"],
        requesters: ["dev"],
        approvers: ["sre"],
        scanOnIssue: "gate",
        maxTtl: "1m",
      },
    },
  });
  daemon = await startDaemon({ configPath: writeConfig(config) });
  alice = await makePerson("alice", daemon, await daemon.addUser("alice", ["dev"]));
  bob = await makePerson("bob", daemon, await daemon.addUser("bob", ["sre"]));
});
afterAll(async () => {
  await daemon?.stop();
  await expectedPort?.close();
});

describe("scans around the access window (real nmap on 127.0.0.2)", () => {
  test("a port opened during the window shows up in the expiry scan as drift", async () => {
    const { id, login } = await approvedLogin("watch", ["app-1"], "drift check", "4s");
    const issued = JSON.parse((await login.done).stdout);

    const atIssue = await until(async () => (await show(alice, id)).scans?.["app-1"]?.issue);
    expect(atIssue.outcome).toBe("ok");
    expect(atIssue.open.map((p: any) => p.port)).toEqual([expectedPort.port]);

    const opened = await listen(TARGET, laterPort); // something new appears while alice has access
    try {
      const after = await until(async () => (await show(bob, id)).scans?.["app-1"]?.after);
      expect(after.trigger).toBe("expiry");
      expect(after.open.map((p: any) => p.port).sort()).toEqual([expectedPort.port, laterPort].sort());
      const started = auditRecords(daemon.dataDir).find(
        (r) => r.type === "scan.started" && r.fields.scan === after.id,
      )!;
      expect(Date.parse(started.time) - Date.parse(issued.validBefore)).toBeLessThanOrEqual(2000);
      expect(Date.parse(started.time)).toBeGreaterThanOrEqual(Date.parse(issued.validBefore));

      const { scans } = json<{ scans: any[] }>(await bob.sshca(["scans", "list", "--request", id, "--json"]));
      expect(scans.map((s) => s.trigger)).toEqual(["issue", "expiry"]);
      expect(scans[1].args).toEqual(expect.arrayContaining(["-sT", "-Pn", "-n", "--", TARGET]));
      expect(scans[1].drift.newlyOpen).toEqual([expect.objectContaining({ port: laterPort, state: "open" })]);
      expect(scans[1].drift.baseline).toBe(scans[0].id);

      const drift = auditRecords(daemon.dataDir).find((r) => r.type === "scan.drift" && r.fields.request === id);
      expect(drift?.fields.summary).toContain(`newly open ${laterPort}/tcp`);
      expect(daemon.proc.stdout()).toContain("host exposure changed during access");

      const human = await bob.sshca(["scans", "show", after.id]);
      expect(human.stdout).toMatch(new RegExp(`${laterPort}/tcp\\s+open\\s+.*NEWLY OPEN`));
      expect(human.stdout).toMatch(/Drift\s+YES/);
    } finally {
      await opened.close();
    }
  });

  test("gate: an unexpected open port blocks issuance until an approver overrides, audited", async () => {
    const stray = await listen(TARGET, strayPort);
    let id: string;
    try {
      const started = await approvedLogin("guarded", ["app-1", "app-2"], "gate check");
      id = started.id;
      const login = started.login;
      await login.waitFor(/Blocked by the pre-issue scan: app-2: unexpected open port (\d+)\/tcp/, 45_000);
      const blocked = await show(bob, id);
      expect(blocked.state).toBe("blocked");
      // nmap names the service when the random port is in its nmap-services list (43191 is
      // "noit-transport"), so the name is optional; the port itself is exact.
      expect(blocked.gate.reason).toMatch(
        new RegExp(`^app-2: unexpected open port ${strayPort}/tcp( \\([\\w.-]+\\))?$`),
      );
      expect(blocked.certificate).toBeUndefined();

      const noReason = await bob.sshca(["approve", id, "--override-scan"]);
      expect(noReason.code).toBe(2);
      const self = await alice.sshca(["approve", id, "--override-scan", "--comment", "mine"]);
      expect(self.code).toBe(1);
      const ok = await bob.sshca(["approve", id, "--override-scan", "--comment", "stray is the metrics agent"]);
      expect(ok.code, ok.stderr).toBe(0);
      const done = await login.done;
      expect(done.code, done.stderr).toBe(0);
      expect(JSON.parse(done.stdout).gate.override).toMatchObject({ by: "bob", reason: "stray is the metrics agent" });
    } finally {
      await stray.close();
    }
    const types = auditRecords(daemon.dataDir)
      .filter((r) => r.fields.request === id)
      .map((r) => r.type);
    expect(types).toEqual(expect.arrayContaining(["request.blocked", "request.scan_overridden", "certificate.issued"]));
    expect(types.indexOf("request.blocked")).toBeLessThan(types.indexOf("certificate.issued"));
  });

  test("gate: with only expected ports open the request is issued after the scan", async () => {
    const { id, login } = await approvedLogin("guarded", ["app-1"], "clean");
    const done = await login.done;
    expect(done.code, done.stderr).toBe(0);
    expect(JSON.parse(done.stdout)).toMatchObject({ state: "issued", gate: { status: "passed" } });
    const types = auditRecords(daemon.dataDir)
      .filter((x) => x.fields.request === id)
      .map((x) => x.type);
    expect(types.indexOf("scan.finished")).toBeLessThan(types.indexOf("certificate.issued"));
  });

  test("manual scans are for approvers of a role covering the host", async () => {
    const scan = json<any>(await bob.sshca(["scan", "app-1", "--json"]));
    expect(scan).toMatchObject({ trigger: "manual", outcome: "ok", host: "app-1", address: TARGET });
    expect(scan.ports).toEqual(
      expect.arrayContaining([expect.objectContaining({ port: expectedPort.port, state: "open" })]),
    );
    const denied = await alice.sshca(["scan", "app-1"]);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain("only approvers of a role covering app-1");
  });

  test("after a restart an overdue expiry scan runs within 2 s of start, once", { timeout: 90_000 }, async () => {
    const { id, login } = await approvedLogin("watch", ["app-1"], "restart check", "3s");
    const issued = JSON.parse((await login.done).stdout);
    await until(async () => (await show(alice, id)).scans?.["app-1"]?.issue);
    expect((await daemon.stop()).code).toBe(0);
    await sleep(Math.max(0, Date.parse(issued.validBefore) - Date.now() + 1500)); // expiry passes while down
    daemon = await daemon.restart();
    for (const p of [alice, bob]) p.env.SSHCA_URL = daemon.url;
    await until(async () => (await show(bob, id)).scans?.["app-1"]?.after);
    await sleep(1500); // a second run would have started by now
    const records = auditRecords(daemon.dataDir);
    const startedUp = records.filter((r) => r.type === "daemon.started").at(-1)!;
    const expiryScans = records.filter(
      (r) => r.type === "scan.started" && r.fields.request === id && r.fields.trigger === "expiry",
    );
    expect(expiryScans).toHaveLength(1);
    expect(Date.parse(expiryScans[0]!.time) - Date.parse(startedUp.time)).toBeLessThanOrEqual(2000);
  });
});

describe("nmap is required unless scanning is turned off", () => {
  test("serve refuses to start without nmap, and says how to fix it", async () => {
    const configPath = writeConfig(e2eConfig({ extra: { scanning: { nmap: "/nonexistent/nmap" } } }));
    const other = await startDaemon({ configPath }).catch((err: Error) => err);
    expect(other).toBeInstanceOf(Error);
    expect(String(other)).toMatch(/nmap is not installed .*apt-get install -y nmap.* or set scanning.enabled: false/);
  });

  test("with scanning.enabled: false it starts and says scanning is off", async () => {
    const configPath = writeConfig(e2eConfig({ extra: { scanning: { enabled: false, nmap: "/nonexistent/nmap" } } }));
    const d = await startDaemon({ configPath });
    try {
      expect(d.proc.stdout()).toContain("scanning is turned off");
    } finally {
      await d.stop();
    }
  });
});
