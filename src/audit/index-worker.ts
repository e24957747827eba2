/**
 * The audit index worker thread: owns <dataDir>/audit/index.sqlite, feeds it from the durable
 * tail of the log after each commit, and answers look-ups, so neither indexing nor querying
 * ever runs on the daemon's event loop. The log stays the only source of truth: the index is
 * rebuilt from it whenever it is missing, unreadable, or does not match the log.
 */
import { chmodSync, closeSync, openSync, rmSync } from "node:fs";
import type { DatabaseSync } from "node:sqlite";
import { parentPort, workerData } from "node:worker_threads";
import type { FromIndex, IndexWorkerData, ToIndex } from "./index-protocol.js";
import { IndexStore, type Located } from "./index-store.js";
import { PlaceReader, StaleIndex } from "./place-reader.js";
import type { AuditRecord } from "./record.js";
import { loadSqlite } from "./sqlite.js";
import { AuditTail } from "./tail.js";
import { lowerThreadPriority } from "./thread-priority.js";

/** Records per transaction while catching up (the worker answers messages between batches). */
const BATCH = 2000;
/** Further behind than this, a query is told to come back instead of waiting for the catch-up. */
const MAX_WAIT_BEHIND = 20_000;
/** An answer stops (with a cursor for the rest) once its records reach this size. */
const MAX_ANSWER_BYTES = 4 << 20;

type Query = Extract<ToIndex, { type: "query" }>;

const port = parentPort!;
const post = (m: FromIndex) => port.postMessage(m);
const log = (level: "info" | "warn" | "error", msg: string, data?: Record<string, unknown>) =>
  post({ type: "log", level, msg, ...(data ? { data } : {}) });

class Indexer {
  private store!: IndexStore;
  private tail!: AuditTail;
  /** The newest durable record of the log (the daemon says when it moves). */
  private durableSeq: number;
  private indexed = 0;
  private readonly queue: Query[] = [];
  private readonly places: PlaceReader;
  /** Why the reader cannot get further (a damaged log), until the next commit says to retry. */
  private stuck: string | undefined;
  /** Why the index cannot be used at all (a rebuild failed). */
  private broken: string | undefined;
  private rebuildsForErrors = 0;
  private buildStarted: number | undefined;
  private running = false;
  private closing = false;
  private readonly Database: typeof DatabaseSync;
  private readonly data: IndexWorkerData;

  constructor(Database: typeof DatabaseSync, data: IndexWorkerData) {
    this.Database = Database;
    this.data = data;
    this.durableSeq = data.headSeq;
    this.places = new PlaceReader(data.auditDir);
  }

  start(): void {
    let reason: string | undefined;
    try {
      this.store = this.openStore();
      reason = this.staleness();
    } catch (err) {
      reason = `the index file cannot be used (${(err as Error).message})`;
    }
    try {
      if (reason) this.rebuild(reason);
      else this.report();
    } catch (err) {
      this.broken = `the audit index cannot be created (${(err as Error).message})`;
      log("error", "audit index failed", { err: (err as Error).message });
    }
    void this.pump();
  }

  handle(m: ToIndex): void {
    if (m.type === "head") {
      this.durableSeq = m.seq;
      this.stuck = undefined;
    } else if (m.type === "query") {
      this.queue.push(m);
    } else {
      this.closing = true;
    }
    void this.pump();
  }

  private openStore(): IndexStore {
    // Created 0600 before SQLite opens it; its -wal and -shm files take the same mode.
    closeSync(openSync(this.data.indexPath, "a", 0o600));
    chmodSync(this.data.indexPath, 0o600);
    return new IndexStore(this.Database, this.data.indexPath);
  }

  /** Why the index cannot be continued from where it stopped, or undefined if it can. */
  private staleness(): string | undefined {
    const st = this.store.state();
    if (st.lastSeq === 0) {
      this.tail = new AuditTail(this.data.auditDir, 0, () => this.durableSeq);
      if (this.durableSeq > 0) this.building();
      return undefined;
    }
    if (st.lastSeq > this.durableSeq)
      return `the log ends at record ${this.durableSeq}, before the index (${st.lastSeq})`;
    if (!st.last || !this.holds({ seq: st.lastSeq, ...st.last }, st.lastHash)) {
      return `record ${st.lastSeq} in the log is not the one indexed (the log was replaced)`;
    }
    this.indexed = st.lastSeq;
    this.tail = new AuditTail(this.data.auditDir, st.lastSeq, () => this.durableSeq, {
      segment: st.last.segment,
      offset: st.last.offset + st.last.length,
    });
    if (this.durableSeq - this.indexed > MAX_WAIT_BEHIND) this.building();
    return undefined;
  }

  private building(): void {
    this.buildStarted = Date.now();
    log("info", "building the audit index", { records: this.durableSeq });
  }

  private rebuild(reason: string): void {
    log("warn", "rebuilding the audit index from the log", { reason });
    this.places.close();
    try {
      this.store?.close();
    } catch {
      // already closed
    }
    const path = this.data.indexPath;
    for (const f of [path, `${path}-wal`, `${path}-shm`]) rmSync(f, { force: true });
    this.store = this.openStore();
    this.indexed = 0;
    this.tail = new AuditTail(this.data.auditDir, 0, () => this.durableSeq);
    this.buildStarted = Date.now();
    this.report();
  }

  private report(): void {
    post({ type: "progress", indexed: this.indexed });
  }

  /** Catches up with the durable head a batch at a time, answering queries in between. */
  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (;;) {
        this.answerReady();
        if (this.closing || this.broken || this.stuck || this.indexed >= this.durableSeq) break;
        await this.catchUp();
        await new Promise((r) => setImmediate(r));
      }
    } finally {
      this.running = false;
    }
    if (this.closing) this.close();
  }

  private async catchUp(): Promise<void> {
    let batch = await this.tail.readPlaced(BATCH);
    // Nothing readable below the durable head: the tail found its place again (a batch that
    // failed was being cut back under it); a second empty read means the log is damaged there.
    if (batch.length === 0 && !this.closing) batch = await this.tail.readPlaced(BATCH);
    if (this.closing) return;
    if (batch.length === 0) {
      this.stuck = `the audit log cannot be read past record ${this.indexed} (run: sshcad audit verify)`;
      log("error", "audit index cannot read the log further", { indexed: this.indexed, head: this.durableSeq });
      return;
    }
    try {
      this.store.insert(batch);
    } catch (err) {
      if (++this.rebuildsForErrors > 1) {
        this.broken = `the audit index cannot be written (${(err as Error).message})`;
        log("error", "audit index failed", { err: (err as Error).message });
        return;
      }
      try {
        this.rebuild(`writing the index failed (${(err as Error).message})`);
      } catch (again) {
        this.broken = `the audit index cannot be created (${(again as Error).message})`;
        log("error", "audit index failed", { err: (again as Error).message });
      }
      return;
    }
    this.indexed = batch.at(-1)!.record.seq;
    if (this.buildStarted !== undefined && this.indexed >= this.durableSeq) {
      log("info", "audit index built", { records: this.indexed, seconds: (Date.now() - this.buildStarted) / 1000 });
      this.buildStarted = undefined;
    }
    this.report();
  }

  /** Answers every query the index can answer now; fails those that cannot wait. */
  private answerReady(): void {
    const waiting: Query[] = [];
    for (const q of this.queue.splice(0)) {
      if (this.closing) this.fail(q, "unavailable", "sshcad is shutting down");
      else if (this.broken) this.fail(q, "unavailable", this.broken);
      else if (this.indexed >= q.atLeast) this.answer(q);
      else if (this.stuck) this.fail(q, "unavailable", this.stuck);
      else if (q.atLeast - this.indexed > MAX_WAIT_BEHIND) {
        this.fail(
          q,
          "unavailable",
          `the audit index is being built (${this.indexed} of ${this.durableSeq} records); try again shortly`,
        );
      } else waiting.push(q);
    }
    this.queue.push(...waiting);
  }

  private answer(q: Query): void {
    try {
      const { found, more } = this.store.search(q.filter, q.limit, q.before);
      const records: AuditRecord[] = [];
      let bytes = 0;
      for (const l of found) {
        if (records.length > 0 && bytes + l.length > MAX_ANSWER_BYTES) break;
        records.push(this.places.read(l));
        bytes += l.length;
      }
      post({ type: "answer", id: q.id, records, more: more || records.length < found.length });
    } catch (err) {
      if (err instanceof StaleIndex) {
        this.queue.push(q);
        try {
          this.rebuild(err.message);
        } catch (again) {
          this.broken = `the audit index cannot be created (${(again as Error).message})`;
        }
        return;
      }
      log("error", "audit query failed", { err: (err as Error).message });
      this.fail(q, "internal", "the audit query failed; see the CA log");
    }
  }

  private fail(q: Query, code: "unavailable" | "internal", message: string): void {
    post({ type: "failed", id: q.id, code, message });
  }

  /** Does the log hold the record with this hash where the index has it? */
  private holds(l: Located, hash: string): boolean {
    try {
      return this.places.read(l).hash === hash;
    } catch (err) {
      if (err instanceof StaleIndex) return false;
      throw err;
    }
  }

  private close(): void {
    this.places.close();
    try {
      this.store?.close();
    } catch {
      // never opened, or already closed by a failed rebuild
    }
    post({ type: "closed" });
    port.close();
  }
}

// Indexing (a whole log when the index is rebuilt) and look-ups give way to issuance under load.
lowerThreadPriority(10);
const indexer = new Indexer(await loadSqlite(), workerData as IndexWorkerData);
port.on("message", (m: ToIndex) => indexer.handle(m));
indexer.start();
