import type { DatabaseSync, StatementSync } from "node:sqlite";
import { type Clause, filterClauses, recordKeys } from "./index-keys.js";
import type { AuditFilter } from "./query.js";
import type { Place, PlacedRecord } from "./tail.js";

/** A matching record's seq and where its line is. */
export interface Located extends Place {
  seq: number;
}

/** What the index covers: the log up to `lastSeq`, whose record has `lastHash` and sits at `last`. */
export interface IndexState {
  lastSeq: number;
  lastHash: string;
  last: Place | undefined;
}

const FORMAT = "sshca-audit-index/1";

/**
 * One row per record (seq, time, place) and one (key, seq) row per look-up key, in SQLite.
 * `maxtime` is the largest time up to and including the record: it never decreases with seq,
 * so a time bound becomes a seq bound with one index probe, and a record whose own time is
 * below it ("lagging": the clock stepped back) is found through a small partial index.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
  seq INTEGER PRIMARY KEY,
  time INTEGER NOT NULL,
  maxtime INTEGER NOT NULL,
  segment INTEGER NOT NULL,
  pos INTEGER NOT NULL,
  len INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS records_maxtime ON records (maxtime);
CREATE INDEX IF NOT EXISTS records_lagging ON records (seq) WHERE time < maxtime;
CREATE TABLE IF NOT EXISTS keys (k TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (k, seq)) WITHOUT ROWID;
`;

/** How far a key is counted when choosing which clause drives a query (enough to tell small from large). */
const ESTIMATE_CAP = 1000;

/** The audit index over one SQLite file. Synchronous: it lives in the index worker thread. */
export class IndexStore {
  private readonly db: DatabaseSync;
  private readonly statements = new Map<string, StatementSync>();
  private maxTime = 0;

  /** Opens (or creates) the index; a file of another format is refused (the caller rebuilds). */
  constructor(Database: typeof DatabaseSync, path: string) {
    this.db = new Database(path);
    try {
      // WAL with synchronous=NORMAL: a crash loses at most the newest batches, never consistency;
      // the index is derived, so the worker catches up from the log.
      this.db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -2048;");
      this.db.exec("PRAGMA temp_store = FILE;");
      this.db.exec(SCHEMA);
      const format = this.getMeta("format");
      if (format === undefined) this.setMeta("format", FORMAT);
      else if (format !== FORMAT) throw new Error(`index format ${format} is not ${FORMAT}`);
      const last = this.state().lastSeq;
      this.maxTime =
        last > 0 ? Number(this.stmt("SELECT maxtime FROM records WHERE seq = ?").get(last)?.maxtime ?? 0) : 0;
    } catch (err) {
      this.db.close();
      throw err;
    }
  }

  close(): void {
    this.db.close();
  }

  private stmt(sql: string): StatementSync {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  private getMeta(k: string): string | undefined {
    return this.stmt("SELECT v FROM meta WHERE k = ?").get(k)?.v as string | undefined;
  }

  private setMeta(k: string, v: string): void {
    this.stmt("INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v").run(k, v);
  }

  state(): IndexState {
    const lastSeq = Number(this.getMeta("lastSeq") ?? 0);
    const row = lastSeq > 0 ? this.stmt("SELECT segment, pos, len FROM records WHERE seq = ?").get(lastSeq) : undefined;
    return {
      lastSeq,
      lastHash: this.getMeta("lastHash") ?? "",
      last: row ? { segment: Number(row.segment), offset: Number(row.pos), length: Number(row.len) } : undefined,
    };
  }

  /** Adds records (in sequence order, after lastSeq) in one transaction. */
  insert(batch: readonly PlacedRecord[]): void {
    if (batch.length === 0) return;
    const addRecord = this.stmt(
      "INSERT INTO records (seq, time, maxtime, segment, pos, len) VALUES (?, ?, ?, ?, ?, ?)",
    );
    const addKey = this.stmt("INSERT OR IGNORE INTO keys (k, seq) VALUES (?, ?)");
    let maxTime = this.maxTime;
    this.db.exec("BEGIN");
    try {
      for (const { record: r, segment, offset, length } of batch) {
        const time = Date.parse(r.time);
        const t = Number.isFinite(time) ? time : 0;
        maxTime = Math.max(maxTime, t);
        addRecord.run(r.seq, t, maxTime, segment, offset, length);
        for (const k of recordKeys(r)) addKey.run(k, r.seq);
      }
      const last = batch.at(-1)!.record;
      this.setMeta("lastSeq", String(last.seq));
      this.setMeta("lastHash", last.hash);
      this.db.exec("COMMIT");
    } catch (err) {
      this.db.exec("ROLLBACK");
      throw err;
    }
    this.maxTime = maxTime;
  }

  /**
   * The newest `limit` records matching `filter` with seq below `before` (newest first), and
   * whether older ones exist. Key conditions drive the query from the smallest clause; time
   * bounds narrow the seq range.
   */
  search(filter: AuditFilter, limit: number, before?: number): { found: Located[]; more: boolean } {
    const clauses = filterClauses(filter);
    if (clauses.some((c) => c.length === 0)) return { found: [], more: false };
    const since = filter.since?.getTime();
    const until = filter.until?.getTime();
    const time = { since, until };
    let lo = 1;
    const hi = before === undefined ? Number.MAX_SAFE_INTEGER : before - 1;
    if (since !== undefined) {
      const first = this.firstReaching(since);
      if (first === undefined) return { found: [], more: false };
      lo = Math.max(lo, first);
    }
    // Records from the first one reaching `until` on can match only if they lag behind the clock.
    let mainHi = hi;
    let lagLo: number | undefined;
    if (until !== undefined) {
      const first = this.firstReaching(until);
      if (first !== undefined) {
        mainHi = Math.min(hi, first - 1);
        lagLo = Math.max(lo, first);
      }
    }
    const want = limit + 1;
    const seqs: number[] = [];
    if (lagLo !== undefined && lagLo <= hi) seqs.push(...this.lagging(lagLo, hi, clauses, time, want));
    if (seqs.length < want && lo <= mainHi) seqs.push(...this.range(lo, mainHi, clauses, time, want - seqs.length));
    const at = this.stmt("SELECT segment, pos, len FROM records WHERE seq = ?");
    const found = seqs.slice(0, limit).map((seq) => {
      const row = at.get(seq)!;
      return { seq, segment: Number(row.segment), offset: Number(row.pos), length: Number(row.len) };
    });
    return { found, more: seqs.length > limit };
  }

  /** The first record whose maxtime reaches `t` (every earlier record is before `t`). */
  private firstReaching(t: number): number | undefined {
    const row = this.stmt("SELECT seq FROM records WHERE maxtime >= ? ORDER BY maxtime, seq LIMIT 1").get(t);
    return row ? Number(row.seq) : undefined;
  }

  /** SQL conditions (and their values) for the time bounds and for clauses checked per record. */
  private conditions(
    seqCol: string,
    timeCol: string,
    clauses: readonly Clause[],
    time: { since: number | undefined; until: number | undefined },
  ): { sql: string; args: (string | number)[] } {
    const parts: string[] = [];
    const args: (string | number)[] = [];
    if (time.since !== undefined) {
      parts.push(`${timeCol} >= ?`);
      args.push(time.since);
    }
    if (time.until !== undefined) {
      parts.push(`${timeCol} < ?`);
      args.push(time.until);
    }
    for (const c of clauses) {
      parts.push(`EXISTS (SELECT 1 FROM keys x WHERE x.k IN (${c.map(() => "?").join(", ")}) AND x.seq = ${seqCol})`);
      args.push(...c);
    }
    return { sql: parts.map((p) => ` AND ${p}`).join(""), args };
  }

  /** Matching seqs in [lo, hi], newest first, at most n. */
  private range(
    lo: number,
    hi: number,
    clauses: readonly Clause[],
    time: { since: number | undefined; until: number | undefined },
    n: number,
  ): number[] {
    const timed = time.since !== undefined || time.until !== undefined;
    if (clauses.length === 0) {
      const c = this.conditions("r.seq", "r.time", [], time);
      const sql = `SELECT r.seq FROM records r WHERE r.seq BETWEEN ? AND ?${c.sql} ORDER BY r.seq DESC LIMIT ?`;
      return this.stmt(sql)
        .all(lo, hi, ...c.args, n)
        .map((row) => Number(row.seq));
    }
    const sizes = clauses.length === 1 ? [0] : clauses.map((c) => this.estimate(c, lo, hi));
    const driver = sizes.indexOf(Math.min(...sizes));
    const others = clauses.filter((_, i) => i !== driver);
    const c = this.conditions("d.seq", "r.time", others, time);
    const sql = `SELECT d.seq FROM keys d${timed ? " JOIN records r ON r.seq = d.seq" : ""} WHERE d.k = ? AND d.seq BETWEEN ? AND ?${c.sql} ORDER BY d.seq DESC LIMIT ?`;
    const seqs = new Set<number>();
    for (const key of clauses[driver]!) {
      for (const row of this.stmt(sql).all(key, lo, hi, ...c.args, n)) seqs.add(Number(row.seq));
    }
    return [...seqs].sort((a, b) => b - a).slice(0, n);
  }

  /** Lagging records (time below an earlier record's) in [lo, hi] that match, newest first. */
  private lagging(
    lo: number,
    hi: number,
    clauses: readonly Clause[],
    time: { since: number | undefined; until: number | undefined },
    n: number,
  ): number[] {
    const c = this.conditions("r.seq", "r.time", clauses, time);
    const sql = `SELECT r.seq FROM records r WHERE r.time < r.maxtime AND r.seq BETWEEN ? AND ?${c.sql} ORDER BY r.seq DESC LIMIT ?`;
    return this.stmt(sql)
      .all(lo, hi, ...c.args, n)
      .map((row) => Number(row.seq));
  }

  /** How many records a clause's keys have in [lo, hi], counted up to a cap per key. */
  private estimate(clause: Clause, lo: number, hi: number): number {
    const count = this.stmt(
      "SELECT count(*) AS n FROM (SELECT 1 FROM keys WHERE k = ? AND seq BETWEEN ? AND ? LIMIT ?)",
    );
    return clause.reduce((sum, k) => sum + Number(count.get(k, lo, hi, ESTIMATE_CAP)!.n), 0);
  }
}
