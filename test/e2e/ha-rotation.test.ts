import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { api } from "../helpers/api.js";
import type { TestDaemon } from "../helpers/daemon.js";
import { json, makePerson, type Person } from "../helpers/people.js";
import { startPostgres, type TestPostgres } from "../helpers/postgres.js";
import { run } from "../helpers/procs.js";
import { type Replicas, startReplicas } from "../helpers/replicas.js";
import { e2eConfig } from "../helpers/scenario.js";
import { tool } from "../helpers/tools.js";

/**
 * A user CA rotation across two replicas on one PostgreSQL database: the phase is in the shared
 * key set, so what one replica stages the other publishes at once; a replica that lacks the new
 * key file says so (status, /readyz) and refuses to switch; once it has it, either may switch,
 * and the other signs with the new key from then on.
 */
let pg: TestPostgres;
let r: Replicas;
let a: TestDaemon;
let b: TestDaemon;
let alice: Person;
let bob: Person;

interface Status {
  phase: string;
  signing: string;
  keys: { fingerprint: string; status: string; file?: string; problem?: string }[];
}

/** Polls `check` until it returns a value (a condition, not a sleep), at most `ms`. */
async function until<T>(check: () => Promise<T | undefined>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error("condition not reached in time");
    await new Promise((res) => setTimeout(res, 50));
  }
}

beforeAll(async () => {
  pg = await startPostgres();
  r = await startReplicas(pg, 2, e2eConfig({ extra: { scanning: { enabled: false } } }));
  [a, b] = r.daemons as [TestDaemon, TestDaemon];
  alice = await makePerson("alice", a, await a.addUser("alice", ["dev"]));
  bob = await makePerson("bob", b, await b.addUser("bob", ["sre"]));
}, 120_000);
afterAll(async () => {
  await r?.stop();
  await pg?.destroy();
});

describe("CA rotation across replicas", () => {
  let next: Status["keys"][number];

  test("a key staged on replica A is published by replica B within a second", async () => {
    const staged = await a.sshcad(["ca", "rotate", "stage", "--json"]);
    expect(staged.code, staged.stderr).toBe(0);
    next = (JSON.parse(staged.stdout) as Status).keys.find((k) => k.status === "next")!;
    const started = Date.now();
    await until(async () => {
      const view = (await api(b, "GET", "/v1/ca")).body as { keys: unknown[] };
      return view.keys.length === 2 ? true : undefined;
    }, 5000);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  test("replica B lacks the new key file: its status and /readyz say so, and it refuses to switch", async () => {
    const s = json<Status>(await b.sshcad(["ca", "status", "--json"]));
    expect(s.keys.find((k) => k.status === "next")?.problem).toMatch(/no CA key at .*ca_key-[0-9a-f]{12}/);
    const ready = await api(b, "GET", "/readyz");
    expect(ready.status).toBe(503);
    expect(ready.body.checks.caKey.detail).toMatch(/user CA next key: no CA key at/);
    const sw = await b.sshcad(["ca", "rotate", "switch"]);
    expect(sw.code).toBe(1);
    expect(sw.stderr).toMatch(/cannot switch to SHA256:\S+: no CA key at/);
    expect(json<Status>(await a.sshcad(["ca", "status", "--json"])).phase).toBe("staged");
  });

  test("with the key file copied, B switches; A signs with the new key from then on", async () => {
    const from = join(a.dataDir, "ca", next.file!);
    const to = join(b.dataDir, "ca", next.file!);
    copyFileSync(from, to);
    expect((await api(b, "GET", "/readyz")).status).toBe(200);
    const sw = await b.sshcad(["ca", "rotate", "switch"]);
    expect(sw.code, sw.stderr).toBe(0);
    await until(
      async () => ((await api(a, "GET", "/v1/ca")).body.fingerprint === next.fingerprint ? true : undefined),
      5000,
    );

    const req = json<{ id: string }>(
      await alice.sshca(["login", "--role", "debug", "--host", "web-1", "--reason", "r", "--no-wait", "--json"]),
    );
    expect((await bob.sshca(["approve", req.id])).code).toBe(0);
    expect((await alice.sshca(["request", "wait", req.id, "--no-agent"])).code).toBe(0);
    const l = await run(tool("ssh-keygen"), ["-L", "-f", `${alice.key}-cert.pub`]);
    expect(l.stdout).toContain(`Signing CA: ED25519 ${next.fingerprint}`);
  });
});
