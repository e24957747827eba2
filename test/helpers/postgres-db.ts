import pino from "pino";
import { migrate } from "../../src/store/postgres/migrations.js";
import { openPostgres, type Postgres } from "../../src/store/postgres/pool.js";
import { PostgresStorage } from "../../src/store/postgres/storage.js";
import type { TestPostgres } from "./postgres.js";

/** A new database in the test cluster with sshcad's schema applied; answers its URL. */
export async function migratedDatabase(pg: TestPostgres): Promise<string> {
  const url = await pg.createDatabase();
  const db = openPostgres({ url, log: pino({ level: "silent" }), applicationName: "migrate" });
  try {
    await migrate(db);
  } finally {
    await db.close();
  }
  return url;
}

/**
 * A replica that hears of no other replica's change by itself: their notifications are dropped
 * and it has no catch-up timer. It learns of their writes only when it catches up on purpose (a
 * claim that takes a lease, a commit found stale): the window of a replica whose catch-up has not
 * run yet, held open.
 */
export function openDeafReplica(db: Postgres, replica: string): Promise<PostgresStorage> {
  return PostgresStorage.open({
    db: { ...db, listen: (channel, _onNotify, onReconnect) => db.listen(channel, () => {}, onReconnect) },
    log: pino({ level: "silent" }),
    now: () => new Date(),
    replica,
    pollMs: 3_600_000,
  });
}

/** A replica of the database at `url` (its own pool, a silent log). */
export function openReplica(url: string, replica: string): Promise<PostgresStorage> {
  return PostgresStorage.open({
    db: openPostgres({ url, log: pino({ level: "silent" }), applicationName: replica }),
    log: pino({ level: "silent" }),
    now: () => new Date(),
    replica,
  });
}

/**
 * `storage` whose audit-log reads wait while stalled: the process paused in a read (its lease
 * may lapse meanwhile). `stalled` says a read is waiting; `release` lets it (and later ones) go.
 */
export function stallingReads(storage: PostgresStorage): {
  storage: PostgresStorage;
  stall: () => void;
  release: () => void;
  readonly stalled: boolean;
} {
  let gate: Promise<void> | undefined;
  let open: () => void = () => undefined;
  let stalled = false;
  const gated = Object.create(storage) as PostgresStorage;
  gated.cursor = (after) => {
    const reader = storage.cursor(after);
    return {
      read: async (max) => {
        if (gate) {
          stalled = true;
          await gate;
        }
        return reader.read(max);
      },
    };
  };
  return {
    storage: gated,
    stall: () => {
      gate = new Promise<void>((r) => (open = r));
    },
    release: () => {
      gate = undefined;
      open();
    },
    get stalled() {
      return stalled;
    },
  };
}

/** `storage` whose every lease claim takes `ms` first (a slow database); `claims` counts them. */
export function slowClaims(
  storage: PostgresStorage,
  ms: number,
): { storage: PostgresStorage; readonly claims: number } {
  let claims = 0;
  const slow = Object.create(storage) as PostgresStorage;
  slow.claim = async (kind, key, leaseMs) => {
    claims++;
    await new Promise((r) => setTimeout(r, ms));
    return storage.claim(kind, key, leaseMs);
  };
  return {
    storage: slow,
    get claims() {
      return claims;
    },
  };
}
