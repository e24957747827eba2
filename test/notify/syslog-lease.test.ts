import pino from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { syslogListSchema } from "../../src/config/syslog-schema.js";
import { SyslogWorker } from "../../src/notify/syslog-worker.js";
import { openPostgres } from "../../src/store/postgres/pool.js";
import type { PostgresStorage } from "../../src/store/postgres/storage.js";
import { put } from "../../src/store/port.js";
import { migratedDatabase, openDeafReplica, openReplica, slowClaims, stallingReads } from "../helpers/postgres-db.js";
import { startPostgres, type TestPostgres } from "../helpers/postgres.js";
import { startSyslogReceiver, type SyslogReceiver } from "../helpers/syslog-receiver.js";

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

/** Replica A's exporter to `rx` on `storage`, with a short lease (renewed every third of it). */
function exporter(rx: SyslogReceiver, storage: PostgresStorage, leaseMs: number, from: "now" | "start" = "now") {
  const [dest] = syslogListSchema.parse([
    { name: "siem", url: `tcp://127.0.0.1:${rx.port}`, from, retry: { initial: "1s", max: "1s" } },
  ]);
  return new SyslogWorker(
    dest!,
    {},
    { storage, log, nextCommit: () => new Promise((r) => setTimeout(r, 50)), hostname: "a", pid: 1, leaseMs },
  );
}

const seqsOf = (rx: SyslogReceiver) => rx.received.map((r) => Number(r.message.sd["sshca@32473"]!.seq));

/** Replica B, once A's lease has lapsed: takes it, sends up to `seq`, moves the cursor there, lets go. */
async function takeOverAndSend(b: PostgresStorage, seq: number): Promise<void> {
  const end = Date.now() + 20_000;
  while (!(await b.claim("syslog", "siem", 3000))) {
    if (Date.now() > end) throw new Error("A's lease did not lapse");
    await new Promise((r) => setTimeout(r, 100));
  }
  await b.sync();
  await b.commit([], [put("syslog", "siem", { cursor: seq }, { entry: b.state.syslog.siem! })]);
  await b.release("syslog", "siem");
}

it("an exporter whose lease lapsed while another replica sent its records does not send them again", async () => {
  const url = await migratedDatabase(pg);
  const [a, b] = [await openReplica(url, "a"), await openReplica(url, "b")];
  const rx = await startSyslogReceiver();
  // A's reads of the audit log can be stalled (a long pause of the process, say), and its lease
  // lapses meanwhile. Renewed every second, so the test does not wait ten.
  const reads = stallingReads(a);
  const worker = exporter(rx, reads.storage, 3000);
  const seqs = () => seqsOf(rx);
  worker.start();
  try {
    const first = await a.append("user.added", "admin", { user: "u1" });
    await until(() => seqs().includes(first.seq), "A to send the first record");
    reads.stall();
    await until(() => reads.stalled, "A to stall in a read");

    // Meanwhile A's lease lapses; B takes it, sends a record, moves the cursor past it, lets go.
    const sentByB = await b.append("user.added", "admin", { user: "u2" });
    await takeOverAndSend(b, sentByB.seq);

    // A's read returns what B sent; A checks its lease before sending, and goes on from B's
    // cursor: the next record comes, the one B sent does not.
    reads.release();
    const next = await a.append("user.added", "admin", { user: "u3" });
    await until(() => seqs().includes(next.seq), "A to send the next record");
    expect(seqs()).toEqual([first.seq, next.seq]);
  } finally {
    reads.release();
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
  const b = await openReplica(url, "b");
  const rx = await startSyslogReceiver();
  // A's reads can be stalled; a renewal, once the database has made it, waits while `pauseGate`
  // is set (the process paused right then).
  const reads = stallingReads(a);
  let pauseGate: Promise<void> | undefined;
  let paused = false;
  const gated = Object.create(reads.storage) as PostgresStorage;
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
  const worker = exporter(rx, gated, 3000);
  const seqs = () => seqsOf(rx);
  let resume: () => void = () => undefined;
  worker.start();
  try {
    const first = await a.append("user.added", "admin", { user: "u1" });
    await until(() => seqs().includes(first.seq), "A to send the first record");
    // A waits in a read long enough for its renewal to be due once the read returns.
    reads.stall();
    await until(() => reads.stalled, "A to wait in a read");
    const second = await a.append("user.added", "admin", { user: "u2" });
    await new Promise((r) => setTimeout(r, 1200));
    pauseGate = new Promise<void>((r) => (resume = r));
    reads.release();
    // A read u2 and renewed its lease; it pauses before it goes on, and the lease lapses.
    await until(() => paused, "A to pause after its renewal");
    await takeOverAndSend(b, second.seq);

    // A goes on: its renewal took longer than a third of the lease, so it renews again (a take
    // now, which catches up) and finds the cursor moved: u2 is not sent again.
    resume();
    const next = await a.append("user.added", "admin", { user: "u3" });
    await until(() => seqs().includes(next.seq), "A to send the next record");
    expect(seqs()).toEqual([first.seq, next.seq]);
  } finally {
    reads.release();
    resume();
    await worker.stop();
    await a.close();
    await b.close();
    await rx.close();
  }
}, 60_000);

it("with a database too slow for any renewal to be trusted, the exporter sends nothing and stops when told", async () => {
  const url = await migratedDatabase(pg);
  const a = await openReplica(url, "a");
  const rx = await startSyslogReceiver();
  // Every claim takes 400 ms, more than a third of the 900 ms lease.
  const slow = slowClaims(a, 400);
  await a.append("user.added", "admin", { user: "u1" });
  const worker = exporter(rx, slow.storage, 900, "start");
  worker.start();
  let stopped = false;
  try {
    await until(() => slow.claims >= 10, "A to try its lease ten times");
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
