import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { api } from "../helpers/api.js";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { json, makePerson, type Person } from "../helpers/people.js";
import { startPostgres, type TestPostgres } from "../helpers/postgres.js";
import { run } from "../helpers/procs.js";
import { provisionFrom, type Replicas, startReplicas } from "../helpers/replicas.js";
import { e2eConfig, LOGIN, targetHost } from "../helpers/scenario.js";
import { ssh, type TestSshd } from "../helpers/sshd.js";
import { tempDir } from "../helpers/tmp.js";
import { tool } from "../helpers/tools.js";

/**
 * Several sshcad replicas on one PostgreSQL database, as real processes with the real CLI:
 * any replica answers any request, a change on one reaches the others within a second, and
 * a replica that is not of this CA refuses to start.
 */

let pg: TestPostgres;
let r: Replicas;
let alice: Person; // dev, talks to replica A
let bob: Person; // sre, talks to replica B
let dave: Person; // leads, talks to replica A
let web1: TestSshd;
const krlFile = join(tempDir("ha-target"), "revoked.krl");

beforeAll(async () => {
  pg = await startPostgres();
  r = await startReplicas(pg, 2, e2eConfig());
  const [a, b] = r.daemons as [NonNullable<Replicas["daemons"][0]>, NonNullable<Replicas["daemons"][0]>];
  // Users added through either replica's admin socket land in the one database.
  alice = await makePerson("alice", a, await a.addUser("alice", ["dev"]));
  bob = await makePerson("bob", b, await b.addUser("bob", ["sre"]));
  dave = await makePerson("dave", a, await b.addUser("dave", ["leads"]));
  writeFileSync(krlFile, readFileSync(join(b.dataDir, "krl", "revoked.krl")));
  web1 = await targetHost(bob, "web-1", krlFile);
}, 120_000);
afterAll(async () => {
  await web1?.stop();
  await r?.stop();
  await pg?.destroy();
});

/** The time of the one audit record of `type` about `request`, from the database. */
async function recordTime(type: string, request: string): Promise<number> {
  const rows = (await r.records()).filter((x) => x.type === type && x.fields.request === request);
  expect(rows).toHaveLength(1);
  return Date.parse(rows[0]!.time);
}

describe("replicas on PostgreSQL", () => {
  test("an approval on replica B answers a CLI long-poll waiting on replica A within a second", async () => {
    const [a] = r.daemons as [TestDaemon];
    const login = alice.spawn(["login", "--role", "debug", "--host", "web-1", "--reason", "INC-1", "--no-agent"]);
    const m = await login.waitFor(/Waiting for approval of (rq_[a-z2-7]{16})/);
    const id = m[1]!;
    // The same long-poll the CLI is in, timed where it is answered (the CLI's own exit also
    // includes fetching and writing the certificate, which a loaded machine slows down).
    const seen = await api(a, "GET", `/v1/requests/${id}`, { token: alice.env.SSHCA_TOKEN! });
    const poll = api(a, "GET", `/v1/requests/${id}?version=${seen.body.version}&wait=30`, {
      token: alice.env.SSHCA_TOKEN!,
    }).then((res) => ({ res, at: Date.now() }));
    expect((await bob.sshca(["approve", id])).code).toBe(0);
    const woken = await poll;
    expect(woken.res.status).toBe(200);
    expect(woken.res.body.version).toBeGreaterThan(seen.body.version);
    const approvedAt = await recordTime("request.approved", id);
    expect(woken.at - approvedAt).toBeLessThan(1000);
    // And the CLI waiting on A got its certificate.
    const done = await login.done;
    expect(done.code, done.stderr).toBe(0);
    const s = await ssh({ port: web1.port, user: LOGIN, key: alice.key, command: "echo in" });
    expect(s.code, s.stderr).toBe(0);
  });

  test("a revocation on replica A is in replica B's KRL within a second, and a real sshd using it refuses the certificate", async () => {
    const [, b] = r.daemons;
    const req = json<{ id: string }>(
      await alice.sshca([
        "login",
        "--role",
        "debug",
        "--host",
        "web-1",
        "--reason",
        "x",
        "--no-wait",
        "--new",
        "--json",
      ]),
    );
    expect((await bob.sshca(["approve", req.id])).code).toBe(0);
    const done = json<{ serial: string }>(await alice.sshca(["request", "wait", req.id, "--no-agent", "--json"]));
    expect((await ssh({ port: web1.port, user: LOGIN, key: alice.key, command: "true" })).code).toBe(0);

    const revoked = await dave.sshca(["revoke", "--request", req.id, "--reason", "left the team"]);
    expect(revoked.code, revoked.stderr).toBe(0);
    const revokedAt = await recordTime("certificate.revoked", req.id);
    const bKrl = join(tempDir("krl-b"), "b.krl");
    let seenAt = 0;
    for (let i = 0; i < 100 && seenAt === 0; i++) {
      writeFileSync(bKrl, await krlOverTls(b!.url, b!.dataDir));
      const q = await run(tool("ssh-keygen"), ["-Q", "-f", bKrl, `${alice.key}-cert.pub`]);
      if (/REVOKED/.test(q.stdout)) seenAt = Date.now();
      else await new Promise((res) => setTimeout(res, 50));
    }
    expect(seenAt).toBeGreaterThan(0);
    expect(seenAt - revokedAt).toBeLessThan(1000);
    // The target host syncs B's KRL; sshd refuses the certificate.
    writeFileSync(krlFile, readFileSync(bKrl));
    const after = await ssh({ port: web1.port, user: LOGIN, key: alice.key, command: "true" });
    expect(after.code).toBe(255);
    expect(web1.log()).toMatch(/revoked/i);
    expect(done.serial).toMatch(/^\d+$/);
  });

  test("a replica whose CA key is not the database's refuses to start, and says which key to copy", async () => {
    // Its own data directory, no keys copied: it would make a new CA.
    const fresh = await startDaemon({ configPath: r.configPath }).then(
      () => undefined,
      (err: Error) => err,
    );
    expect(fresh?.message).toMatch(/is missing, and the database belongs to the CA key SHA256:/);
    // Another CA's key in place of the right one.
    const dataDir = provisionFrom(r.daemons[0]!);
    const other = join(tempDir("other-ca"), "k");
    expect((await run(tool("ssh-keygen"), ["-q", "-t", "ed25519", "-N", "", "-f", other])).code).toBe(0);
    writeFileSync(join(dataDir, "ca", "ca_key"), readFileSync(other), { mode: 0o600 });
    const wrong = await run(process.execPath, [
      join(import.meta.dirname, "..", "..", "dist", "src", "main.js"),
      "--config",
      r.configPath,
      "--data-dir",
      dataDir,
      "serve",
    ]);
    expect(wrong.code).toBe(78);
    expect(wrong.stderr).toMatch(/is not the one the database belongs to .*copy it from a running replica/);
  });

  test("a client cannot multiply its request limit by the number of replicas", async () => {
    const [a, b] = r.daemons;
    const erin = await a!.addUser("erin", ["dev"]);
    const body = {
      role: "debug",
      hosts: ["web-1"],
      reason: "limit",
      publicKey: readFileSync(`${alice.key}.pub`, "utf8"),
    };
    const statuses: number[] = [];
    // limits.requestsPerMinute is 20: each replica alone would allow 20.
    for (let i = 0; i < 40; i++)
      statuses.push((await api(i % 2 ? a! : b!, "POST", "/v1/requests", { token: erin, body })).status);
    const created = statuses.filter((s) => s === 201).length;
    expect(created).toBeGreaterThanOrEqual(20);
    expect(created).toBeLessThanOrEqual(22); // at most one more per replica before the shared count applies
    expect(statuses.slice(-10).every((s) => s === 429)).toBe(true);
  });

  test("/readyz on each replica names the database check", async () => {
    for (const d of r.daemons) {
      const ready = await api(d, "GET", "/readyz");
      expect(ready.status).toBe(200);
      expect(Object.keys(ready.body.checks).sort()).toEqual(["caKey", "database", "nmap"]);
    }
  });
});

/** GET /v1/krl over HTTPS trusting the replica's TLS CA. */
async function krlOverTls(url: string, dataDir: string): Promise<Buffer> {
  const { request } = await import("node:https");
  const ca = readFileSync(join(dataDir, "tls", "ca.crt"));
  return new Promise((resolve, reject) => {
    const req = request(new URL("/v1/krl", url), { ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve(Buffer.concat(chunks)));
    });
    req.on("error", reject);
    req.end();
  });
}
