import { KeyedMutex } from "./keyed-mutex.js";
import type { AuditLog } from "../audit/log.js";
import type { AuditQuery } from "../audit/query.js";
import type { AuditRecord, AuditType } from "../audit/record.js";
import { AuditTail } from "../audit/tail.js";
import { MemoryHandshakes } from "./memory-handshakes.js";
import type { AuditCursor, AuditEvent, Change, Handshakes, Storage } from "./port.js";
import { StaleState } from "./port.js";
import type { StateStore, StateView } from "./state.js";

/**
 * The embedded store: live state in a lowdb document with a journaled, fsync'd adapter, and the
 * audit chain in segment files with group commit. One process owns the data directory.
 *
 * A commit's records are made durable first (fdatasync), then its changes are applied and
 * written, so a change never exists without its record. Changes to the same entries are
 * serialised (a lock per entry across the whole commit), and an `expect`ed entry is checked
 * before anything is written, so two writers deciding on one entry cannot both win; commits on
 * different entries still share audit batches and syncs.
 */
export class EmbeddedStorage implements Storage {
  readonly backend = "embedded" as const;
  readonly handshakes: Handshakes = new MemoryHandshakes();
  private readonly locks = new KeyedMutex();
  private query: AuditQuery | undefined;

  constructor(
    readonly store: StateStore,
    readonly log: AuditLog,
  ) {}

  /** The audit look-ups (an index over the segments, in a worker); the daemon attaches it once it runs. */
  attachQuery(query: AuditQuery): void {
    this.query = query;
  }

  get audit(): AuditQuery {
    if (!this.query) throw new Error("audit look-ups are not available in this process");
    return this.query;
  }

  get state(): StateView {
    return this.store.data;
  }

  get head(): { seq: number; hash: string } {
    return this.log.head;
  }

  get lastError(): string | undefined {
    return this.log.lastError ?? this.store.lastError;
  }

  commit(events: readonly AuditEvent[], changes: readonly Change[] = []): Promise<AuditRecord[]> {
    const keys = [...new Set(changes.map((c) => `${c.collection}/${c.key}`))].sort();
    return this.underLocks(keys, async () => {
      const stale = changes.filter((c) => c.expect && this.current(c) !== c.expect.entry);
      if (stale.length > 0) throw new StaleState(stale.map((c) => `${c.collection}/${c.key}`));
      const records = await Promise.all(events.map((e) => this.log.append(e.type, e.actor, e.fields)));
      for (const c of changes) {
        if (c.value === undefined) this.store.remove(c.collection, c.key);
        else this.store.put(c.collection, c.key, c.value as never);
      }
      // Records that change no state are anchored by the audit head file; only a change writes
      // the state (and notes the newest record it includes).
      if (changes.length > 0) {
        if (records.length > 0) this.store.noteAuditSeq(records.at(-1)!.seq);
        await this.store.persist();
      }
      return records;
    });
  }

  async append(type: AuditType, actor: string, fields: Record<string, unknown>): Promise<AuditRecord> {
    return (await this.commit([{ type, actor, fields }]))[0]!;
  }

  cursor(afterSeq: number): AuditCursor {
    const tail = new AuditTail(this.log.dir, afterSeq, () => this.log.head.seq);
    return { read: (max) => tail.read(max) };
  }

  onCommit(listener: (records: readonly AuditRecord[]) => void): void {
    this.log.onCommit(listener);
  }

  /** One process owns the data directory: its state is always current. */
  async sync(): Promise<void> {}

  /** One process owns the data directory: nobody else changes it. */
  onExternalChange(): void {}

  async claim(): Promise<boolean> {
    return true;
  }

  async release(): Promise<void> {}

  async takeToken(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    await this.query?.close();
    await this.log.close();
    await this.store.persist();
  }

  private current(c: Change): unknown {
    const coll = this.store.data[c.collection] as Record<string, unknown>;
    return Object.hasOwn(coll, c.key) ? coll[c.key] : undefined;
  }

  /** Runs `fn` holding the lock of every key (taken in sorted order, so two commits never deadlock). */
  private underLocks<T>(keys: readonly string[], fn: () => Promise<T>): Promise<T> {
    if (keys.length === 0) return fn();
    const [first, ...rest] = keys;
    return this.locks.run(first!, () => this.underLocks(rest, fn));
  }
}
