import { userInfo } from "node:os";
import { startDaemon, type TestDaemon, writeConfig } from "./daemon.js";
import { json, makePerson, type Person } from "./people.js";
import { startSshd, type TestSshd } from "./sshd.js";

/** The local account sshd lets the tests log in as (an unprivileged sshd can only be itself). */
export const LOGIN = userInfo().username;

/** A config for end-to-end tests: loopback hosts, roles granting LOGIN, a free port. */
export function e2eConfig(overrides: { roles?: Record<string, object>; extra?: object } = {}): object {
  return {
    listen: { address: "127.0.0.1", port: 0 },
    groups: { dev: {}, sre: {}, leads: {}, auditors: {}, admins: {} },
    rights: { admin: ["admins"], audit: ["auditors"] },
    hosts: {
      // Scans stay small and deterministic: only port 22, which nothing here listens on.
      "web-1": { address: "127.0.0.1", expectedPorts: [22], scan: { ports: [22] } },
      "web-2": { address: "127.0.0.1", expectedPorts: [22], scan: { ports: [22] } },
      "db-1": { address: "127.0.0.1", expectedPorts: [22], scan: { ports: [22] } },
    },
    roles: {
      debug: {
        principals: [LOGIN],
        hosts: ["web-1", "web-2"],
        requesters: ["dev"],
        approvers: ["sre", "leads"],
        defaultTtl: "15m",
        maxTtl: "1h",
      },
      critical: {
        principals: [LOGIN],
        hosts: ["db-1"],
        requesters: ["dev"],
        approvers: ["sre", "leads"],
        approvalsRequired: 2,
      },
      short: {
        principals: [LOGIN],
        hosts: ["web-1"],
        requesters: ["dev"],
        approvers: ["sre"],
        defaultTtl: "3s",
        maxTtl: "10s",
      },
      selfserve: {
        principals: [LOGIN],
        hosts: ["web-1"],
        requesters: ["dev"],
        autoApprove: true,
        maxTtl: "5m",
      },
      ...overrides.roles,
    },
    ...overrides.extra,
  };
}

export interface World {
  daemon: TestDaemon;
  alice: Person;
  bob: Person;
  carol: Person;
  dave: Person;
}

/** A daemon and four people: alice and carol (dev), bob (sre), dave (leads). */
export async function startWorld(config: object = e2eConfig(), env?: NodeJS.ProcessEnv): Promise<World> {
  const daemon = await startDaemon({ configPath: writeConfig(config), ...(env ? { env } : {}) });
  const person = async (name: string, group: string) => makePerson(name, daemon, await daemon.addUser(name, [group]));
  return {
    daemon,
    alice: await person("alice", "dev"),
    bob: await person("bob", "sre"),
    carol: await person("carol", "dev"),
    dave: await person("dave", "leads"),
  };
}

/** A target host's sshd, set up only from what `sshca ca pubkey` and `sshca principals` print. */
export async function targetHost(operator: Person, host: string, revokedKeys?: string): Promise<TestSshd> {
  const ca = await operator.sshca(["ca", "pubkey"]);
  if (ca.code !== 0) throw new Error(ca.stderr);
  const view = json<{ principals: Record<string, string[]> }>(
    await operator.sshca(["principals", "--host", host, "--json"]),
  );
  return startSshd({
    trustedCaLine: ca.stdout.trim(),
    principals: view.principals,
    ...(revokedKeys ? { revokedKeys } : {}),
  });
}

/** Waits until a backgrounded `sshca login` says which request it is waiting on. */
export async function waitingId(run: {
  waitFor: (p: RegExp, t?: number) => Promise<RegExpMatchArray>;
}): Promise<string> {
  const m = await run.waitFor(/Waiting for approval of (rq_[a-z2-7]{16})/);
  return m[1]!;
}
