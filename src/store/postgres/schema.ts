import { GENESIS_HASH } from "../../audit/record.js";

/**
 * The PostgreSQL schema, one numbered migration at a time. A migration is never edited once
 * released: a change is a new migration. Each statement runs in the migration transaction.
 */
export interface Migration {
  version: number;
  name: string;
  statements: readonly string[];
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "live state, audit chain, leases and rate buckets",
    statements: [
      // Facts about the database as a whole: schema_version (written by migrate), and later the
      // CA's fingerprint, so that replicas of two different CAs can never share one database.
      `CREATE TABLE sshca_meta (
        key text PRIMARY KEY,
        value jsonb NOT NULL
      )`,

      // The head of the audit hash chain, one row. Every append locks it (SELECT ... FOR UPDATE)
      // in the transaction that makes the change it records, so appends from all replicas queue
      // on this row and the chain stays linear; "read the newest record, then insert" forks.
      `CREATE TABLE audit_head (
        id int PRIMARY KEY CHECK (id = 1),
        seq bigint NOT NULL,
        hash text NOT NULL
      )`,
      `INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '${GENESIS_HASH}')`,

      // The audit log (src/audit/record.ts): seq, time, actor, type, fields, prev and hash are
      // the record exactly as hashed; time holds Date.toISOString() values, which timestamptz
      // keeps to the microsecond, so the text reads back identical. `keys` holds the look-up
      // keys the writer derives from the record (src/audit/index-keys.ts, the same keys the
      // embedded index uses, so both backends answer a filter alike): a GIN index finds the
      // records of a request, serial, user, host, scan or type without reading their JSON.
      `CREATE TABLE audit (
        seq bigint PRIMARY KEY,
        time timestamptz NOT NULL,
        actor text NOT NULL,
        type text NOT NULL,
        fields jsonb NOT NULL,
        prev text NOT NULL,
        hash text NOT NULL,
        keys text[] NOT NULL
      )`,
      `CREATE INDEX audit_keys ON audit USING gin (keys)`,
      `CREATE INDEX audit_time ON audit (time)`,

      // Versions for state_entries: each write takes the next value, and a replica catches up by
      // reading entries with a version above the last one it saw. Values are handed out when
      // taken, not at commit: a writer must take its version while holding a lock that orders
      // commits (the audit head), or a reader can pass over a version committed late.
      `CREATE SEQUENCE state_seq AS bigint`,

      // The live state, one row per entry of a collection (requests, users, tokens, ...). A NULL
      // value is a tombstone: the entry was deleted, and the row stays a while so replicas
      // catching up see the deletion instead of keeping a stale copy; tombstones older than an
      // hour are pruned, and a replica that fell further behind reloads everything.
      `CREATE TABLE state_entries (
        collection text NOT NULL,
        key text NOT NULL,
        value jsonb,
        version bigint NOT NULL,
        changed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (collection, key)
      )`,
      `CREATE INDEX state_entries_version ON state_entries (version)`,

      // Background work held by one replica at a time (an expiry scan, a webhook delivery, the
      // KRL publisher): taken with INSERT ... ON CONFLICT (a missing row cannot be locked, so
      // SELECT ... FOR UPDATE cannot guard taking it), renewed before until, taken over after.
      `CREATE TABLE leases (
        kind text NOT NULL,
        key text NOT NULL,
        owner text NOT NULL,
        until timestamptz NOT NULL,
        PRIMARY KEY (kind, key)
      )`,

      // Token buckets shared by all replicas, so a client cannot multiply its rate limit by the
      // number of replicas: tokens left at time at; refilled from the elapsed time when taken.
      `CREATE TABLE rate_buckets (
        scope text NOT NULL,
        key text NOT NULL,
        tokens double precision NOT NULL,
        at timestamptz NOT NULL,
        PRIMARY KEY (scope, key)
      )`,
    ],
  },
  {
    version: 2,
    name: "sign-in handshakes shared by replicas",
    statements: [
      // Sign-in challenges, single sign-on flows, one-time console links and WebAuthn ceremonies
      // in progress: opened on one replica, finished on any. Minutes long, never audited;
      // expires_at is milliseconds since the epoch by the replicas' clocks. Values hold no
      // secret that works alone (a link's code is kept only as its hash, the key).
      `CREATE TABLE handshakes (
        kind text NOT NULL,
        id text NOT NULL,
        value jsonb NOT NULL,
        expires_at bigint NOT NULL,
        PRIMARY KEY (kind, id)
      )`,
      `CREATE INDEX handshakes_expires_at ON handshakes (expires_at)`,
    ],
  },
];

/** The newest schema version this sshcad knows. */
export const LATEST_SCHEMA_VERSION = MIGRATIONS.at(-1)!.version;
