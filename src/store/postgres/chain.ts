import { recordKeys } from "../../audit/index-keys.js";
import { type AuditRecord, type AuditType, chainRecord } from "../../audit/record.js";
import { SshcaError } from "../../errors.js";
import type { Queryable } from "./pool.js";

/**
 * Appending to the audit hash chain in PostgreSQL, inside a transaction the caller owns (the
 * one that makes the change the records describe, so both commit or neither does). The head
 * row is locked first (SELECT ... FOR UPDATE): concurrent appenders on any replica wait for it
 * and each chains onto the head the previous one committed. Reading the newest record and
 * inserting after it instead lets two appenders chain onto the same record.
 */

export interface AuditEvent {
  /** Date.toISOString(): the stored timestamptz must read back as the very string hashed. */
  time: string;
  actor: string;
  type: AuditType;
  fields: Record<string, unknown>;
}

/** Locks the chain head for the rest of the caller's transaction and returns it. */
export async function lockHead(client: Queryable): Promise<{ seq: number; hash: string }> {
  const head = await client.query<{ seq: string; hash: string }>(
    "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE",
  );
  const row = head.rows[0];
  if (!row) throw new SshcaError("state_invalid", "the database has no audit chain head (run: sshcad storage migrate)");
  return { seq: Number(row.seq), hash: row.hash };
}

/**
 * Chains `events` onto the head and inserts them; returns the records. Call inside a
 * transaction; pass the head when the transaction already locked it (lockHead).
 */
export async function appendRecords(
  client: Queryable,
  events: readonly AuditEvent[],
  locked?: { seq: number; hash: string },
): Promise<AuditRecord[]> {
  if (events.length === 0) return [];
  const at = locked ?? (await lockHead(client));
  const records = chainEvents(at, events);
  await client.query(INSERT_RECORDS(1), recordColumns(records));
  const last = records.at(-1)!;
  await client.query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", [last.seq, last.hash]);
  return records;
}

/** The records `events` become, chained onto `head` (each checked storable first). */
export function chainEvents(head: { seq: number; hash: string }, events: readonly AuditEvent[]): AuditRecord[] {
  for (const e of events) checkStorable(e);
  let at = head;
  return events.map((e) => (at = chainRecord(at, e)));
}

/** INSERT of records whose columns are the 8 parameters from $first on (recordColumns). */
export const INSERT_RECORDS = (first: number): string => {
  const p = (i: number) => `$${first + i}`;
  return `INSERT INTO audit (seq, time, actor, type, fields, prev, hash, keys)
     SELECT seq, time, actor, type, fields, prev, hash, ARRAY(SELECT jsonb_array_elements_text(keys))
     FROM unnest(${p(0)}::bigint[], ${p(1)}::timestamptz[], ${p(2)}::text[], ${p(3)}::text[], ${p(4)}::jsonb[],
                 ${p(5)}::text[], ${p(6)}::text[], ${p(7)}::jsonb[]) AS r(seq, time, actor, type, fields, prev, hash, keys)`;
};

/** The column arrays of INSERT_RECORDS. */
export function recordColumns(records: readonly AuditRecord[]): unknown[] {
  const col = <T>(f: (r: AuditRecord) => T) => records.map(f);
  return [
    col((r) => r.seq),
    col((r) => r.time),
    col((r) => r.actor),
    col((r) => r.type),
    col((r) => JSON.stringify(r.fields)),
    col((r) => r.prev),
    col((r) => r.hash),
    // A text[] per record cannot go through unnest of a 2-D array (rows must be equally
    // long), so each record's keys travel as one JSON array.
    col((r) => JSON.stringify(recordKeys(r))),
  ];
}

/**
 * What PostgreSQL would store differently from what is hashed is refused before anything is
 * written: a time not in Date.toISOString() form, and strings jsonb cannot hold (NUL, lone
 * UTF-16 surrogates), which would fail the insert and with it the caller's transaction.
 */
export function checkStorable(e: AuditEvent): void {
  const t = new Date(e.time);
  if (Number.isNaN(t.getTime()) || t.toISOString() !== e.time) {
    throw new SshcaError(
      "internal",
      `audit event ${e.type}: time ${JSON.stringify(e.time)} is not an ISO-8601 UTC instant`,
    );
  }
  if (!storable(e.actor) || !storable(e.fields)) {
    throw new SshcaError("bad_request", `audit event ${e.type}: a text field holds a NUL or an unpaired surrogate`);
  }
}

/** Refuses a state value PostgreSQL's jsonb cannot hold, before it joins (and fails) a batch of others. */
export function checkStorableValue(collection: string, key: string, value: unknown): void {
  if (!storable(key) || !storable(value)) {
    throw new SshcaError("bad_request", `${collection} entry: a text field holds a NUL or an unpaired surrogate`);
  }
}

function storable(v: unknown): boolean {
  if (typeof v === "string") return !v.includes("\0") && v.isWellFormed();
  if (Array.isArray(v)) return v.every(storable);
  if (v !== null && typeof v === "object") return Object.entries(v).every(([k, x]) => storable(k) && storable(x));
  return true;
}
