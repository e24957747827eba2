import { Worker } from "node:worker_threads";
import type { Logger } from "pino";
import { SshcaError } from "../errors.js";
import type { FromIndex, IndexWorkerData, ToIndex } from "./index-protocol.js";
import type { AuditLog } from "./log.js";
import {
  type AuditFilter,
  type AuditPage,
  type AuditPageResult,
  type AuditQuery,
  decodeCursor,
  encodeCursor,
} from "./query.js";
import type { AuditRecord } from "./record.js";
import type { Anchor, VerifyResult } from "./verify.js";
import { verifyInWorker } from "./verify-in-worker.js";

export interface EmbeddedAuditQueryOptions {
  audit: AuditLog;
  /** The index file (<dataDir>/audit/index.sqlite). */
  indexPath: string;
  /** Heads known besides the log's own, checked by verify() (the state file's sequence number). */
  anchors: () => Anchor[];
  log: Logger;
}

/** Audit records that carry a scan's result. */
const SCAN_RESULTS = ["scan.finished", "scan.failed"];
/** Look-ups waiting for the index at once; more are turned away (503) rather than queued without bound. */
const MAX_PENDING = 64;
const QUERY_TIMEOUT_MS = 30_000;
/** A crashed index worker is started again on demand, at most this often. */
const RESPAWN_MS = 5_000;
/**
 * Heap bounds for the index thread (SQLite's own 2 MB cache lives outside it). A worker thread
 * costs about 18 MB of resident memory before it does anything; small heaps keep the rest
 * small (measured: about 25 MB in all, against 45 MB with default heaps). Answers are capped in
 * bytes (index-worker.ts), so no look-up needs more.
 */
const LIMITS = { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 };

interface Pending {
  resolve: (r: { records: AuditRecord[]; more: boolean }) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout;
}

/**
 * The embedded backend of AuditQuery: look-ups go to the index worker (SQLite, fed from the
 * log's durable tail after each commit), verification to a verification worker. The daemon's
 * event loop only posts messages and waits.
 */
export class EmbeddedAuditQuery implements AuditQuery {
  private worker: Worker | undefined;
  private lastSpawn = 0;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private indexed = 0;
  private verifying: Promise<VerifyResult> | undefined;
  private queuedVerify: Promise<VerifyResult> | undefined;
  private readonly stopping = new AbortController();
  private readonly opts: EmbeddedAuditQueryOptions;

  constructor(opts: EmbeddedAuditQueryOptions) {
    this.opts = opts;
    // The worker learns of every commit once it is durable, and reads the new records itself.
    opts.audit.onCommit((records) => this.post({ type: "head", seq: records.at(-1)!.seq }));
    this.spawn();
  }

  /** Durable records the index has not taken in yet (a metric; large while it is being built). */
  get indexLag(): number {
    return Math.max(0, this.opts.audit.head.seq - this.indexed);
  }

  async query(filter: AuditFilter, page: AuditPage): Promise<AuditPageResult> {
    let before: number | undefined;
    if (page.cursor !== undefined) {
      before = decodeCursor(page.cursor);
      if (before === undefined) throw new SshcaError("bad_request", "cursor is not one this server handed out");
    }
    const { records, more } = await this.ask(filter, page.limit, before);
    const oldest = records.at(-1);
    return { records: records.reverse(), ...(more && oldest ? { cursor: encodeCursor(oldest.seq) } : {}) };
  }

  async findScan(id: string): Promise<AuditRecord | undefined> {
    return (await this.ask({ scan: id, types: SCAN_RESULTS }, 1, undefined)).records[0];
  }

  /** One verification at a time; callers arriving while one runs share the next one. */
  verify(): Promise<VerifyResult> {
    if (!this.verifying) return this.startVerify();
    this.queuedVerify ??= this.verifying
      .catch(() => undefined)
      .then(() => {
        this.queuedVerify = undefined;
        return this.startVerify();
      });
    return this.queuedVerify;
  }

  private startVerify(): Promise<VerifyResult> {
    // Up to the head now (later records may be mid-write), and at least as far as every anchor.
    const head = this.opts.audit.head;
    const run = verifyInWorker(
      this.opts.audit.dir,
      { anchors: [{ ...head, source: "daemon's chain head" }, ...this.opts.anchors()], stopAfterSeq: head.seq },
      this.stopping.signal,
    ).finally(() => {
      if (this.verifying === run) this.verifying = undefined;
    });
    this.verifying = run;
    return run;
  }

  async close(): Promise<void> {
    this.stopping.abort();
    const worker = this.worker;
    this.worker = undefined;
    if (!worker) return;
    const exited = new Promise((r) => worker.once("exit", r));
    worker.postMessage({ type: "close" } satisfies ToIndex);
    const timer = setTimeout(() => void worker.terminate(), 5_000);
    await exited;
    clearTimeout(timer);
  }

  private ask(filter: AuditFilter, limit: number, before: number | undefined) {
    if (this.stopping.signal.aborted) throw new SshcaError("unavailable", "sshcad is shutting down");
    if (this.pending.size >= MAX_PENDING) {
      throw new SshcaError("unavailable", "too many audit look-ups at once; try again shortly");
    }
    if (!this.worker && Date.now() - this.lastSpawn >= RESPAWN_MS) this.spawn();
    if (!this.worker) throw new SshcaError("unavailable", "the audit index is restarting; try again shortly");
    const id = this.nextId++;
    return new Promise<{ records: AuditRecord[]; more: boolean }>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new SshcaError("unavailable", "the audit index did not answer in time; try again shortly"));
      }, QUERY_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      this.post({ type: "query", id, filter, limit, before, atLeast: this.opts.audit.head.seq });
    });
  }

  private post(m: ToIndex): void {
    this.worker?.postMessage(m);
  }

  private spawn(): void {
    this.lastSpawn = Date.now();
    const data: IndexWorkerData = {
      auditDir: this.opts.audit.dir,
      indexPath: this.opts.indexPath,
      headSeq: this.opts.audit.head.seq,
    };
    const worker = new Worker(new URL("./index-worker.js", import.meta.url), {
      workerData: data,
      resourceLimits: LIMITS,
    });
    worker.on("message", (m: FromIndex) => this.receive(m));
    worker.on("error", (err) => this.opts.log.error({ err: { message: err.message } }, "audit index worker failed"));
    worker.on("exit", (code) => {
      if (this.worker === worker) {
        this.worker = undefined;
        this.opts.log.error({ code }, "audit index worker stopped; it starts again on the next look-up");
      }
      for (const [id, p] of this.pending) {
        clearTimeout(p.timer);
        p.reject(new SshcaError("unavailable", "the audit index stopped; try again shortly"));
        this.pending.delete(id);
      }
    });
    this.worker = worker;
  }

  private receive(m: FromIndex): void {
    if (m.type === "progress") {
      this.indexed = m.indexed;
    } else if (m.type === "log") {
      this.opts.log[m.level](m.data ?? {}, m.msg);
    } else if (m.type === "answer" || m.type === "failed") {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.type === "answer") p.resolve(m);
      else p.reject(new SshcaError(m.code, m.message));
    }
  }
}
