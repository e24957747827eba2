import { chmodSync, chownSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { json, makePerson } from "../helpers/people.js";
import { e2eConfig } from "../helpers/scenario.js";
import { tempDir } from "../helpers/tmp.js";
import { api } from "../helpers/api.js";
import { liveState } from "../helpers/audit-files.js";
import { stringify } from "yaml";

/** Root ignores file permissions, so as root the daemon runs as nobody for this test. */
const NOBODY = 65534;
let daemon: TestDaemon | undefined;
afterAll(() => daemon?.stop());

test("an unwritable audit directory makes issuance answer 503 and issue nothing", async () => {
  const base = tempDir("unwritable");
  const configPath = join(base, "sshcad.yaml");
  writeFileSync(configPath, stringify(e2eConfig()));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) chownSync(base, NOBODY, NOBODY);
  if (asRoot) chownSync(configPath, NOBODY, NOBODY);
  daemon = await startDaemon({ configPath, dataDir: join(base, "data"), ...(asRoot ? { uid: NOBODY } : {}) });
  const alice = await makePerson("alice", daemon, await daemon.addUser("alice", ["dev"]));
  const bob = await makePerson("bob", daemon, await daemon.addUser("bob", ["sre"]));
  const pending = json<{ id: string }>(
    await alice.sshca(["login", "--role", "debug", "--host", "web-1", "--reason", "INC-3", "--no-wait", "--json"]),
  );
  const auditDir = join(daemon.dataDir, "audit");

  const stateBefore = await liveState(daemon.dataDir);

  chmodSync(auditDir, 0o000);
  try {
    const approve = await bob.sshca(["approve", pending.id]);
    expect(approve.code).toBe(1);
    expect(approve.stderr).toMatch(/\nsshca: the audit log cannot be written \(EACCES\); nothing was changed\n$/);

    const auto = await alice.sshca(["login", "--role", "selfserve", "--host", "web-1", "--reason", "x", "--no-agent"]);
    expect(auto.code).toBe(1);
    expect(auto.stderr).toContain("the audit log cannot be written (EACCES)");

    const shown = json<{ state: string; approvals: unknown[] }>(
      await alice.sshca(["request", "show", pending.id, "--json"]),
    );
    expect(shown).toMatchObject({ state: "pending", approvals: [] });
    const state = await liveState(daemon.dataDir);
    expect(Object.keys(state.requests)).toEqual(Object.keys(stateBefore.requests));
    expect(JSON.stringify(state)).not.toContain("-cert-v01@openssh.com");
    expect(daemon.proc.stdout()).toMatch(/"code":"EACCES".*"msg":"audit log write failed"/);
    const ready = await api(daemon, "GET", "/readyz");
    expect(ready.status).toBe(503);
    expect(ready.body.error.message).toMatch(/^not ready: audit \(/);
    expect(ready.body.checks.state.ok).toBe(true);
  } finally {
    chmodSync(auditDir, 0o700);
  }

  // Once the log is writable again, the same approval goes through.
  expect((await bob.sshca(["approve", pending.id])).code).toBe(0);
  const done = await alice.sshca(["request", "wait", pending.id, "--no-agent", "--json"]);
  expect(done.code, done.stderr).toBe(0);
  expect((await daemon.sshcad(["audit", "verify"])).code).toBe(0);
});
