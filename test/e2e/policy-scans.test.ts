import { afterAll, beforeAll, expect, test } from "vitest";
import { auditRecords } from "../helpers/audit-files.js";
import { freePortOn, listen } from "../helpers/listeners.js";
import { json, type Person } from "../helpers/people.js";
import { e2eConfig, LOGIN, startWorld, type World } from "../helpers/scenario.js";

/**
 * Scan-aware approval with real nmap: an auto-approved role issues without a person only while
 * its host's latest scan matches the expected ports and no drift is unresolved; drift blocks it
 * (or, with onDrift: refuse, the request itself) until an approver marks it resolved.
 */

/** Scans here only touch 127.0.0.3, on a port the test opens and closes itself. */
const TARGET = "127.0.0.3";
let w: World;
let port: number;

async function until<T>(what: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await what();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 100));
  }
}
const login = async (who: Person, role: string, extra: string[] = []) =>
  who.sshca(["login", "--role", role, "--host", "svc-1", "--reason", "routine", "--no-agent", "--json", ...extra]);
const scan = async () => {
  const r = await w.bob.sshca(["scan", "svc-1", "--json"]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
};

beforeAll(async () => {
  port = await freePortOn(TARGET);
  w = await startWorld(
    e2eConfig({
      roles: {
        selfcheck: {
          principals: [LOGIN],
          hosts: ["svc-1"],
          requesters: ["dev"],
          approvers: ["sre"],
          autoApprove: true,
          scanAware: {},
        },
        guarded: {
          principals: [LOGIN],
          hosts: ["svc-1"],
          requesters: ["dev"],
          approvers: ["sre"],
          scanAware: { onDrift: "refuse" },
        },
      },
      extra: {
        hosts: {
          "web-1": { address: "127.0.0.1", expectedPorts: [22], scan: { ports: [22] } },
          "web-2": { address: "127.0.0.1", expectedPorts: [22], scan: { ports: [22] } },
          "db-1": { address: "127.0.0.1", expectedPorts: [22], scan: { ports: [22] } },
          "svc-1": { address: TARGET, expectedPorts: [], scan: { ports: [port], timeout: "20s" } },
        },
      },
    }),
  );
});
afterAll(async () => {
  await w?.daemon.stop();
});

test("a host never scanned needs an approval; once its scan is clean the role auto-approves", async () => {
  const first = json<any>(await login(w.alice, "selfcheck", ["--no-wait"]));
  expect(first.state).toBe("pending");
  expect(first.stages).toEqual([
    expect.objectContaining({ name: "scan", missing: 1, because: "svc-1 has not been scanned yet", canClose: ["bob"] }),
  ]);
  expect((await w.alice.sshca(["request", "cancel", first.id])).code).toBe(0);

  expect((await scan()).outcome).toBe("ok");
  const auto = await login(w.alice, "selfcheck");
  expect(auto.code, auto.stderr).toBe(0);
  expect(auto.stderr).toContain("Auto-approved (role selfcheck has autoApprove)");
  const issued = JSON.parse(auto.stdout);
  expect(issued.state).toBe("issued");
  // Its issue-time scan also records svc-1's status: let it land before the port opens below.
  await until(async () => {
    const r = json<any>(await w.alice.sshca(["request", "show", issued.id, "--json"]));
    return r.scans?.["svc-1"]?.issue ? r : undefined;
  });
});

test("drift blocks auto-approval (and refuses onDrift: refuse) until an approver marks it resolved", async () => {
  // A port outside the expected ones opens, is seen, and closes again: the drift stays open.
  const stray = await listen(TARGET, port);
  const seen = await scan();
  expect(seen.ports.find((p: any) => p.port === port)?.state).toBe("open");
  await stray.close();
  expect((await scan()).ports.find((p: any) => p.port === port)?.state).not.toBe("open");

  const hosts = await w.bob.sshca(["drift", "list"]);
  expect(hosts.code, hosts.stderr).toBe(0);
  expect(hosts.stdout).toMatch(
    new RegExp(`svc-1\\s+\\S+ ok \\S+\\s+-\\s+UNRESOLVED since \\S+: open but not expected ${port}/tcp( \\(\\S+\\))?`),
  );

  const blocked = json<any>(await login(w.alice, "selfcheck", ["--new", "--no-wait"]));
  expect(blocked.state).toBe("pending");
  expect(blocked.stages[0].because).toMatch(
    new RegExp(
      `^svc-1 has unresolved drift since \\S+ \\(scan sc_\\w+: open but not expected ${port}/tcp( \\(\\S+\\))?\\)$`,
    ),
  );

  const refused = await login(w.alice, "guarded", ["--no-wait"]);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(
    /^sshca: role guarded cannot be requested while a host has unresolved drift: svc-1 has unresolved drift since .*; an approver of a role covering the host marks it resolved once they looked: sshca drift resolve svc-1 --comment "\.\.\." \(bob\)\n$/,
  );

  // The requester cannot clear it; an approver of a role covering the host can, with a comment.
  const own = await w.alice.sshca(["drift", "resolve", "svc-1", "--comment", "fine"]);
  expect(own.code).toBe(1);
  expect(own.stderr).toBe("sshca: no host svc-1 in the inventory that you may see\n");
  const resolved = await w.bob.sshca(["drift", "resolve", "svc-1", "--comment", "a test listener, now gone"]);
  expect(resolved.code, resolved.stderr).toBe(0);
  // nmap adds the service name its table has for the (random) port, "unknown" or another.
  expect(resolved.stdout).toMatch(
    new RegExp(`Drift on svc-1 marked resolved \\(open but not expected ${port}/tcp( \\(\\S+\\))?\\)`),
  );
  const rec = auditRecords(w.daemon.dataDir).find((r) => r.type === "host.drift_resolved");
  expect(rec).toMatchObject({ actor: "bob", fields: { host: "svc-1", comment: "a test listener, now gone" } });

  const auto = await login(w.alice, "selfcheck", ["--new"]);
  expect(auto.code, auto.stderr).toBe(0);
  expect(JSON.parse(auto.stdout).state).toBe("issued");
  expect((await login(w.alice, "guarded", ["--no-wait"])).code).toBe(0);
});
