import pg from "pg";
import type { Logger } from "pino";
import { isRetryable, lostReason, mapDbError, unavailable } from "./errors.js";
import { listen, type Listener } from "./listen.js";
import { checkPostgresUrl } from "./url.js";

/**
 * The connection pool the PostgreSQL store runs on: bounded waits everywhere, transactions
 * that never leak a client, retries for the races PostgreSQL reports (40001, 40P01), and a
 * lost database turned into `unavailable` without the URL. The pool reconnects by itself: a
 * connection that fails is dropped and the next query opens a new one.
 */

export type Isolation = "read committed" | "repeatable read" | "serializable";

export interface PostgresOptions {
  /** postgresql://user:password@host:port/database (never logged, never in a message). */
  url: string;
  log: Logger;
  /** Shown in pg_stat_activity, so an operator sees which replica holds what. */
  applicationName: string;
  /** Connections at most (default 10). */
  max?: number;
  /** Waiting for a connection, new or pooled (default 5 s). */
  connectionTimeoutMs?: number;
  /** Server-side limit per statement (default 30 s). */
  statementTimeoutMs?: number;
  /** A transaction left open and idle this long is ended by the server (default 60 s). */
  idleInTransactionTimeoutMs?: number;
  /** Attempts of a transaction that loses a serialization race or a deadlock (default 5). */
  attempts?: number;
  /** For the retry jitter; tests pass their own. */
  random?: () => number;
}

/** Anything that runs a statement: the pool, or the client of a transaction. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
}

export interface TxOptions {
  isolation?: Isolation;
}

export interface Postgres extends Queryable {
  /** The driver's pool (totalCount, idleCount, waitingCount for metrics and tests). */
  readonly pool: pg.Pool;
  /** One statement on any pooled connection (autocommit). */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
  /**
   * Runs `fn` in one transaction on one connection: BEGIN, fn, COMMIT; ROLLBACK on any error.
   * Runs fn again (after a short random wait) when PostgreSQL reports a serialization failure
   * or a deadlock, so fn must not have effects outside the database. A failure at COMMIT
   * other than those leaves the outcome unknown and is not retried.
   */
  tx<T>(fn: (client: pg.PoolClient) => Promise<T>, opts?: TxOptions): Promise<T>;
  /** A dedicated (never pooled) connection that LISTENs on `channel`; see listen.ts. */
  listen(channel: string, onNotify: (payload: string) => void, onReconnect: () => void): Promise<Listener>;
  close(): Promise<void>;
}

/** The driver settings shared by the pool and LISTEN connections. */
export function clientConfig(opts: PostgresOptions): pg.ClientConfig {
  checkPostgresUrl(opts.url);
  const statement = opts.statementTimeoutMs ?? 30_000;
  return {
    connectionString: opts.url,
    application_name: opts.applicationName,
    connectionTimeoutMillis: opts.connectionTimeoutMs ?? 5_000,
    statement_timeout: statement,
    idle_in_transaction_session_timeout: opts.idleInTransactionTimeoutMs ?? 60_000,
    // The server's statement_timeout cannot fire when the server is unreachable: the client
    // gives up a little later by itself.
    query_timeout: statement + 5_000,
    // A peer that vanished without closing (a partition, a failed host) is noticed by TCP
    // keepalive instead of hanging until the OS gives up hours later.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  };
}

export function openPostgres(opts: PostgresOptions): Postgres {
  const config = clientConfig(opts);
  const pool = new pg.Pool({ ...config, max: opts.max ?? 10, idleTimeoutMillis: 30_000 });
  const log = opts.log;
  const random = opts.random ?? Math.random;
  const attempts = opts.attempts ?? 5;
  // An idle pooled connection that fails (the server stopped) is removed by the pool, which
  // reports it here; without a listener the process would crash on it.
  pool.on("error", (err) =>
    log.warn({ reason: lostReason(err, true) ?? "connection error" }, "database connection lost"),
  );

  // Every connection listens for errors for its whole life. The pool's own listener is there only
  // while a connection is idle, and the one tx adds comes a tick after the pool hands the
  // connection over: a server that ends the session (57P01, shutting down) in the same packet
  // that finished opening it raised an unhandled 'error' event in between, and the process died.
  // Such a connection is no longer queryable: its next query fails, and the pool drops it.
  pool.on("connect", (client) =>
    client.on("error", (err) =>
      log.debug({ reason: lostReason(err, true) ?? "connection error" }, "database connection failed"),
    ),
  );

  const connect = async (): Promise<pg.PoolClient> => {
    try {
      return await pool.connect();
    } catch (err) {
      throw mapDbError(err, true);
    }
  };

  const tx = async <T>(fn: (client: pg.PoolClient) => Promise<T>, o: TxOptions = {}): Promise<T> => {
    const begin = o.isolation ? `BEGIN ISOLATION LEVEL ${o.isolation.toUpperCase()}` : "BEGIN";
    for (let attempt = 1; ; attempt++) {
      const client = await connect();
      // A checked-out client has no pool listener: a connection that fails while fn awaits
      // something else would otherwise raise an unhandled 'error' event.
      let broken: Error | undefined;
      const onError = (err: Error) => (broken ??= err);
      client.on("error", onError);
      let destroy = false;
      try {
        await client.query(begin);
        const result = await fn(client);
        await client.query("COMMIT");
        return result;
      } catch (err) {
        destroy = broken !== undefined || !(await rollback(client));
        if (isRetryable(err, o.isolation === "serializable") && attempt < attempts && !destroy) {
          log.debug({ code: (err as { code?: string }).code, attempt }, "transaction retried");
          await new Promise((r) => setTimeout(r, random() * Math.min(200, 10 * 2 ** attempt)));
          continue;
        }
        if (broken !== undefined) throw unavailable(lostReason(broken, true) ?? "connection lost");
        throw mapDbError(err, false);
      } finally {
        client.removeListener("error", onError);
        // A connection in an unknown state (lost, or ROLLBACK failed) is closed, not reused.
        client.release(destroy);
      }
    }
  };

  return {
    pool,
    query: async <R extends pg.QueryResultRow>(text: string, params?: unknown[]) => {
      try {
        return await pool.query<R>(text, params);
      } catch (err) {
        throw mapDbError(err, true);
      }
    },
    tx,
    listen: (channel, onNotify, onReconnect) => listen({ config, log }, channel, onNotify, onReconnect),
    close: () => pool.end(),
  };
}

/** true when the connection is back to a clean state. */
async function rollback(client: pg.PoolClient): Promise<boolean> {
  try {
    await client.query("ROLLBACK");
    return true;
  } catch {
    return false;
  }
}
