import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { AuditRecord } from "../../src/audit/record.js";
import { api } from "../helpers/api.js";
import type { TestDaemon } from "../helpers/daemon.js";
import { startPostgres, type TestPostgres } from "../helpers/postgres.js";
import { run } from "../helpers/procs.js";
import { type Receiver, startReceiver } from "../helpers/receiver.js";
import { startReplicas } from "../helpers/replicas.js";
import { e2eConfig, LOGIN } from "../helpers/scenario.js";
import { tempDir } from "../helpers/tmp.js";
import { tool } from "../helpers/tools.js";

/**
 * Three replicas under load, one of them SIGKILLed in the middle: whatever a client received
 * is in the one chain, background work (expiry scans, pending expiries, webhook deliveries)
 * happens once across the replicas, and a restart of PostgreSQL itself loses and duplicates
 * nothing.
 */

let pg: TestPostgres;
let receiver: Receiver;
let publicKey: string;

beforeAll(async () => {
  pg = await startPostgres();
  receiver = await startReceiver();
  process.env.HA_HOOK_SECRET = "s3cret-for-the-test-receiver";
  const key = join(tempDir("ha-key"), "id");
  expect((await run(tool("ssh-keygen"), ["-q", "-t", "ed25519", "-N", "", "-f", key])).code).toBe(0);
  publicKey = readFileSync(`${key}.pub`, "utf8").trim();
}, 60_000);
afterAll(async () => {
  await receiver?.close();
  await pg?.destroy();
});

const config = () =>
  e2eConfig({
    roles: {
      selfserve: { principals: [LOGIN], hosts: ["web-1"], requesters: ["dev"], autoApprove: true, maxTtl: "5m" },
      slow: { principals: [LOGIN], hosts: ["web-2"], requesters: ["dev"], approvers: ["sre"], pendingTtl: "3s" },
    },
    extra: {
      limits: { requestsPerMinute: 100_000, connectionsPerAddress: 4000, connections: 8000 },
      webhooks: [{ name: "all", url: receiver.url("/hook"), events: ["*"], secretEnv: "HA_HOOK_SECRET" }],
    },
  });

/** POST /v1/requests on `d`; a replica that died or answered 503 is left for the next one. */
async function ask(
  ds: TestDaemon[],
  first: number,
  token: string,
  body: object,
): Promise<{ status: number; body: any; via: number }> {
  for (let i = 0; i < ds.length * 20; i++) {
    const at = (first + i) % ds.length;
    const d = ds[at]!;
    const res = await api(d, "POST", "/v1/requests", { token, body }).catch(() => undefined);
    if (res && res.status !== 503) return { ...res, via: at };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("no replica answered");
}

async function waitUntil(what: string, check: () => Promise<boolean>, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const ofType = (records: AuditRecord[], type: string) => records.filter((r) => r.type === type);

test("three replicas, 200 concurrent issuances, one SIGKILLed mid-load: every received certificate is in one verified chain, and background work ran once", async () => {
  const r = await startReplicas(pg, 3, config());
  try {
    const [a, b, c] = r.daemons as [TestDaemon, TestDaemon, TestDaemon];
    const token = await a.addUser("alice", ["dev"]);
    const startSeq = Math.max(...(await r.records()).map((x) => x.seq));

    // Requests that will wait for approval and expire after 3 s, made on every replica.
    const pending = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        ask(r.daemons, i, token, { role: "slow", hosts: ["web-2"], reason: `pending ${i}`, publicKey }),
      ),
    );
    expect(pending.every((p) => p.status === 201)).toBe(true);

    // 200 issuances at once, spread over the replicas; C is killed when a third have answered.
    let answered = 0;
    let killed: Promise<unknown> | undefined;
    const issued = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const res = await ask(r.daemons, i, token, {
          role: "selfserve",
          hosts: ["web-1"],
          reason: `load ${i}`,
          ttl: 20,
          publicKey,
        });
        if (++answered === 66) killed = c.kill();
        return res;
      }),
    );
    await killed;
    const live = [a, b];
    expect(issued.every((x) => x.status === 201)).toBe(true);
    const received = issued.map((x) => x.body.serial as string);
    expect(new Set(received).size).toBe(200);

    // Every certificate a client received has exactly one issuance record.
    let records = await r.records();
    const issuance = ofType(records, "certificate.issued");
    for (const serial of received) expect(issuance.filter((x) => x.fields.serial === serial)).toHaveLength(1);
    // No request was issued twice.
    const perRequest = new Map<string, number>();
    for (const x of issuance)
      perRequest.set(x.fields.request as string, (perRequest.get(x.fields.request as string) ?? 0) + 1);
    expect([...perRequest.values()].every((n) => n === 1)).toBe(true);

    // Each pending request expired exactly once, the killed replica's included.
    await waitUntil(
      "pending expiries",
      async () => ofType(await r.records(), "request.expired").length >= pending.length,
      30_000,
    );
    records = await r.records();
    for (const p of pending) {
      expect(ofType(records, "request.expired").filter((x) => x.fields.request === p.body.id)).toHaveLength(1);
    }

    // Each certificate's expiry scan ran exactly once (20 s certificates; nmap on loopback).
    const expiryScans = (rs: AuditRecord[]) =>
      rs.filter((x) => (x.type === "scan.finished" || x.type === "scan.failed") && x.fields.trigger === "expiry");
    await waitUntil("expiry scans", async () => expiryScans(await r.records()).length >= issuance.length, 180_000);
    records = await r.records();
    const started = records.filter((x) => x.type === "scan.started" && x.fields.trigger === "expiry");
    for (const x of issuance) {
      expect(expiryScans(records).filter((s) => s.fields.request === x.fields.request)).toHaveLength(1);
      expect(started.filter((s) => s.fields.request === x.fields.request)).toHaveLength(1);
    }

    // Every event after the webhook started reached the receiver once, in order.
    const head = Math.max(...records.map((x) => x.seq));
    await waitUntil(
      "webhook deliveries",
      async () => receiver.deliveries.some((d) => d.body.id === `all:${head}`),
      60_000,
    );
    const ids = receiver.deliveries.map((d) => d.body.id as string);
    expect(new Set(ids).size).toBe(ids.length);
    const seqs = ids.map((id) => Number(id.split(":")[1]));
    expect(seqs[0]).toBeLessThanOrEqual(startSeq + 1);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => seqs[0]! + i));

    // One chain, verified by a surviving replica.
    const verified = await live[1]!.sshcad(["audit", "verify"]);
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stderr).toContain(`audit log ok: ${head} records`);
  } finally {
    await r.stop();
  }
}, 400_000);

test("PostgreSQL restarted mid-load: clients get 503 with Retry-After meanwhile, nothing is lost or duplicated, and the replicas recover by themselves", async () => {
  const r = await startReplicas(pg, 2, config());
  try {
    const token = await r.daemons[0]!.addUser("alice", ["dev"]);
    const statuses: number[] = [];
    const retryAfter: (string | undefined)[] = [];
    const received: string[] = [];
    let stop = false;
    const client = async (n: number) => {
      for (let i = 0; !stop; i++) {
        const d = r.daemons[(n + i) % 2]!;
        const res = await api(d, "POST", "/v1/requests", {
          token,
          // reuse: false: each call asks anew (the same key would otherwise get the live certificate again).
          body: { role: "selfserve", hosts: ["web-1"], reason: `c${n}-${i}`, ttl: 60, publicKey, reuse: false },
        }).catch(() => undefined);
        if (!res) continue;
        statuses.push(res.status);
        if (res.status === 201) received.push(res.body.serial as string);
        else if (res.status === 503) {
          retryAfter.push(res.headers["retry-after"] as string | undefined);
          await new Promise((x) => setTimeout(x, 200));
        }
      }
    };
    const clients = Array.from({ length: 8 }, (_, n) => client(n));
    await waitUntil("some issuances", async () => received.length >= 40, 60_000);
    await pg.restart();
    const after = received.length;
    await waitUntil("issuances after the restart", async () => received.length >= after + 40, 60_000);
    stop = true;
    await Promise.all(clients);

    expect(statuses.every((s) => s === 201 || s === 503)).toBe(true);
    expect(retryAfter.every((x) => x === "5")).toBe(true);
    const records = await r.records().catch((e: unknown) => {
      throw new Error(`reading the database after its restart failed: ${String(e)}`);
    });
    const issuance = ofType(records, "certificate.issued");
    for (const serial of received) expect(issuance.filter((x) => x.fields.serial === serial)).toHaveLength(1);
    const requests = issuance.map((x) => x.fields.request);
    expect(new Set(requests).size).toBe(requests.length);
    for (const d of r.daemons) {
      // A replica that stopped listening is a failure to name, with its exit and its last words.
      const readyz = () =>
        api(d, "GET", "/readyz").catch((e: unknown) => {
          const p = d.proc.proc;
          throw new Error(
            `replica ${d.url} unreachable (${String(e)}; exit ${p.exitCode}, signal ${p.signalCode}):\n${d.proc.stdout().slice(-4000)}\n${d.proc.stderr().slice(-2000)}`,
          );
        });
      await waitUntil("ready again", async () => (await readyz()).status === 200, 30_000);
      const verified = await d.sshcad(["audit", "verify"]);
      expect(verified.code, verified.stderr).toBe(0);
    }
  } finally {
    await r.stop();
  }
}, 300_000);
