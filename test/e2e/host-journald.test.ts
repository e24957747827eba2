import { afterAll, beforeAll, expect, test } from "vitest";
import { auditRecords } from "../helpers/audit-files.js";
import { type CompanionHost, companionHost, waitForAudit } from "../helpers/companion.js";
import { startJournald, type TestJournald } from "../helpers/journald.js";
import { json } from "../helpers/people.js";
import { e2eConfig, LOGIN, startWorld, type World } from "../helpers/scenario.js";
import { ssh } from "../helpers/sshd.js";

/**
 * sshd logging through syslog into a real journald (a namespace of its own), and the companion
 * following it with journalctl from a cursor it keeps across restarts.
 */
let w: World;
let journald: TestJournald;
let web1: CompanionHost;

beforeAll(async () => {
  journald = await startJournald();
  w = await startWorld(e2eConfig({ extra: { scanning: { enabled: false } } }));
  web1 = await companionHost(w.daemon, "web-1", { journald });
  await web1.startCompanion("1s");
});
afterAll(async () => {
  await web1?.stop();
  await w?.daemon.stop();
  await journald?.stop();
});

test("logins read from journald are reported, and a companion restart resumes at its cursor", async () => {
  const req = json<{ id: string }>(
    await w.alice.sshca(["login", "--role", "debug", "--host", "web-1", "--reason", "INC-8", "--no-wait", "--json"]),
  );
  expect((await w.bob.sshca(["approve", req.id])).code).toBe(0);
  const { serial } = json<{ serial: string }>(await w.alice.sshca(["request", "wait", req.id, "--no-agent", "--json"]));
  const login = () => ssh({ port: web1.sshd.port, user: LOGIN, key: w.alice.key, command: "true" });
  expect((await login()).code).toBe(0);
  const closed = await waitForAudit(
    w.daemon.dataDir,
    (r) => r.type === "session.closed" && r.fields.request === req.id,
  );
  expect(closed.fields).toMatchObject({ host: "web-1", serial, login: LOGIN });

  await web1.stopCompanion();
  expect((await login()).code).toBe(0); // while the companion is down
  await web1.startCompanion("1s");
  const sessions = () =>
    auditRecords(w.daemon.dataDir).filter((r) => r.type.startsWith("session.") && r.fields.request === req.id);
  await waitForAudit(w.daemon.dataDir, () => sessions().length === 4);
  expect(sessions().map((r) => r.type)).toEqual([
    "session.opened",
    "session.closed",
    "session.opened",
    "session.closed",
  ]);
  // Each from its own journal entry: the second login's records carry the second connection's port.
  expect(sessions()[2]!.fields.port).not.toBe(sessions()[0]!.fields.port);
});
