import type { Logger } from "pino";
import type { AuditQuery } from "../../audit/query.js";
import type { AuditRecord, AuditType } from "../../audit/record.js";
import { SshcaError, safeErr } from "../../errors.js";
import type { AuditCursor, AuditEvent, Change, Handshakes, Storage } from "../port.js";
import { StaleState } from "../port.js";
import type { Collection, StateView } from "../state.js";
import { PostgresAuditQuery } from "./audit-query.js";
import { checkStorable, checkStorableValue } from "./chain.js";
import { unavailable } from "./errors.js";
import { PostgresHandshakes } from "./handshakes.js";
import { CHANNEL, commitBatch, type PendingCommit } from "./commit-batch.js";
import { catchUp, pruneTombstones, reload } from "./feed.js";
import type { Listener } from "./listen.js";
import type { Postgres } from "./pool.js";
import { type EntryId, StateCache } from "./state-cache.js";

/**
 * The storage port on PostgreSQL, for several sshcad replicas sharing one database. The live
 * state is cached in each replica (decisions read it synchronously) and kept current from the
 * database's change feed (LISTEN/NOTIFY, then a read of what changed); a commit writes its audit
 * records and state changes in one transaction, and refuses (StaleState) a change decided on an
 * entry that another replica changed meanwhile.
 */

export interface PostgresStorageOptions {
  db: Postgres;
  log: Logger;
  now: () => Date;
  /** This replica's name in leases and notifications (unique per running process). */
  replica: string;
  /** Commits sharing one transaction at most (default 64). */
  batchMax?: number;
  /** How often the cache is caught up even without a notification (default 5 s). */
  pollMs?: number;
  /** Commits waiting at most (default 4096); more are refused at once with 503. */
  queueMax?: number;
  /** A commit not begun within this long is refused, nothing written (default 10 s). */
  queueWaitMs?: number;
}

interface Queued extends PendingCommit {
  /** When it was queued (monotonic ms), for queueWaitMs. */
  queuedAt: number;
  resolve: (records: AuditRecord[]) => void;
  reject: (err: unknown) => void;
}

/** How often tombstones are pruned (by whichever replica holds the lease). */
const PRUNE_MS = 10 * 60_000;

export class PostgresStorage implements Storage {
  readonly backend = "postgres" as const;
  readonly audit: AuditQuery;
  readonly handshakes: Handshakes;
  private readonly cache: StateCache;
  private headNow = { seq: 0, hash: "" };
  private error: string | undefined;
  private readonly queue: Queued[] = [];
  private flushing: Promise<void> | undefined;
  private catching: Promise<void> | undefined;
  private catchAgain = false;
  private needReload = false;
  private listener: Listener | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly commitListeners: ((records: readonly AuditRecord[]) => void)[] = [];
  private readonly changeListeners: ((changed: readonly EntryId[]) => void)[] = [];
  private closed = false;

  private constructor(private readonly opts: PostgresStorageOptions) {
    this.cache = new StateCache(opts.now());
    this.audit = new PostgresAuditQuery(opts.db);
    this.handshakes = new PostgresHandshakes(opts.db);
  }

  /** Listens first, then loads: a change made while loading is announced and read after. */
  static async open(opts: PostgresStorageOptions): Promise<PostgresStorage> {
    const s = new PostgresStorage(opts);
    s.listener = await opts.db.listen(
      CHANNEL,
      (payload) => s.onNotify(payload),
      () => {
        // Notifications sent while the connection was down are lost: read everything again.
        s.needReload = true;
        s.refresh();
      },
    );
    try {
      await reload(opts.db, s.cache);
      const head = await opts.db.query<{ seq: string; hash: string }>("SELECT seq, hash FROM audit_head WHERE id = 1");
      const row = head.rows[0];
      if (!row)
        throw new SshcaError("state_invalid", "the database has no audit chain head (run: sshcad storage migrate)");
      s.headNow = { seq: Number(row.seq), hash: row.hash };
    } catch (err) {
      await s.listener.close();
      throw err;
    }
    const poll = setInterval(() => s.refresh(), opts.pollMs ?? 5000);
    const prune = setInterval(() => void s.prune(), PRUNE_MS);
    for (const t of [poll, prune]) t.unref();
    s.timers.push(poll, prune);
    return s;
  }

  get state(): StateView {
    return this.cache.doc;
  }

  get head(): { seq: number; hash: string } {
    return this.headNow;
  }

  get lastError(): string | undefined {
    return this.error;
  }

  commit(events: readonly AuditEvent[], changes: readonly Change[] = []): Promise<AuditRecord[]> {
    if (this.closed) return Promise.reject(new SshcaError("unavailable", "sshcad is shutting down"));
    const time = this.opts.now().toISOString();
    try {
      for (const e of events) checkStorable({ ...e, time });
      // A value the database cannot store would fail the whole batch it joins, not just its commit.
      for (const c of changes) if (c.value !== undefined) checkStorableValue(c.collection, c.key, c.value);
    } catch (err) {
      return Promise.reject(err);
    }
    const expects: PendingCommit["expects"][number][] = [];
    const stale: string[] = [];
    for (const c of changes) {
      if (!c.expect) continue;
      const version = this.cache.expectedVersion(c.collection, c.key, c.expect.entry);
      if (version === undefined) stale.push(`${c.collection}/${c.key}`);
      else expects.push({ collection: c.collection, key: c.key, version });
    }
    // Decided on an entry this replica already knows was replaced: no need to ask the database.
    if (stale.length > 0) return Promise.reject(new StaleState(stale));
    // While the database is slow or gone, waiting commits are bounded: a caller hears 503 at
    // once rather than joining a queue it would wait minutes in.
    if (this.queue.length >= (this.opts.queueMax ?? 4096) || (this.error && this.queue.length >= this.batchMax))
      return Promise.reject(unavailable(this.error ?? "too many writes waiting; try again shortly"));
    return new Promise((resolve, reject) => {
      this.queue.push({ events, changes, expects, queuedAt: performance.now(), resolve, reject });
      this.kick();
    });
  }

  async append(type: AuditType, actor: string, fields: Record<string, unknown>): Promise<AuditRecord> {
    return (await this.commit([{ type, actor, fields }]))[0]!;
  }

  cursor(afterSeq: number): AuditCursor {
    let at = afterSeq;
    return {
      read: async (max = 500) => {
        const records = await (this.audit as PostgresAuditQuery).after(at, max);
        if (records.length > 0) at = records.at(-1)!.seq;
        return records;
      },
    };
  }

  onCommit(listener: (records: readonly AuditRecord[]) => void): void {
    this.commitListeners.push(listener);
  }

  onExternalChange(listener: (changed: readonly { collection: Collection; key: string }[]) => void): void {
    this.changeListeners.push(listener);
  }

  /**
   * Takes (or renews) the lease on (kind, key) until `ms` from now by the database's clock, so
   * replicas' clocks need not agree; a lease whose holder let it lapse is taken over.
   *
   * Taking it (not renewing a live lease of ours) catches the cache up first: the last holder
   * committed its work (a webhook's cursor, say) before it let go, and a notification of that
   * may not have been read here yet. Without this, the new holder could resume from an older
   * position and do that work again. Its callers read their position after the claim, and
   * start again from it if it moved (another replica did the work while their lease had lapsed).
   */
  async claim(kind: string, key: string, ms: number): Promise<boolean> {
    const lease = `${kind}\0${key}`;
    let r: { rowCount: number | null; rows: { renewed: boolean | null }[] };
    try {
      r = await this.opts.db.query<{ renewed: boolean | null }>(
        `WITH prev AS (SELECT owner = $3 AND until >= now() AS ours FROM leases WHERE kind = $1 AND key = $2)
         INSERT INTO leases (kind, key, owner, until) VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond')
         ON CONFLICT (kind, key) DO UPDATE SET owner = EXCLUDED.owner, until = EXCLUDED.until
         WHERE leases.owner = EXCLUDED.owner OR leases.until < now()
         RETURNING (SELECT ours FROM prev) AS renewed`,
        [kind, key, this.opts.replica, ms],
      );
    } catch (err) {
      // The claim may have been written and only its answer lost: it may have been a take, so
      // the next claim (which would see a live lease of ours, a renewal) catches up first.
      this.leasesBehind.set(lease, this.roundsBegun);
      throw err;
    }
    if (r.rowCount !== 1) return false;
    if (r.rows[0]?.renewed !== true || this.leasesBehind.has(lease)) {
      this.leasesBehind.set(lease, this.roundsBegun);
      const failure = await this.roundAfterNow();
      if (failure !== undefined) {
        // A failed catch-up fails the claim (its callers retry a storage failure) and holds
        // nothing. Should letting go fail too, the next claim, a renewal by then, catches up first.
        await this.release(kind, key).catch(() => undefined);
        throw failure;
      }
      this.leasesBehind.delete(lease);
      // The catch-up may have outlasted the lease, and another replica taken it meanwhile. It is
      // held if the row is still ours (a take changes the owner, a release deletes the row, so
      // nobody held it since, even if it lapsed), and then it runs its full length from now.
      try {
        const held = await this.opts.db.query(
          `UPDATE leases SET until = now() + $4 * interval '1 millisecond'
           WHERE kind = $1 AND key = $2 AND owner = $3`,
          [kind, key, this.opts.replica, ms],
        );
        return held.rowCount === 1;
      } catch (err) {
        await this.release(kind, key).catch(() => undefined);
        throw err;
      }
    }
    return true;
  }

  /**
   * Leases taken whose catch-up is still running or failed, with the rounds begun by then. A claim
   * of one of them catches up before it answers, even as a renewal: after a failure the next claim
   * catches up. A round begun later that succeeds clears them. (Two claims of one lease at once in
   * one process are not ordered: the second can answer before the first's take is recorded here.
   * No caller does that; each lease has one loop per process.)
   */
  private readonly leasesBehind = new Map<string, number>();

  async release(kind: string, key: string): Promise<void> {
    await this.opts.db.query("DELETE FROM leases WHERE kind = $1 AND key = $2 AND owner = $3", [
      kind,
      key,
      this.opts.replica,
    ]);
  }

  /** A token bucket in rate_buckets, refilled by the database's clock (replicas' clocks need not agree). */
  async takeToken(scope: string, key: string, perMinute: number): Promise<boolean> {
    const r = await this.opts.db.query(
      `INSERT INTO rate_buckets (scope, key, tokens, at) VALUES ($1, $2, $3::double precision - 1, now())
       ON CONFLICT (scope, key) DO UPDATE
         SET tokens = LEAST($3, rate_buckets.tokens + extract(epoch FROM now() - rate_buckets.at) / 60 * $3) - 1,
             at = now()
         WHERE LEAST($3, rate_buckets.tokens + extract(epoch FROM now() - rate_buckets.at) / 60 * $3) >= 1
       RETURNING tokens`,
      [scope, key.slice(0, 200), perMinute],
    );
    return r.rowCount === 1;
  }

  /**
   * Resolves once a catch-up round that began after this call has ended: not when the loop
   * ends, which a steady stream of calls (a flood of unknown tokens) could put off for ever.
   */
  async sync(): Promise<void> {
    await this.roundAfterNow();
  }

  /** Resolves as sync() does, with the error of that round if it failed (undefined if not). */
  private roundAfterNow(): Promise<unknown> {
    const after = this.roundsBegun;
    return new Promise<unknown>((resolve) => {
      this.roundWaiters.push({ after, resolve });
      void this.refresh();
    });
  }

  /** Catch-up rounds begun so far, and who waits for a round that begins after a given count. */
  private roundsBegun = 0;
  private roundWaiters: { after: number; resolve: (failure: unknown) => void }[] = [];

  /** Catches the cache up now (after a notification, on a timer, or before a stale commit is retried). */
  refresh(): Promise<void> {
    if (this.catching) {
      this.catchAgain = true;
      return this.catching;
    }
    this.catching = (async () => {
      do {
        this.catchAgain = false;
        const round = ++this.roundsBegun;
        let failure: unknown;
        try {
          let got = this.needReload ? undefined : await catchUp(this.opts.db, this.cache);
          if (got === undefined || got.changed === "reload") {
            this.needReload = false;
            got = await reload(this.opts.db, this.cache);
          }
          this.advanceHead(got.head);
          for (const [lease, after] of this.leasesBehind) if (after < round) this.leasesBehind.delete(lease);
          const changed = got.changed as EntryId[];
          // Outside the round's outcome: the state is caught up whatever a listener does.
          if (changed.length > 0) this.tell(this.changeListeners, changed, "change listener failed");
        } catch (err) {
          failure = err;
          this.opts.log.warn({ err: safeErr(err) }, "catching up with the database failed; retrying");
        }
        const waiting = this.roundWaiters;
        this.roundWaiters = [];
        for (const w of waiting) {
          if (w.after < round) w.resolve(failure);
          else this.roundWaiters.push(w);
        }
      } while (this.catchAgain && !this.closed);
    })().finally(() => {
      this.catching = undefined;
      // A waiter that came as the loop was ending gets a round of its own; closing lets all go.
      if (this.closed) for (const w of this.roundWaiters.splice(0)) w.resolve(undefined);
      else if (this.roundWaiters.length > 0) void this.refresh();
    });
    return this.catching;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    await this.flushing;
    await this.catching;
    await this.listener?.close();
    await this.opts.db.close();
  }

  /** The head moves only once the cache includes every change up to it (the KRL's version relies on that). */
  private advanceHead(head: { seq: number; hash: string }): void {
    if (head.seq > this.headNow.seq) this.headNow = head;
  }

  private onNotify(payload: string): void {
    try {
      const p = JSON.parse(payload) as { o?: unknown; v?: unknown; s?: unknown };
      // This replica's own commit, already in the cache: nothing to read back.
      if (
        p.o === this.opts.replica &&
        typeof p.v === "number" &&
        p.v <= this.cache.lastVersion &&
        typeof p.s === "number" &&
        p.s <= this.headNow.seq
      )
        return;
    } catch {
      // Not ours to understand: read what changed.
    }
    void this.refresh();
  }

  /** Starts flushing unless a flush runs; a commit queued as one ends starts the next. */
  private kick(): void {
    if (this.flushing || this.queue.length === 0) return;
    this.flushing = this.flush().finally(() => {
      this.flushing = undefined;
      this.kick();
    });
  }

  private get batchMax(): number {
    return this.opts.batchMax ?? 64;
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.batchMax);
      // A commit that waited too long (the database was slow or down) is refused unwritten: its
      // caller has likely given up, and the ones behind it should not wait for it too.
      const oldest = performance.now() - (this.opts.queueWaitMs ?? 10_000);
      const live = batch.filter((b) => {
        if (b.queuedAt >= oldest) return true;
        b.reject(unavailable(this.error ?? "the write waited too long for the database; nothing was written"));
        return false;
      });
      if (live.length > 0) await this.run(live);
    }
  }

  private async run(batch: Queued[]): Promise<void> {
    let outcome;
    try {
      const time = this.opts.now().toISOString();
      outcome = await this.opts.db.tx((c) => commitBatch(c, batch, time, this.opts.replica));
    } catch (err) {
      for (const b of batch) b.reject(err);
      if (err instanceof SshcaError && err.code === "unavailable") {
        this.error = err.message;
        // The commits queued behind it would meet the same database: they hear 503 now, not
        // one statement timeout per batch later (nothing of theirs was written).
        for (const b of this.queue.splice(0)) b.reject(err);
      }
      // A commit whose outcome is unknown may have landed: the feed tells, soon.
      void this.refresh();
      return;
    }
    this.error = undefined;
    for (const w of outcome.written) this.cache.apply(w, true);
    // Versions are handed out in commit order: when this commit's follow the last one applied
    // without a gap, nothing of another replica's came between, and the feed need not read them back.
    const versions = outcome.written.map((w) => w.version).sort((x, y) => x - y);
    if (versions.length > 0 && versions.every((v, i) => v === this.cache.lastVersion + 1 + i)) {
      this.cache.lastVersion = versions.at(-1)!;
    }
    // The head moves to this commit's last record when the cache held everything before its
    // first; otherwise other replicas' changes came between, and it moves once the feed has them.
    const first = outcome.results.flatMap((r) => ("records" in r ? r.records : []))[0];
    if (first && first.seq === this.headNow.seq + 1) this.headNow = outcome.head;
    else void this.refresh();
    const stale = outcome.results.some((r) => "stale" in r);
    // A commit refused as stale is retried on fresh state: catch up (one round) before telling its caller.
    if (stale) await this.sync();
    const records: AuditRecord[] = [];
    outcome.results.forEach((r, i) => {
      if ("stale" in r) batch[i]!.reject(new StaleState(r.stale));
      else {
        records.push(...r.records);
        batch[i]!.resolve(r.records);
      }
    });
    if (records.length > 0) this.tell(this.commitListeners, records, "audit commit listener failed");
  }

  /** Calls each listener; one that throws is logged, and the others are still called. */
  private tell<T>(listeners: readonly ((arg: T) => void)[], arg: T, failed: string): void {
    for (const l of listeners) {
      try {
        l(arg);
      } catch (err) {
        this.opts.log.error({ err: safeErr(err) }, failed);
      }
    }
  }

  private async prune(): Promise<void> {
    try {
      if (!(await this.claim("prune", "tombstones", 60_000))) return;
      await pruneTombstones(this.opts.db);
    } catch (err) {
      this.opts.log.warn({ err: safeErr(err) }, "pruning removed entries failed");
    }
  }
}
