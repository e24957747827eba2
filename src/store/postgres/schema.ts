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
      // keeps to the microsecond, so the text reads back identical. The columns after hash are
      // copied out of fields by the writer so queries by request, serial, user, host or scan
      // use an index instead of reading every record's JSON.
      `CREATE TABLE audit (
        seq bigint PRIMARY KEY,
        time timestamptz NOT NULL,
        actor text NOT NULL,
        type text NOT NULL,
        fields jsonb NOT NULL,
        prev text NOT NULL,
        hash text NOT NULL,
        request text,
        serial text,
        "user" text,
        host text,
        scan text
      )`,
      `CREATE INDEX audit_request ON audit (request) WHERE request IS NOT NULL`,
      `CREATE INDEX audit_serial ON audit (serial) WHERE serial IS NOT NULL`,
      `CREATE INDEX audit_user ON audit ("user") WHERE "user" IS NOT NULL`,
      // "Records by this user or about them" matches the actor as well as "user".
      `CREATE INDEX audit_actor ON audit (actor)`,
      `CREATE INDEX audit_host ON audit (host) WHERE host IS NOT NULL`,
      // text_pattern_ops: a type family ("request" = "request.%") is a LIKE prefix, which a
      // plain index serves only under the C collation; equality works with it as well.
      `CREATE INDEX audit_type ON audit (type text_pattern_ops)`,
      `CREATE INDEX audit_time ON audit (time)`,
      `CREATE INDEX audit_scan ON audit (scan) WHERE scan IS NOT NULL`,

      // Versions for state_entries: each write takes the next value, and a replica catches up by
      // reading entries with a version above the last one it saw. Values are handed out when
      // taken, not at commit: a writer must take its version while holding a lock that orders
      // commits (the audit head), or a reader can pass over a version committed late.
      `CREATE SEQUENCE state_seq AS bigint`,

      // The live state, one row per entry of a collection (requests, users, tokens, ...). A NULL
      // value is a tombstone: the entry was deleted, and the row stays a while so replicas
      // catching up see the deletion instead of keeping a stale copy.
      `CREATE TABLE state_entries (
        collection text NOT NULL,
        key text NOT NULL,
        value jsonb,
        version bigint NOT NULL,
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
];

/** The newest schema version this sshcad knows. */
export const LATEST_SCHEMA_VERSION = MIGRATIONS.at(-1)!.version;
