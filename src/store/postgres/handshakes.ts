import type { Handshakes } from "../port.js";
import { checkStorableValue } from "./chain.js";
import { InFlightGate } from "./in-flight.js";
import type { Queryable } from "./pool.js";

/**
 * Handshake queries in flight at most per process, and how many more may wait. Anyone can
 * cause one without signing in (a made-up challenge or flow id costs a look-up, from as many
 * addresses as an attacker has), so they get a few of the pool's connections (10 by default),
 * never all: commits and authenticated requests keep the rest. Beyond the queue: 503.
 */
export const HANDSHAKE_QUERIES = 4;
export const HANDSHAKE_QUEUE = 256;

/**
 * Handshakes in the handshakes table, so that a sign-in opened on one replica can be finished
 * on another. `take` is one DELETE ... RETURNING: of two replicas taking one id at once, the
 * row goes to exactly one. Expiry compares the callers' clock (`now`, ms), like the in-memory
 * store, so a test's clock governs both; replicas' clocks are expected to agree within seconds.
 */
export class PostgresHandshakes implements Handshakes {
  private readonly gate = new InFlightGate(
    HANDSHAKE_QUERIES,
    HANDSHAKE_QUEUE,
    "too many sign-ins in progress on this server; try again in a few seconds",
  );
  private readonly db: Queryable;

  constructor(db: Queryable) {
    this.db = { query: (text, params) => this.gate.run(() => db.query(text, params)) };
  }

  async put(kind: string, id: string, value: unknown, expiresAt: number): Promise<void> {
    checkStorableValue(kind, id, value);
    await this.db.query(
      `INSERT INTO handshakes (kind, id, value, expires_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (kind, id) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at`,
      [kind, id, JSON.stringify(value), expiresAt],
    );
  }

  /** jsonb equality compares values, not text: the value read back compares equal to itself. */
  async replace(kind: string, id: string, expected: unknown, value: unknown, now: number): Promise<boolean> {
    checkStorableValue(kind, id, value);
    const r = await this.db.query(
      `UPDATE handshakes SET value = $4 WHERE kind = $1 AND id = $2 AND value = $3::jsonb AND expires_at > $5`,
      [kind, id, JSON.stringify(expected), JSON.stringify(value), now],
    );
    return r.rowCount === 1;
  }

  async get(kind: string, id: string, now: number): Promise<unknown> {
    const r = await this.db.query<{ value: unknown }>(
      "SELECT value FROM handshakes WHERE kind = $1 AND id = $2 AND expires_at > $3",
      [kind, id, now],
    );
    return r.rows[0]?.value;
  }

  async take(kind: string, id: string, now: number): Promise<unknown> {
    const r = await this.db.query<{ value: unknown; live: boolean }>(
      "DELETE FROM handshakes WHERE kind = $1 AND id = $2 RETURNING value, expires_at > $3 AS live",
      [kind, id, now],
    );
    const row = r.rows[0];
    return row?.live ? row.value : undefined;
  }

  async prune(now: number): Promise<number> {
    const r = await this.db.query("DELETE FROM handshakes WHERE expires_at <= $1", [now]);
    return r.rowCount ?? 0;
  }
}
