import { type AddressInfo, connect, createServer, type Socket } from "node:net";
import { Writable } from "node:stream";
import type { Logger } from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../../src/daemon/logger.js";
import { SshcaError } from "../../src/errors.js";
import { openPostgres, type Postgres } from "../../src/store/postgres/pool.js";
import { startPostgres, type TestPostgres } from "../helpers/postgres.js";

/** The daemon's own logger, every line kept (debug and up). */
function capturedLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { log: createLogger({ SSHCAD_LOG_LEVEL: "debug" }, dest), lines };
}

/** Neither the URL nor its password, in anything a caller or an operator can see. */
function expectNoSecret(pgc: TestPostgres, ...texts: string[]): void {
  for (const t of texts) {
    expect(t).not.toContain(pgc.password);
    expect(t).not.toContain(pgc.url);
    expect(t).not.toMatch(/postgres(ql)?:\/\//);
  }
}

function describeError(err: unknown): string {
  const e = err as Error;
  return `${e.message}\n${e.stack ?? ""}\n${JSON.stringify(e)}\n${String((e as { cause?: unknown }).cause ?? "")}`;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

describe("PostgreSQL pool", () => {
  let pgc: TestPostgres;
  let db: Postgres;
  let lines: string[];
  beforeAll(async () => {
    pgc = await startPostgres();
  });
  beforeEach(async () => {
    const captured = capturedLogger();
    lines = captured.lines;
    db = openPostgres({
      url: pgc.url,
      log: captured.log,
      applicationName: "pool-test",
      max: 3,
      connectionTimeoutMs: 3000,
    });
    await db.query("CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY, v text)");
    await db.query("TRUNCATE t");
    return () => db.close();
  });
  afterAll(async () => {
    await pgc?.destroy();
  });

  it("a stopped database gives `unavailable` errors with neither URL nor password in them or in the log", async () => {
    await db.query("SELECT 1"); // an idle pooled connection exists when the server goes away
    await pgc.stop();
    try {
      const errors = [await rejection(db.query("SELECT 1")), await rejection(db.tx(async (c) => c.query("SELECT 1")))];
      for (const err of errors) {
        expect(err).toBeInstanceOf(SshcaError);
        expect(err).toMatchObject({ code: "unavailable", message: "the database is unavailable: connection refused" });
        expectNoSecret(pgc, describeError(err));
      }
      expect(lines.join("")).toMatch(/database connection lost/); // the idle connection's end was seen
      expectNoSecret(pgc, lines.join(""));
    } finally {
      await pgc.restart();
    }
    // The same pool, not a new one, serves again.
    expect((await db.query("SELECT 2 AS two")).rows).toEqual([{ two: 2 }]);
    expect(db.pool.waitingCount).toBe(0);
  });

  it("recovers by itself after a crash of the server (kill, restart)", async () => {
    await db.tx(async (c) => c.query("INSERT INTO t VALUES (1, 'before')"));
    await pgc.kill();
    await expect(db.query("SELECT 1")).rejects.toMatchObject({ code: "unavailable" });
    await pgc.restart();
    expect((await db.query("SELECT v FROM t")).rows).toEqual([{ v: "before" }]);
  });

  it("a connection lost in the middle of a transaction: `unavailable`, no crash, nothing committed, no client leaked", async () => {
    const err = await rejection(
      db.tx(async (c) => {
        await c.query("INSERT INTO t VALUES (2, 'half')");
        await pgc.stop(); // the server ends this session (57P01) while the transaction is open
        await c.query("INSERT INTO t VALUES (3, 'never')");
      }),
    );
    expect(err).toMatchObject({ code: "unavailable" });
    expect((err as Error).message).toMatch(
      /^the database is unavailable: (the server is shutting down|connection lost)$/,
    );
    expectNoSecret(pgc, describeError(err), lines.join(""));
    await pgc.restart();
    expect((await db.query("SELECT count(*)::int AS n FROM t")).rows).toEqual([{ n: 0 }]);
    expect(db.pool.totalCount).toBe(db.pool.idleCount); // nothing checked out
  });

  it("the server ending a session in the same packet that finished opening it: `unavailable`, no crash", async () => {
    // A proxy that appends the shutdown notice (FATAL 57P01) right after the server's first
    // ReadyForQuery, in one write: pg hands the new client to its caller and then reads the
    // notice, in one go, before the caller can listen for errors. That is what a server
    // shutting down as a connection is made looks like, and it crashed a replica mid-test
    // (an unhandled 'error' event on the client).
    const target = new URL(pgc.url);
    const field = (code: string, text: string) => Buffer.concat([Buffer.from(code), Buffer.from(`${text}\0`)]);
    const body = Buffer.concat([
      field("S", "FATAL"),
      field("V", "FATAL"),
      field("C", "57P01"),
      field("M", "terminating connection due to administrator command"),
      Buffer.from([0]),
    ]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(body.length + 4);
    const notice = Buffer.concat([Buffer.from("E"), len, body]);
    const sockets = new Set<Socket>();
    const proxy = createServer((client) => {
      const server = connect(Number(target.port), target.hostname);
      for (const s of [client, server]) {
        sockets.add(s);
        s.on("error", () => undefined);
      }
      client.pipe(server);
      let pending = Buffer.alloc(0); // what came from the server and was not parsed yet
      server.on("data", (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        // Server messages: a type byte, then a length that counts itself (PostgreSQL protocol 3).
        let at = 0;
        while (at + 5 <= pending.length) {
          const end = at + 1 + pending.readUInt32BE(at + 1);
          if (end > pending.length) break;
          if (pending[at] === 0x5a /* Z: ReadyForQuery */) {
            client.end(Buffer.concat([pending.subarray(0, end), notice]));
            server.destroy();
            return;
          }
          at = end;
        }
        client.write(pending.subarray(0, at));
        pending = pending.subarray(at);
      });
    });
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
    const url = new URL(pgc.url);
    url.port = String((proxy.address() as AddressInfo).port);
    const viaProxy = openPostgres({ url: url.toString(), log: capturedLogger().log, applicationName: "pool-test" });
    try {
      for (const attempt of [() => viaProxy.tx(async (c) => c.query("SELECT 1")), () => viaProxy.query("SELECT 1")]) {
        const err = await rejection(attempt());
        expect(err).toBeInstanceOf(SshcaError);
        expect(err).toMatchObject({ code: "unavailable" });
      }
    } finally {
      await viaProxy.close();
      for (const s of sockets) s.destroy();
      proxy.close();
    }
  });

  it("wrong credentials and a malformed URL are refused without echoing them", async () => {
    const wrong = pgc.url.replace(pgc.password, "wrong-secret-123");
    const other = openPostgres({ url: wrong, log: capturedLogger().log, applicationName: "pool-test" });
    try {
      const err = await rejection(other.query("SELECT 1"));
      expect(err).toMatchObject({ code: "unavailable", message: "the database is unavailable: authentication failed" });
      expect(describeError(err)).not.toContain("wrong-secret-123");
    } finally {
      await other.close();
    }
    const bad = "postgresql://sshca:hunter2@[::1/sshca";
    const err = await rejection(
      Promise.resolve().then(() => openPostgres({ url: bad, log: capturedLogger().log, applicationName: "x" })),
    );
    expect(err).toMatchObject({ code: "config_invalid" });
    expect(describeError(err)).not.toContain("hunter2");
  });

  it("tx commits on success and rolls back on error, releasing its client every time", async () => {
    expect(await db.tx(async (c) => (await c.query("INSERT INTO t VALUES (10, 'kept') RETURNING id")).rows[0])).toEqual(
      {
        id: 10,
      },
    );
    const boom = new Error("boom");
    // More failures than the pool has connections: a leaked client would exhaust it.
    for (let i = 0; i < 8; i++) {
      await expect(
        db.tx(async (c) => {
          await c.query("INSERT INTO t VALUES ($1, 'rolled back')", [100 + i]);
          throw boom;
        }),
      ).rejects.toBe(boom);
      // A database error inside the transaction passes through as it is (not `unavailable`).
      await expect(db.tx(async (c) => c.query("INSERT INTO t VALUES (10, 'dup')"))).rejects.toMatchObject({
        code: "23505",
      });
    }
    expect((await db.query("SELECT id, v FROM t ORDER BY id")).rows).toEqual([{ id: 10, v: "kept" }]);
    expect(db.pool.totalCount).toBeLessThanOrEqual(3);
    expect(db.pool.idleCount).toBe(db.pool.totalCount);
    expect(db.pool.waitingCount).toBe(0);
  });

  it("tx runs a transaction again after a serialization failure (40001)", async () => {
    // Two SERIALIZABLE transactions each read what the other writes: one must fail and rerun.
    let attempts = 0;
    let arrived = 0;
    let release!: () => void;
    const bothRead = new Promise<void>((r) => (release = r));
    const run = (id: number) =>
      db.tx(
        async (c) => {
          attempts++;
          const n = (await c.query<{ n: number }>("SELECT count(*)::int AS n FROM t")).rows[0]!.n;
          if (++arrived === 2) release();
          if (arrived <= 2) await bothRead; // first attempts only: both have read before either writes
          await c.query("INSERT INTO t VALUES ($1, $2)", [id, `saw ${n}`]);
        },
        { isolation: "serializable" },
      );
    await Promise.all([run(1), run(2)]);
    expect(attempts).toBe(3);
    expect((await db.query("SELECT v FROM t ORDER BY v")).rows).toEqual([{ v: "saw 0" }, { v: "saw 1" }]);
  });

  it("tx runs a transaction again after a deadlock (40P01)", async () => {
    await db.query("INSERT INTO t VALUES (1, 'a'), (2, 'b')");
    let attempts = 0;
    let arrived = 0;
    let release!: () => void;
    const bothLocked = new Promise<void>((r) => (release = r));
    const run = (first: number, second: number) =>
      db.tx(async (c) => {
        attempts++;
        await c.query("UPDATE t SET v = v || '+' WHERE id = $1", [first]);
        if (++arrived === 2) release();
        if (arrived <= 2) await bothLocked;
        await c.query("UPDATE t SET v = v || '+' WHERE id = $1", [second]);
      });
    await Promise.all([run(1, 2), run(2, 1)]);
    // At least one run again; a rerun can meet the other's lock order and deadlock once more
    // (it starts after a random wait), so not exactly one. Each transaction's effect lands once.
    expect(attempts).toBeGreaterThanOrEqual(3);
    expect((await db.query("SELECT v FROM t ORDER BY id")).rows).toEqual([{ v: "a++" }, { v: "b++" }]);
  });
});
