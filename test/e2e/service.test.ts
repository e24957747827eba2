import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { api } from "../helpers/api.js";
import { auditRecords } from "../helpers/audit-files.js";
import { ROOT, startDaemon, type TestDaemon, writeConfig } from "../helpers/daemon.js";
import { json, makePerson, type Person } from "../helpers/people.js";
import { run } from "../helpers/procs.js";
import { e2eConfig, LOGIN } from "../helpers/scenario.js";

const systemdAnalyze = async (args: string[]) => run("systemd-analyze", args, { cwd: ROOT });
const logLines = (d: TestDaemon) =>
  d.proc
    .stdout()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, any>);

describe("systemd units (checked by systemd-analyze)", () => {
  test.each(["sshcad.service", "sshca-krl-sync.service", "sshca-host.service", "sshca-host-cert.service"])(
    "%s: exposure 2.0 or below, verify clean",
    async (unit) => {
      const sec = await systemdAnalyze(["security", "--offline=true", `systemd/${unit}`]);
      const score = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(sec.stdout)?.[1]);
      expect(score).toBeGreaterThan(0);
      expect(score).toBeLessThanOrEqual(2.0);
      const verify = await systemdAnalyze([
        "verify",
        `systemd/${unit}`,
        ...(unit.startsWith("sshca-krl") ? ["systemd/sshca-krl-sync.timer"] : []),
        ...(unit.startsWith("sshca-host-cert") ? ["systemd/sshca-host-cert.timer"] : []),
      ]);
      expect(verify.code, verify.stderr).toBe(0);
      expect(verify.stderr.trim()).toBe("");
    },
  );

  test("sshcad.service: dedicated user, state and config directories, umask, open-file limit, no capabilities, no MemoryDenyWriteExecute", () => {
    const unit = readFileSync(join(ROOT, "systemd", "sshcad.service"), "utf8");
    for (const line of [
      "User=sshcad",
      "StateDirectory=sshcad",
      "ConfigurationDirectory=sshcad",
      "UMask=0077",
      "CapabilityBoundingSet=\n",
      "ProtectSystem=strict",
      "SystemCallFilter=@system-service",
      "ExecReload=/bin/kill -HUP $MAINPID",
      "LimitNOFILE=4096",
    ]) {
      expect(unit).toContain(line);
    }
    expect(unit).not.toMatch(/^MemoryDenyWriteExecute=yes/m);
    expect(readFileSync(join(ROOT, "systemd", "sshcad.sysusers"), "utf8")).toMatch(/^u sshcad /m);
  });
});

describe("a running daemon", () => {
  let daemon: TestDaemon;
  let configPath: string;
  let config: any;
  let alice: Person;
  let bob: Person;

  beforeAll(async () => {
    config = e2eConfig({ extra: { scanning: { enabled: false } } });
    configPath = writeConfig(config);
    daemon = await startDaemon({ configPath });
    alice = await makePerson("alice", daemon, await daemon.addUser("alice", ["dev"]));
    bob = await makePerson("bob", daemon, await daemon.addUser("bob", ["sre"]));
  });
  afterAll(() => daemon?.stop());

  test("/healthz, /readyz and /metrics", async () => {
    expect((await api(daemon, "GET", "/healthz")).body).toEqual({ status: "ok" });
    const ready = await api(daemon, "GET", "/readyz");
    expect(ready.status).toBe(200);
    expect(Object.keys(ready.body.checks).sort()).toEqual(["audit", "caKey", "state"]);
    // Some activity so the counters move.
    const id = json<{ id: string }>(
      await alice.sshca(["login", "--role", "debug", "--host", "web-1", "--reason", "m", "--no-wait", "--json"]),
    ).id;
    expect((await bob.sshca(["approve", id])).code).toBe(0);
    const metrics = await api(daemon, "GET", "/metrics");
    expect(metrics.status).toBe(200);
    const text = String(metrics.body);
    for (const name of [
      'sshca_requests{state="issued"} 1',
      "sshca_approvals_total 1",
      "sshca_issuance_seconds_bucket",
      "sshca_active_certificates 1",
      "sshca_audit_fsync_seconds_bucket",
      "sshca_scans_total",
      "sshca_drift_findings_total 0",
      "sshca_webhook_failures_total",
      "sshcad_process_resident_memory_bytes",
    ]) {
      expect(text).toContain(name);
    }
  });

  test("one JSON log line per request, with a request id (echoed to the caller)", async () => {
    const r = await api(daemon, "GET", "/v1/ca");
    expect(r.status).toBe(200);
    await alice.sshca(["whoami"]);
    await new Promise((res) => setTimeout(res, 100));
    const lines = logLines(daemon).filter((l) => l.msg === "request");
    expect(lines.find((l) => l.path === "/v1/whoami")).toMatchObject({
      method: "GET",
      status: 200,
      user: "alice",
      reqId: expect.any(String),
    });
    expect(daemon.proc.stdout()).not.toMatch(/sshca_[a-z2-7]{16}_/); // no token ever reaches the log
  });

  test("SIGHUP reloads users and roles, keeps pending requests, and a bad file keeps the old config", async () => {
    const pending = json<{ id: string }>(
      await alice.sshca([
        "login",
        "--role",
        "debug",
        "--host",
        "web-1",
        "--reason",
        "before reload",
        "--no-wait",
        "--json",
      ]),
    );
    config.roles.hotfix = { principals: [LOGIN], hosts: ["web-1"], requesters: ["dev"], approvers: ["sre"] };
    config.listen.port = 1; // needs a restart: named, not applied
    writeFileSync(configPath, stringify(config));
    daemon.proc.proc.kill("SIGHUP");
    await daemon.proc.waitFor(/"msg":"config reloaded; restart to apply changes to listen"/);
    expect(
      (await alice.sshca(["login", "--role", "hotfix", "--host", "web-1", "--reason", "new role", "--no-wait"])).code,
    ).toBe(0);
    expect(json<{ state: string }>(await alice.sshca(["request", "show", pending.id, "--json"])).state).toBe("pending");

    writeFileSync(configPath, "roles: [this is: not valid\n");
    daemon.proc.proc.kill("SIGHUP");
    await daemon.proc.waitFor(/config reload failed; keeping the running config: .*YAML error/);
    // Said once, not once by the reloader and again by the signal handler.
    expect(daemon.proc.stdout().match(/config reload failed/g)).toHaveLength(1);
    expect(
      (await alice.sshca(["login", "--role", "hotfix", "--host", "web-1", "--reason", "still works", "--no-wait"]))
        .code,
    ).toBe(0);
    expect((await bob.sshca(["approve", pending.id])).code).toBe(0);
    const reloads = auditRecords(daemon.dataDir).filter((r) => r.type === "config.loaded" && r.fields.reload === true);
    expect(reloads).toHaveLength(1);
    expect(reloads[0]!.fields.roles).toContain("hotfix");
    config.listen.port = 0;
    writeFileSync(configPath, stringify(config)); // a valid file again for the restart below
  });

  test("SIGTERM: in-flight requests finish, long-polls answer, the audit log is flushed, exit 0", async () => {
    const waiting = alice.spawn([
      "login",
      "--role",
      "debug",
      "--host",
      "web-2",
      "--reason",
      "waiting at stop",
      "--no-agent",
    ]);
    await waiting.waitFor(/Waiting for approval/);
    const stopped = await daemon.stop();
    expect(stopped.code).toBe(0);
    const lines = logLines(daemon);
    expect(lines.at(-1)?.msg).toBe("sshcad stopped");
    const head = lines.filter((l) => l.msg === "audit chain head").at(-1)!;
    const records = auditRecords(daemon.dataDir);
    expect(head.audit.seq).toBe(records.at(-1)!.seq);
    const done = await waiting.done;
    expect(done.code).toBe(1); // the long-poll answered; the next one found the daemon gone
    expect(done.stderr).toMatch(/cannot reach|shutting down/);
    daemon = await daemon.restart(); // and the state loads again
  });
});
