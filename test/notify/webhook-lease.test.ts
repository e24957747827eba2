import { createServer, type Server } from "node:http";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it, test } from "vitest";
import type { WebhookConfig } from "../../src/config/schema.js";
import { backoffMs, leaseMs } from "../../src/notify/webhook-lease.js";
import { WebhookWorker } from "../../src/notify/webhook-worker.js";
import { openPostgres } from "../../src/store/postgres/pool.js";
import { PostgresStorage } from "../../src/store/postgres/storage.js";
import { put } from "../../src/store/port.js";
import { startPostgres, type TestPostgres } from "../helpers/postgres.js";
import { migratedDatabase, openDeafReplica } from "../helpers/postgres-db.js";

/**
 * The webhook worker against real PostgreSQL replicas: it survives a database restart (and gives
 * its lease back on stop), and holds its lease through every delivery attempt, so a slow receiver
 * does not get the same event from a second replica.
 */

const log = pino({ level: "silent" });
const now = () => new Date();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
let pgc: TestPostgres;
beforeAll(async () => {
  pgc = await startPostgres();
}, 60_000);
afterAll(() => pgc?.destroy());

let n = 0;
const fresh = () => migratedDatabase(pgc);
const dbName = (url: string) => url.split("/").pop();
const open = (url: string) =>
  PostgresStorage.open({
    db: openPostgres({ url, log, applicationName: "webhook-lease" }),
    log,
    now,
    replica: `wl${++n}`,
    pollMs: 200,
  });

async function waitFor(what: () => boolean | Promise<boolean>, timeoutMs: number, label: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await what())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${label}`);
    await sleep(100);
  }
}

/**
 * A receiver on loopback recording each delivery's idempotency key as it arrives; `answer` decides
 * the status, and when to send it: after `delayMs`, or once `until` resolves.
 */
async function receiver(
  answer: (nth: number) => { status: number; delayMs?: number; until?: Promise<void> } = () => ({ status: 204 }),
) {
  const keys: string[] = [];
  const srv: Server = createServer((req, res) => {
    const { status, delayMs = 0, until } = answer(keys.length);
    keys.push(String(req.headers["idempotency-key"]));
    req.resume();
    const reply = () => setTimeout(() => res.writeHead(status).end(), delayMs);
    if (until) void until.then(reply);
    else reply();
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const port = (srv.address() as { port: number }).port;
  return {
    keys,
    url: `http://127.0.0.1:${port}/`,
    close: () => {
      srv.closeAllConnections();
      srv.close();
    },
  };
}

const hookFor = (url: string, timeout: number) =>
  ({
    name: "h",
    url,
    events: ["*"],
    format: "json",
    timeout,
    retry: { initial: 1, max: 1 },
  }) as unknown as WebhookConfig;

function worker(hook: WebhookConfig, storage: PostgresStorage, logger = log) {
  return new WebhookWorker(hook, "secret", {
    storage,
    log: logger,
    recipients: () => ({ users: [], groups: [] }),
    nextCommit: () => sleep(200),
  });
}

const leaseRows = async (url: string) =>
  Number(await pgc.psql("SELECT count(*) FROM leases WHERE kind = 'webhook'", dbName(url)));

describe("webhook worker on PostgreSQL", () => {
  it("keeps delivering on every replica across a database restart; a delivery cut off by stop is sent again by the replica that takes over", async () => {
    const url = await fresh();
    const [a, b] = [await open(url), await open(url)];
    // The third delivery (the first of event 3) gets no answer until the test lets it go.
    let letGo = () => {};
    const held = new Promise<void>((r) => (letGo = r));
    const rx = await receiver((nth) => ({ status: 204, until: nth === 2 ? held : undefined }));
    const hook = hookFor(rx.url, 30);
    const wa = worker(hook, a);
    wa.start();
    // A holds the lease (it set the cursor) before B, the standby, starts.
    await waitFor(() => a.state.webhooks.h !== undefined, 10_000, "A to take the lease");
    const wb = worker(hook, b);
    wb.start();
    try {
      const first = await a.append("user.added", "admin", { user: "a" });
      // Delivered and recorded (the cursor past it): a restart before that would send it again.
      await waitFor(() => (a.state.webhooks.h?.cursor ?? 0) >= first.seq, 10_000, "the first delivery");
      expect(rx.keys).toEqual([`h:${first.seq}`]);

      await pgc.restart();
      // Commits fail while the server comes back; retry until one lands.
      let second: { seq: number } | undefined;
      await waitFor(
        async () =>
          (second = await a.append("user.added", "admin", { user: "b" }).catch(() => undefined)) !== undefined,
        30_000,
        "the database to accept commits again",
      );
      await waitFor(() => (a.state.webhooks.h?.cursor ?? 0) >= second!.seq, 30_000, "a delivery after the restart");
      expect(rx.keys).toEqual([`h:${first.seq}`, `h:${second!.seq}`]);

      // A stops while the receiver has event 3 but has not answered: A cuts the attempt off,
      // records nothing for it, and lets go. The standby B, which also lived through the restart,
      // takes over from A's cursor: it sends event 3 again, under the same idempotency key, and
      // nothing before it.
      const third = await a.append("user.added", "admin", { user: "c" });
      await waitFor(() => rx.keys.length >= 3, 10_000, "event 3 to reach the receiver");
      await wa.stop();
      expect(a.state.webhooks.h?.cursor).toBe(second!.seq);
      await waitFor(() => (b.state.webhooks.h?.cursor ?? 0) >= third.seq, 30_000, "B to take over");
      expect(rx.keys).toEqual([`h:${first.seq}`, `h:${second!.seq}`, `h:${third.seq}`, `h:${third.seq}`]);
      await wb.stop();
      expect(await leaseRows(url)).toBe(0);
    } finally {
      letGo();
      await Promise.all([wa.stop(), wb.stop()]);
      await a.close();
      await b.close();
      rx.close();
    }
  }, 120_000);

  it("a receiver slower than the old 30 s lease gets each event once, from one replica", async () => {
    const url = await fresh();
    const [a, b] = [await open(url), await open(url)];
    // The first delivery takes 48 s (within the configured 60 s timeout); the rest are quick.
    const rx = await receiver((nth) => ({ status: 204, delayMs: nth === 0 ? 48_000 : 0 }));
    const hook = hookFor(rx.url, 60);
    const wa = worker(hook, a);
    wa.start();
    await waitFor(() => a.state.webhooks.h !== undefined, 10_000, "A to take the lease");
    const wb = worker(hook, b); // B starts after A holds the lease
    wb.start();
    try {
      const slow = await a.append("user.added", "admin", { user: "a" });
      const quick = await a.append("user.added", "admin", { user: "b" });
      // Done once the cursor passed both events (A's slow delivery was accepted, then the quick one).
      await waitFor(() => (a.state.webhooks.h?.cursor ?? 0) >= quick.seq, 80_000, "both events to be delivered");
      expect(rx.keys).toEqual([`h:${slow.seq}`, `h:${quick.seq}`]);
    } finally {
      await Promise.all([wa.stop(), wb.stop()]);
      await a.close();
      await b.close();
      rx.close();
    }
  }, 120_000);

  it("a worker whose lease was taken over stops retrying and leaves the cursor alone", async () => {
    const url = await fresh();
    const s = await open(url);
    const rx = await receiver(() => ({ status: 503 }));
    const lines: string[] = [];
    const wlog = pino({ level: "info" }, { write: (l: string) => lines.push(l) });
    const w = worker(hookFor(rx.url, 5), s, wlog);
    w.start();
    try {
      await waitFor(() => s.state.webhooks.h !== undefined, 10_000, "the worker to take the lease");
      const cursor = s.state.webhooks.h!.cursor;
      await s.append("user.added", "admin", { user: "a" });
      await waitFor(() => rx.keys.length >= 2, 10_000, "two failed attempts");
      // Another replica took the lease (as one would after this one's lease lapsed).
      await pgc.psql(
        "UPDATE leases SET owner = 'another', until = now() + interval '1 hour' WHERE kind = 'webhook'",
        dbName(url),
      );
      await waitFor(
        () => lines.some((l) => l.includes("taken over by another replica")),
        10_000,
        "the worker to notice",
      );
      const attempts = rx.keys.length;
      // Retries came every ~1 s (retry.max 1s): three such intervals without one shows it stopped.
      await sleep(3000);
      expect(rx.keys.length).toBe(attempts);
      expect(s.state.webhooks.h?.cursor).toBe(cursor);
    } finally {
      await w.stop();
      await s.close();
      rx.close();
    }
  }, 60_000);

  it("a worker whose lease lapsed mid-retry, while another replica sent the event, does not send it again", async () => {
    const url = await fresh();
    // A hears of no other replica's change by itself: what it learns, it learns from its claims.
    const a = await openDeafReplica(openPostgres({ url, log, applicationName: "webhook-lease" }), `wl${++n}`);
    const b = await open(url);
    const rx = await receiver(() => ({ status: 503 }));
    const lines: string[] = [];
    const wlog = pino({ level: "info" }, { write: (l: string) => lines.push(l) });
    // Retries 3 s (±25%) apart, so the test can act while A waits between two attempts.
    const w = worker({ ...hookFor(rx.url, 5), retry: { initial: 3, max: 3 } }, a, wlog);
    w.start();
    try {
      await waitFor(() => a.state.webhooks.h !== undefined, 10_000, "A to take the lease");
      const event = await a.append("user.added", "admin", { user: "a" });
      await waitFor(() => rx.keys.length >= 1, 10_000, "a failed attempt");
      await sleep(300); // A has had its 503 and renewed its lease for the wait
      // Meanwhile (as if A had stalled past its lease): B held it, sent the event, moved the
      // cursor past it and let go; A's lease is lapsed.
      await b.sync();
      await b.commit([], [put("webhooks", "h", { cursor: event.seq }, { entry: b.state.webhooks.h! })]);
      await pgc.psql("UPDATE leases SET until = now() - interval '1 second' WHERE kind = 'webhook'", dbName(url));
      const attempts = rx.keys.length;
      await waitFor(() => lines.some((l) => l.includes("taken over by another replica")), 10_000, "A to notice");
      // It noticed before its next attempt, and sends nothing more (a retry would come within 4 s).
      await sleep(4000);
      expect(rx.keys.length).toBe(attempts);
      expect(a.state.webhooks.h?.cursor).toBe(event.seq);
    } finally {
      await w.stop();
      await a.close();
      await b.close();
      rx.close();
    }
  }, 60_000);
});

describe("webhook lease and backoff", () => {
  test.each([
    { timeout: 1, want: 60_000 },
    { timeout: 10, want: 60_000 },
    { timeout: 60, want: 150_000 },
    { timeout: 120, want: 270_000 },
  ])("ok/a $timeout s attempt timeout gets a $want ms lease, longer than the attempt", ({ timeout, want }) => {
    expect(leaseMs({ timeout })).toBe(want);
    expect(leaseMs({ timeout })).toBeGreaterThan(timeout * 1000 + 30_000);
  });

  test.each([
    { attempt: 0, random: 0.5, want: 500 },
    { attempt: 3, random: 0.5, want: 4000 },
    { attempt: 10, random: 0.5, want: 15_000 },
    { attempt: 1000, random: 0.999, want: Math.round(15_000 * (0.75 + 0.999 * 0.5)) },
    { attempt: 2, random: 0, want: 1500 },
  ])(
    "ok/backoff of attempt $attempt with random $random is $want ms (capped, jittered)",
    ({ attempt, random, want }) => {
      expect(backoffMs(attempt, 500, 15_000, random)).toBe(want);
    },
  );
});
