import pino from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { SessionFollower } from "../../src/access/session-follower.js";
import type { SessionClosed } from "../../src/access/single-use.js";
import { SshcaError } from "../../src/errors.js";
import { put } from "../../src/store/port.js";
import { openPostgres } from "../../src/store/postgres/pool.js";
import type { PostgresStorage } from "../../src/store/postgres/storage.js";
import { migratedDatabase, openReplica, slowClaims, stallingReads } from "../helpers/postgres-db.js";
import { startPostgres, type TestPostgres } from "../helpers/postgres.js";

/**
 * The single-use follower on two replicas of one PostgreSQL database: only the replica holding
 * the lease hands session.closed records on, each exactly once, and when it stops the other
 * takes over from the durable cursor without handing any on again. What it hands them to (the
 * access service's sessionClosed, tested end to end with sshd) is recorded here.
 */

const log = pino({ level: "silent" });
let pg: TestPostgres;
beforeAll(async () => {
  pg = await startPostgres();
}, 60_000);
afterAll(() => pg?.destroy());

async function until(cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A follower on `storage` that gives each close to `onClose`. Other replicas' commits are not
 * seen as local commits, so by default it looks again every 50 ms.
 */
function follower(
  storage: PostgresStorage,
  onClose: (ev: SessionClosed) => unknown,
  opts: { nextCommit?: () => Promise<void>; leaseMs?: number } = {},
): SessionFollower {
  return new SessionFollower({
    storage,
    log,
    access: {
      sessionClosed: async (ev: SessionClosed) => {
        await onClose(ev);
        return undefined;
      },
    },
    nextCommit: opts.nextCommit ?? (() => new Promise((r) => setTimeout(r, 50))),
    ...(opts.leaseMs !== undefined ? { leaseMs: opts.leaseMs } : {}),
  });
}

/** The host companion's report of session `i` closing, as the audit record it becomes. */
const closeRecord = (i: number) => ({
  type: "session.closed" as const,
  actor: "host:web-1",
  fields: { host: "web-1", serial: String(i), request: `rq_${i}`, at: new Date().toISOString() },
});
const close = (storage: PostgresStorage, i: number) => {
  const { type, actor, fields } = closeRecord(i);
  return storage.append(type, actor, fields);
};

it("one replica follows the closes at a time, each handed on once, and the other takes over from the cursor", async () => {
  const url = await migratedDatabase(pg);
  const [a, b] = [await openReplica(url, "a"), await openReplica(url, "b")];
  const handled: { by: string; seq: number }[] = [];
  const fa = follower(a, (ev) => handled.push({ by: "a", seq: ev.seq }));
  const fb = follower(b, (ev) => handled.push({ by: "b", seq: ev.seq }));
  try {
    fa.start();
    fb.start();
    // Both have started from the head (the cursor exists) before closes are reported.
    await until(() => a.state.cursors["single-use"] !== undefined);
    const first: number[] = [];
    for (let i = 0; i < 10; i++) first.push((await close(i % 2 ? a : b, i)).seq);
    await until(() => handled.length >= 10);
    expect(handled.map((h) => h.seq)).toEqual(first);
    const holder = handled[0]!.by;
    expect(new Set(handled.map((h) => h.by))).toEqual(new Set([holder]));

    // The holder stops (releasing its lease); the other goes on from the durable cursor.
    await (holder === "a" ? fa : fb).stop();
    const later: number[] = [];
    for (let i = 10; i < 15; i++) later.push((await close(holder === "a" ? a : b, i)).seq);
    await until(() => handled.length >= 15);
    expect(handled.slice(10)).toEqual(later.map((seq) => ({ by: holder === "a" ? "b" : "a", seq })));
    expect(handled).toHaveLength(15);
  } finally {
    await fa.stop();
    await fb.stop();
    await a.close();
    await b.close();
  }
});

it("a follower that cannot take its lease (the database unreachable) waits and carries on", async () => {
  const url = await migratedDatabase(pg);
  const storage = await openReplica(url, "flaky");
  // The first three lease attempts meet a database that is down, as during a restart.
  let down = 3;
  const flaky = Object.create(storage) as PostgresStorage;
  flaky.claim = async (kind, key, ms) => {
    if (down-- > 0) throw new SshcaError("unavailable", "the database is unavailable: connection refused");
    return storage.claim(kind, key, ms);
  };
  const handled: number[] = [];
  const f = follower(flaky, (ev) => handled.push(ev.seq));
  try {
    f.start();
    await until(() => storage.state.cursors["single-use"] !== undefined);
    const closed = await close(storage, 7);
    await until(() => handled.length === 1);
    expect(handled).toEqual([closed.seq]);
    expect(down).toBeLessThan(0);
  } finally {
    await f.stop();
    await storage.close();
  }
});

it.each(["waiting for the next commit", "reading the audit log"])(
  "a follower whose lease lapsed while %s, as another replica handled a close, does not hand it on again",
  async (stalledIn) => {
    const url = await migratedDatabase(pg);
    const [a, b] = [await openReplica(url, "a"), await openReplica(url, "b")];
    const handled: number[] = [];
    // A's wait for the next commit ends only when the test says so, and its reads of the audit
    // log can be stalled: A is stalled there (a long pause) while its lease lapses.
    let waits = 0;
    let wakeA: () => void = () => undefined;
    const reads = stallingReads(a);
    const fa = follower(reads.storage, (ev) => handled.push(ev.seq), {
      nextCommit: () => {
        waits++;
        return new Promise<void>((r) => (wakeA = r));
      },
    });
    try {
      fa.start();
      await until(() => waits === 1);
      const before = a.state.cursors["single-use"]!;
      if (stalledIn === "reading the audit log") {
        reads.stall();
        wakeA();
        await until(() => reads.stalled);
      }
      // A's lease lapsed; B took it, handled a close, moved the cursor past it, let go.
      const db = openPostgres({ url, log, applicationName: "test" });
      await db.query("UPDATE leases SET until = now() - interval '1 second' WHERE kind = 'follower'");
      await db.close();
      expect(await b.claim("follower", "single-use", 30_000)).toBe(true);
      const closed = await close(b, 9);
      await b.sync();
      await b.commit(
        [],
        [put("cursors", "single-use", { cursor: closed.seq }, { entry: b.state.cursors["single-use"]! })],
      );
      await b.release("follower", "single-use");
      expect(b.state.cursors["single-use"]).not.toEqual(before);

      // A carries on, takes the lease back and waits again: it handed nothing on, and follows
      // from B's cursor.
      reads.release();
      wakeA();
      await until(() => waits === 2);
      expect(handled).toEqual([]);
      expect(a.state.cursors["single-use"]).toEqual({ cursor: closed.seq });
    } finally {
      reads.release();
      wakeA();
      await fa.stop();
      await a.close();
      await b.close();
    }
  },
);

it("a follower handling a batch longer than its lease renews it as it goes: the other replica handles none of it again", async () => {
  const url = await migratedDatabase(pg);
  const [a, b] = [await openReplica(url, "a"), await openReplica(url, "b")];
  const handled: string[] = [];
  // A 3 s lease; each close takes A 1.2 s to handle (a slow KRL rebuild, say), so a batch of
  // four outlasts the lease.
  const fa = follower(
    a,
    async (ev) => {
      handled.push(`a:${ev.seq}`);
      await new Promise((r) => setTimeout(r, 1200));
    },
    { leaseMs: 3000 },
  );
  const fb = follower(b, (ev) => handled.push(`b:${ev.seq}`), { leaseMs: 3000 });
  try {
    fa.start();
    await until(() => a.state.cursors["single-use"] !== undefined);
    const records = await a.commit([1, 2, 3, 4].map(closeRecord));
    await until(() => handled.length >= 1);
    fb.start(); // B is ready to take over the moment A's lease lapses
    const last = records.at(-1)!.seq;
    await until(() => a.state.cursors["single-use"]?.cursor === last);
    expect(handled).toEqual(records.map((r) => `a:${r.seq}`));
  } finally {
    await fa.stop();
    await fb.stop();
    await a.close();
    await b.close();
  }
});

it("with a database too slow for any renewal to be trusted, the follower hands nothing on and stops when told", async () => {
  const url = await migratedDatabase(pg);
  const a = await openReplica(url, "a");
  // Every claim takes 400 ms, more than a third of the 900 ms lease.
  const slow = slowClaims(a, 400);
  const handled: number[] = [];
  const f = follower(slow.storage, (ev) => handled.push(ev.seq), { leaseMs: 900 });
  f.start();
  let stopped = false;
  try {
    await until(() => a.state.cursors["single-use"] !== undefined);
    await close(a, 5);
    await until(() => slow.claims >= 10);
    expect(handled).toEqual([]);
    const t0 = Date.now();
    await Promise.race([f.stop().then(() => (stopped = true)), new Promise((r) => setTimeout(r, 3000))]);
    expect(stopped).toBe(true);
    expect(Date.now() - t0).toBeLessThan(3000);
  } finally {
    if (!stopped) void f.stop(); // it did not stop: the test has failed; do not wait on it
    await a.close();
  }
}, 60_000);
