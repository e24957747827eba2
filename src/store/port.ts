import type { AuditQuery } from "../audit/query.js";
import type { AuditRecord, AuditType } from "../audit/record.js";
import { SshcaError } from "../errors.js";
import type { Collection, EntryOf, StateView } from "./state.js";

/**
 * The storage port: where sshcad keeps what it knows, whatever keeps it. One interface, two
 * implementations chosen once in the composition root (daemon/storage.ts): the embedded store
 * (lowdb state + audit segment files, one process) and PostgreSQL (several replicas). The access
 * service, the routes and the background workers use only this.
 */

/** An audit event before the chain gives it a sequence number and hash. */
export interface AuditEvent {
  type: AuditType;
  actor: string;
  fields: Record<string, unknown>;
}

/**
 * A change to one live-state entry. `expect` is the entry the caller decided on (the object it
 * read from `state`, or undefined for "absent"): the change is applied only if the entry is still
 * that one, so two writers deciding on the same entry at once cannot both win (the later one
 * gets StaleState, reads again and decides again). Without `expect` the write is blind (a new
 * entry under a fresh random key, bookkeeping that no decision rests on).
 */
export type Change = {
  collection: Collection;
  key: string;
  /** The new entry; absent to remove it. */
  value?: unknown;
  expect?: { entry: unknown };
};

/** Sets an entry (replacing it; entries are never mutated in place). */
export function put<C extends Collection>(
  collection: C,
  key: string,
  value: EntryOf<C>,
  expect?: { entry: EntryOf<C> | undefined },
): Change {
  return { collection, key, value, ...(expect ? { expect } : {}) };
}

/** Removes an entry. */
export function remove<C extends Collection>(
  collection: C,
  key: string,
  expect?: { entry: EntryOf<C> | undefined },
): Change {
  return { collection, key, ...(expect ? { expect } : {}) };
}

/**
 * Thrown by `commit` when an expected entry changed under the caller: read again, decide again.
 * Callers that decide on fresh state retry; one that reaches a client is a 409.
 */
export class StaleState extends SshcaError {
  constructor(readonly keys: string[]) {
    super("conflict", `this changed meanwhile (${keys.join(", ")}); look again and retry`);
  }
}

/** Runs `fn` again (up to `attempts` times) when what it decided on changed meanwhile. */
export async function retryStale<T>(fn: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof StaleState) || attempt >= attempts) throw err;
    }
  }
}

/**
 * Short-lived values keyed by (kind, id), shared by all replicas. `take` is atomic: of two
 * replicas taking one id at once, only one gets the value, which is what makes a challenge
 * single-use. Expiry is by `expiresAt` (ms since the epoch) against the `now` the caller passes;
 * callers bound how many each client may open (handshake-table.ts).
 */
export interface Handshakes {
  /** Keeps (or replaces) the value under (kind, id) until expiresAt. */
  put(kind: string, id: string, value: unknown, expiresAt: number): Promise<void>;
  /**
   * Replaces the value only if it is still `expected` (and not expired): of two writers that
   * read the same value, one wins; a handshake taken meanwhile is not brought back.
   */
  replace(kind: string, id: string, expected: unknown, value: unknown, now: number): Promise<boolean>;
  /** The value, unless absent or expired; it stays. */
  get(kind: string, id: string, now: number): Promise<unknown>;
  /** Removes the value and answers it, unless absent or expired (then undefined). */
  take(kind: string, id: string, now: number): Promise<unknown>;
  /** Forgets expired values (each process asks now and then; see handshake-table.ts). */
  prune(now: number): Promise<number>;
}

/** Reads records after a position, in order, up to the durable head (webhooks, syslog). */
export interface AuditCursor {
  read(max?: number): Promise<AuditRecord[]>;
}

export interface Storage {
  readonly backend: "embedded" | "postgres";
  /**
   * The live state as this process knows it, read synchronously: the document itself (embedded),
   * or a cache kept current from the database's change feed (PostgreSQL). Decisions read it;
   * `commit` with `expect` makes sure they were not made on something that changed meanwhile.
   */
  readonly state: StateView;
  /**
   * Brings `state` up to what is committed now, other replicas' writes included (PostgreSQL:
   * reads the change feed; embedded: nothing to do). For a look-up that missed: a token or a
   * request made on another replica a moment ago is found, not refused.
   */
  sync(): Promise<void>;
  /** The newest durable audit record (sequence number and hash). */
  readonly head: { seq: number; hash: string };
  /**
   * Appends `events` to the audit chain and applies `changes`, as one: no change without its
   * durable records, no record without its change (PostgreSQL: one transaction; embedded: the
   * records fdatasync'd first, then the state written). Resolves with the records, in order.
   * Rejects with StaleState (nothing written) or `unavailable`: nothing written, except when
   * the connection was lost during COMMIT itself, whose outcome is then unknown (the change
   * feed shows it soon; decisions carry expected entries, so a retry cannot apply twice).
   */
  commit(events: readonly AuditEvent[], changes?: readonly Change[]): Promise<AuditRecord[]>;
  /** One audit event that changes no state (certificate.fetched, scan.*, auth.failed, ...). */
  append(type: AuditType, actor: string, fields: Record<string, unknown>): Promise<AuditRecord>;
  /** Look-ups and verification of the audit chain. */
  readonly audit: AuditQuery;
  /** Records after `seq`, in order, read in pages. */
  cursor(afterSeq: number): AuditCursor;
  /** Told about every batch of records this process committed (journald lines, metrics, webhooks). */
  onCommit(listener: (records: readonly AuditRecord[]) => void): void;
  /** Told which entries another process changed (long-polls, indexes, the KRL): embedded never calls it. */
  onExternalChange(listener: (changed: readonly { collection: Collection; key: string }[]) => void): void;
  /**
   * Background work done once across replicas: true when this process now holds the lease on
   * (kind, key) for `ms` (taking over one whose holder let it lapse or released it). A claim that
   * takes the lease answers once `state` shows what the last holder committed before it let go,
   * so the work resumes where it stopped (PostgreSQL). Embedded: always true.
   */
  claim(kind: string, key: string, ms: number): Promise<boolean>;
  release(kind: string, key: string): Promise<void>;
  /**
   * Takes one token from the rate-limit bucket (scope, key) that every replica shares, refilled
   * at `perMinute`; false when it is empty. Embedded: always true (one process, whose own
   * limiters are the whole count).
   */
  takeToken(scope: string, key: string, perMinute: number): Promise<boolean>;
  /**
   * Sign-in handshakes in progress (challenges, single sign-on flows, one-time links, WebAuthn
   * ceremonies): short-lived and not audited, but every replica must see them, since the step
   * that opens one and the step that finishes it may reach different replicas.
   */
  readonly handshakes: Handshakes;
  /** Why the last write failed, until one succeeds (for /readyz). */
  readonly lastError: string | undefined;
  /** Waits for what is queued, then lets go of files, connections and locks. */
  close(): Promise<void>;
}
