import { SshcaError } from "../../errors.js";

/**
 * Which driver errors mean "the database cannot be reached or used right now", and which mean
 * "run the transaction again". The short reasons are fixed strings chosen here: a driver's own
 * message may carry a host, a user or a path, and the URL (with its password) must never
 * reach a message or a log line.
 */

/** SQLSTATE (PostgreSQL Appendix A) and Node error codes of a lost or unusable database. */
const LOST: Readonly<Record<string, string>> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ECONNABORTED: "connection aborted",
  EPIPE: "connection lost",
  ETIMEDOUT: "connection timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ENOTFOUND: "host name not found",
  EAI_AGAIN: "host name lookup failed",
  ENOENT: "no server socket",
  "57P01": "the server is shutting down", // admin_shutdown: a fast or immediate stop
  "57P02": "the server crashed", // crash_shutdown
  "57P03": "the server is starting up or shutting down", // cannot_connect_now
  "57014": "a statement timed out", // query_canceled: statement_timeout
  "55P03": "timed out waiting for a lock", // lock_not_available: lock_timeout
  "53300": "too many connections", // too_many_connections
  "53100": "the server is out of disk space", // disk_full
  "25006": "the server is read-only (a standby?)", // read_only_sql_transaction
  "28000": "authentication failed", // invalid_authorization_specification
  "28P01": "authentication failed", // invalid_password
  "3D000": "the database does not exist", // invalid_catalog_name
};

/** The driver's own messages for a connection it gave up on (pg 8). */
const LOST_MESSAGES: readonly [RegExp, string][] = [
  [/^Connection terminated/, "connection lost"],
  [/^timeout exceeded when trying to connect/, "timed out waiting for a connection"],
  [/^Query read timeout/, "a query timed out"],
  [/not queryable/, "connection lost"],
  [/^Client has already been connected/, "connection lost"],
];

/**
 * The short reason if `err` says the database is lost. `fromDriver`: the error came from the
 * driver itself (connecting, a pooled query), so Node's socket error codes count too; an error
 * thrown by a transaction's own code only counts by SQLSTATE or the driver's messages.
 */
export function lostReason(err: unknown, fromDriver: boolean): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string") {
    if (/^08/.test(code)) return "connection failure"; // class 08: connection exception
    const reason = LOST[code];
    if (reason !== undefined && (fromDriver || !/^E[A-Z_]+$/.test(code))) return reason;
  }
  for (const [re, reason] of LOST_MESSAGES) if (re.test(err.message)) return reason;
  return undefined;
}

/** The error a caller sees for a lost database: 503-worthy, with nothing of the URL in it. */
export function unavailable(reason: string): SshcaError {
  return new SshcaError("unavailable", `the database is unavailable: ${reason}`);
}

/** Maps a lost-database error to `unavailable`; anything else is returned as it is. */
export function mapDbError(err: unknown, fromDriver: boolean): unknown {
  const reason = lostReason(err, fromDriver);
  return reason === undefined ? err : unavailable(reason);
}

/**
 * A transaction that lost a race and may simply run again: serialization_failure (40001) and
 * deadlock_detected (40P01); under SERIALIZABLE also unique_violation (23505), which a
 * concurrent insert of the same key can raise instead of 40001.
 */
export function isRetryable(err: unknown, serializable: boolean): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return code === "40001" || code === "40P01" || (serializable && code === "23505");
}
