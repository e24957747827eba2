import pino from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { syslogListSchema } from "../../src/config/syslog-schema.js";
import { SyslogWorker } from "../../src/notify/syslog-worker.js";
import { openPostgres } from "../../src/store/postgres/pool.js";
import { PostgresStorage } from "../../src/store/postgres/storage.js";
import { put } from "../../src/store/port.js";
import { migratedDatabase, openDeafReplica } from "../helpers/postgres-db.js";
import { startPostgres, type TestPostgres } from "../helpers/postgres.js";
import { startSyslogReceiver } from "../helpers/syslog-receiver.js";

/**
 * The syslog export on two replicas of one PostgreSQL database, when the holder's lease lapses
 * while it is stalled and another replica sends in its place. (The export across restarts and
 * outages is tested end to end in test/e2e/syslog.test.ts.)
 */

const log = pino({ level: "silent" });
let pg: TestPostgres;
beforeAll(async () => {
  pg = await startPostgres();
}, 60_000);
afterAll(() => pg?.destroy());

async function until(cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

it("an exporter whose lease lapsed while another replica sent its records does not send them again", async () => {
  const url = await migratedDatabase(pg);
  const open = (replica: string) =>
    PostgresStorage.open({
      db: openPostgres({ url, log, applicationName: replica }),
      log,
      now: () => new Date(),
      replica,
    });
  const [a, b] = [await open("a"), await open("b")];
  const rx = await startSyslogReceiver();
  const [dest] = syslogListSchema.parse([
    { name: "siem", url: `tcp://127.0.0.1:${rx.port}`, retry: { initial: "1s", max: "1s" } },
  ]);
  // A's reads of the audit log wait while `stall` is set: A is stalled there (a long pause of
  // the process, say), and its lease lapses meanwhile.
  let stall: Promise<void> | undefined;
  let release: () => void = () => undefined;
  let stalled = false;
  const gated = Object.create(a) as PostgresStorage;
  gated.cursor = (after) => {
    const reader = a.cursor(after);
    return {
      read: async (max) => {
        if (stall) {
          stalled = true;
          await stall;
        }
        return reader.read(max);
      },
    };
  };
  const worker = new SyslogWorker(
    dest!,
    {},
    {
      storage: gated,
      log,
      nextCommit: () => new Promise((r) => setTimeout(r, 50)),
      hostname: "a",
      pid: 1,
      // Renewed every second, so the test does not wait ten.
      leaseMs: 3000,
    },
  );
  const seqs = () => rx.received.map((r) => Number(r.message.sd["sshca@32473"]!.seq));
  worker.start();
  try {
    const first = await a.append("user.added", "admin", { user: "u1" });
    await until(() => seqs().includes(first.seq), "A to send the first record");
    stall = new Promise<void>((r) => (release = r));
    await until(() => stalled, "A to stall in a read");

    // Meanwhile A's lease lapses; B takes it, sends a record, moves the cursor past it, lets go.
    const end = Date.now() + 20_000;
    while (!(await b.claim("syslog", "siem", 3000))) {
      if (Date.now() > end) throw new Error("A's lease did not lapse");
      await new Promise((r) => setTimeout(r, 100));
    }
    const sentByB = await b.append("user.added", "admin", { user: "u2" });
    await b.sync();
    await b.commit([], [put("syslog", "siem", { cursor: sentByB.seq }, { entry: b.state.syslog.siem! })]);
    await b.release("syslog", "siem");

    // A's read returns what B sent; A checks its lease before sending, and goes on from B's
    // cursor: the next record comes, the one B sent does not.
    stall = undefined;
    release();
    const next = await a.append("user.added", "admin", { user: "u3" });
    await until(() => seqs().includes(next.seq), "A to send the next record");
    expect(seqs()).toEqual([first.seq, next.seq]);
  } finally {
    release();
    await worker.stop();
    await a.close();
    await b.close();
    await rx.close();
  }
}, 60_000);

it("an exporter paused right after its lease was renewed does not trust that renewal", async () => {
  const url = await migratedDatabase(pg);
  // A hears of no other replica's change by itself: what it learns, it learns from its claims.
  const a = await openDeafReplica(openPostgres({ url, log, applicationName: "a" }), "a");
  const b = await PostgresStorage.open({
    db: openPostgres({ url, log, applicationName: "b" }),
    log,
    now: () => new Date(),
    replica: "b",
  });
  const rx = await startSyslogReceiver();
  const [dest] = syslogListSchema.parse([
    { name: "siem", url: `tcp://127.0.0.1:${rx.port}`, retry: { initial: "1s", max: "1s" } },
  ]);
  // A read waits while `readGate` is set; a renewal, once the database has made it, waits while
  // `pauseGate` is set (the process paused right then).
  let readGate: Promise<void> | undefined;
  let pauseGate: Promise<void> | undefined;
  let [inRead, paused] = [false, false];
  const gated = Object.create(a) as PostgresStorage;
  gated.cursor = (after) => {
    const reader = a.cursor(after);
    return {
      read: async (max) => {
        if (readGate) {
          inRead = true;
          await readGate;
        }
        return reader.read(max);
      },
    };
  };
  gated.claim = async (kind, key, ms) => {
    const held = await a.claim(kind, key, ms);
    if (held && pauseGate) {
      paused = true;
      const gate = pauseGate;
      pauseGate = undefined;
      await gate;
    }
    return held;
  };
  const worker = new SyslogWorker(
    dest!,
    {},
    {
      storage: gated,
      log,
      nextCommit: () => new Promise((r) => setTimeout(r, 50)),
      hostname: "a",
      pid: 1,
      leaseMs: 3000,
    },
  );
  const seqs = () => rx.received.map((r) => Number(r.message.sd["sshca@32473"]!.seq));
  let openRead: () => void = () => undefined;
  let resume: () => void = () => undefined;
  worker.start();
  try {
    const first = await a.append("user.added", "admin", { user: "u1" });
    await until(() => seqs().includes(first.seq), "A to send the first record");
    // A waits in a read long enough for its renewal to be due once the read returns.
    readGate = new Promise<void>((r) => (openRead = r));
    await until(() => inRead, "A to wait in a read");
    const second = await a.append("user.added", "admin", { user: "u2" });
    await new Promise((r) => setTimeout(r, 1200));
    pauseGate = new Promise<void>((r) => (resume = r));
    readGate = undefined;
    openRead();
    // A read u2 and renewed its lease; it pauses before it goes on, and the lease lapses.
    await until(() => paused, "A to pause after its renewal");
    const end = Date.now() + 20_000;
    while (!(await b.claim("syslog", "siem", 3000))) {
      if (Date.now() > end) throw new Error("A's lease did not lapse");
      await new Promise((r) => setTimeout(r, 100));
    }
    await b.sync();
    await b.commit([], [put("syslog", "siem", { cursor: second.seq }, { entry: b.state.syslog.siem! })]);
    await b.release("syslog", "siem");

    // A goes on: its renewal took longer than a third of the lease, so it renews again (a take
    // now, which catches up) and finds the cursor moved: u2 is not sent again.
    resume();
    const next = await a.append("user.added", "admin", { user: "u3" });
    await until(() => seqs().includes(next.seq), "A to send the next record");
    expect(seqs()).toEqual([first.seq, next.seq]);
  } finally {
    openRead();
    resume();
    await worker.stop();
    await a.close();
    await b.close();
    await rx.close();
  }
}, 60_000);

it("with a database too slow for any renewal to be trusted, the exporter sends nothing and stops when told", async () => {
  const url = await migratedDatabase(pg);
  const a = await PostgresStorage.open({
    db: openPostgres({ url, log, applicationName: "a" }),
    log,
    now: () => new Date(),
    replica: "a",
  });
  const rx = await startSyslogReceiver();
  const [dest] = syslogListSchema.parse([
    { name: "siem", url: `tcp://127.0.0.1:${rx.port}`, from: "start", retry: { initial: "1s", max: "1s" } },
  ]);
  // Every claim takes 400 ms, more than a third of the 900 ms lease.
  let claims = 0;
  const slow = Object.create(a) as PostgresStorage;
  slow.claim = async (kind, key, ms) => {
    claims++;
    await new Promise((r) => setTimeout(r, 400));
    return a.claim(kind, key, ms);
  };
  await a.append("user.added", "admin", { user: "u1" });
  const worker = new SyslogWorker(
    dest!,
    {},
    {
      storage: slow,
      log,
      nextCommit: () => new Promise((r) => setTimeout(r, 50)),
      hostname: "a",
      pid: 1,
      leaseMs: 900,
    },
  );
  worker.start();
  let stopped = false;
  try {
    await until(() => claims >= 10, "A to try its lease ten times");
    expect(rx.received).toEqual([]);
    const t0 = Date.now();
    await Promise.race([worker.stop().then(() => (stopped = true)), new Promise((r) => setTimeout(r, 3000))]);
    expect(stopped).toBe(true);
    expect(Date.now() - t0).toBeLessThan(3000);
  } finally {
    if (!stopped) void worker.stop(); // it did not stop: the test has failed; do not wait on it
    await a.close();
    await rx.close();
  }
}, 60_000);
