import type { Socket } from "node:net";
import type { Logger } from "pino";
import type { AuditRecord } from "../audit/record.js";
import { FACILITIES, type SyslogConfig } from "../config/syslog-schema.js";
import { safeErr } from "../errors.js";
import { put, StaleState, type Storage } from "../store/port.js";
import { formatRfc5424, frame, type SyslogFields } from "./syslog-format.js";
import { connectSyslog, type SyslogTls } from "./syslog-transport.js";

export interface SyslogDeps {
  /** The audit chain (read from a cursor), the cursor kept in the live state, and the lease. */
  storage: Pick<Storage, "state" | "head" | "commit" | "cursor" | "claim" | "release">;
  log: Logger;
  /** Resolves on the next audit commit (or soon after, as a fallback). */
  nextCommit: () => Promise<void>;
  onFailure?: (destination: string) => void;
  /** Messages written to the receiver's connection. */
  onSent?: (destination: string, messages: number) => void;
  hostname: string;
  pid: number;
  /** How long a replica holds a destination; tests shorten it. */
  leaseMs?: number;
}

/** How long a replica holds a destination before another may take over (renewed every third of it). */
const LEASE_MS = 30_000;
/**
 * TCP syslog has no acknowledgement (RFC 6587 and RFC 5425 define none): a write only hands bytes
 * to the kernel. The durable cursor therefore moves past a record once it was written to a
 * connection that then stayed up this long: a receiver that dies drops the connection well within
 * it (with unread data, its kernel answers RST), and what it may not have read is sent again on
 * the next connection. On a clean stop the receiver's own close after ours confirms it read
 * everything (TCP delivers the FIN after all data), so nothing is sent twice across a restart.
 */
const SETTLE_MS = 2000;
const READ_BATCH = 256;
/**
 * A write the receiver does not take within this long (it stopped reading and the buffers are
 * full) drops the connection; what was not settled is sent again on the next one. Shorter than a
 * third of the lease, so the lease is renewed in time.
 */
const WRITE_TIMEOUT_MS = 10_000;
/** How long a clean stop waits for the receiver to close its side after ours. */
const CLOSE_WAIT_MS = 5000;

/**
 * Sends audit events to one syslog receiver, in order, at least once: like the webhooks, the
 * audit log is the outbox, followed from a cursor kept in the live state (`syslog` collection),
 * by one replica at a time (the lease). On any connection failure it connects again, with
 * backoff, and resends from the durable cursor, so a receiver may see a record twice after an
 * outage (its `seq` tells them apart) but never misses one, across restarts of either side.
 * Memory stays bounded: one batch at a time, each written with the socket's backpressure.
 */
export class SyslogWorker {
  private stopped = false;
  private readonly stopping = new AbortController();
  private wake: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private readonly fields: SyslogFields;

  constructor(
    readonly dest: SyslogConfig,
    private readonly tls: SyslogTls,
    private readonly deps: SyslogDeps,
  ) {
    this.fields = {
      facility: FACILITIES[dest.facility],
      hostname: dest.hostname ?? deps.hostname,
      appName: dest.appName,
      procId: String(deps.pid),
      sdId: dest.sdId,
      maxMessage: dest.maxMessage,
    };
  }

  start(): void {
    this.running = this.loop().catch((err) =>
      this.deps.log.error({ err: safeErr(err), syslog: this.dest.name }, "syslog export stopped"),
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    this.wake?.();
    await this.running;
  }

  private get leaseMs(): number {
    return this.deps.leaseMs ?? LEASE_MS;
  }

  private matches(r: AuditRecord): boolean {
    return this.dest.events.includes("*") || this.dest.events.includes(r.type);
  }

  private async loop(): Promise<void> {
    const { storage, log } = this.deps;
    const name = this.dest.name;
    const initial = this.dest.retry.initial * 1000;
    let backoff = initial;
    const pause = async (err: unknown, message: string) => {
      this.deps.onFailure?.(name);
      log.warn({ syslog: name, retryInMs: backoff, err: safeErr(err) }, message);
      await this.sleep(backoff * (0.75 + Math.random() * 0.5));
      backoff = Math.min(backoff * 2, this.dest.retry.max * 1000);
    };
    while (!this.stopped) {
      let held: boolean;
      try {
        held = await storage.claim("syslog", name, this.leaseMs);
      } catch (err) {
        // The database unreachable (restarting): the export waits and carries on, never stops.
        await pause(err, "syslog export cannot take its lease; will retry");
        continue;
      }
      if (!held) {
        await this.sleep(this.leaseMs / 3);
        continue;
      }
      let socket: Socket | undefined;
      try {
        let entry = storage.state.syslog[name];
        if (!entry) {
          // A new destination starts at the head (from: now) or with the whole log (from: start).
          entry = { cursor: this.dest.from === "start" ? 0 : storage.head.seq };
          await storage.commit([], [put("syslog", name, entry, { entry: undefined })]);
        }
        try {
          socket = await connectSyslog(this.dest.url, this.tls, this.stopping.signal);
        } catch (err) {
          if (this.stopped) break;
          await pause(err, "syslog receiver unreachable; will retry");
          continue;
        }
        log.info({ syslog: name, after: entry.cursor }, "syslog export connected");
        const since = Date.now();
        await this.pump(socket, entry);
        // A connection that lasted resets the backoff; one dropped at once keeps doubling it.
        if (Date.now() - since > SETTLE_MS) backoff = initial;
      } catch (err) {
        // StaleState: another replica moved the cursor (it held the lease meanwhile): read it again.
        if (!(err instanceof StaleState) && !this.stopped)
          await pause(err, "syslog connection lost; will reconnect and resend from the cursor");
      } finally {
        socket?.destroy();
      }
    }
    await storage.release("syslog", name).catch(() => undefined);
  }

  /**
   * Writes records from the cursor while the connection lives, and moves the durable cursor past
   * what has settled. Returns on stop (after a clean close) or when the lease is lost; throws
   * when the connection fails.
   */
  private async pump(socket: Socket, start: { cursor: number }): Promise<void> {
    const { storage } = this.deps;
    const name = this.dest.name;
    let entry = start;
    let lost: Error | undefined;
    let peerClosed = false;
    const down = (err?: Error) => {
      lost ??= err ?? new Error("the receiver closed the connection");
      this.wake?.();
    };
    socket.on("error", (err) => down(err));
    socket.on("end", () => {
      peerClosed = true;
      down();
    });
    socket.on("close", () => down());
    socket.on("data", () => undefined); // a receiver that talks back is not listened to
    socket.setNoDelay(true);
    const reader = storage.cursor(entry.cursor);
    let written = entry.cursor;
    let waiting: { seq: number; at: number }[] = [];
    // When the lease was last renewed (monotonic clock); the outer loop's claim may be a
    // connection attempt ago, so the first batch renews it.
    let claimedAt = -Infinity;
    const save = async (cursor: number) => {
      if (cursor <= entry.cursor) return;
      const next = { cursor }; // entries are replaced, never mutated
      await storage.commit([], [put("syslog", name, next, { entry })]);
      entry = next;
    };
    while (!this.stopped && !lost) {
      const records = await reader.read(READ_BATCH);
      // The lease is renewed every third of it, and before anything read is sent once that is
      // due: had it lapsed while we read (a long pause), another replica may have sent those
      // records and moved the cursor. The cursor is read after the claim (a claim that takes the
      // lease back catches the state up); if it moved, the export connects again from it.
      // A renewal that itself took more than a third of the lease (a pause after the database
      // renewed it) is not trusted and is made again, up to three times: with a database that
      // slow nothing is sent, the export connects again, and stop() is not held up.
      for (let tries = 0; performance.now() - claimedAt > this.leaseMs / 3; tries++) {
        if (this.stopped || tries === 3) break;
        const at = performance.now();
        if (!(await storage.claim("syslog", name, this.leaseMs))) return;
        if (storage.state.syslog[name]?.cursor !== entry.cursor) return;
        if (performance.now() - at <= this.leaseMs / 3) claimedAt = at;
      }
      if (this.stopped) break;
      if (performance.now() - claimedAt > this.leaseMs / 3) return;
      if (records.length > 0) {
        const frames = records.filter((r) => this.matches(r)).map((r) => frame(formatRfc5424(r, this.fields)));
        if (frames.length > 0) {
          await this.write(socket, Buffer.concat(frames));
          if (lost) break;
          this.deps.onSent?.(name, frames.length);
        }
        written = records.at(-1)!.seq;
        waiting.push({ seq: written, at: Date.now() });
      }
      const settled = waiting.filter((w) => Date.now() - w.at >= SETTLE_MS).at(-1);
      if (settled && !lost) {
        await save(settled.seq);
        waiting = waiting.filter((w) => w.seq > settled.seq);
      }
      if (records.length === 0) await this.sleep(1000, this.deps.nextCommit());
    }
    if (this.stopped && !lost) {
      // Our FIN follows the last message; the receiver's FIN after it means it read them all.
      await closeCleanly(socket);
      if (peerClosed && !socket.errored) await save(written);
      return;
    }
    if (lost && !this.stopped) throw lost;
  }

  /** Writes with the socket's backpressure; a failure (or a stall) surfaces through the socket's error event. */
  private write(socket: Socket, data: Buffer): Promise<void> {
    return new Promise((resolve) => {
      const stalled = setTimeout(
        () => socket.destroy(new Error(`the receiver took nothing for ${WRITE_TIMEOUT_MS / 1000}s`)),
        WRITE_TIMEOUT_MS,
      );
      const done = () => {
        clearTimeout(stalled);
        this.stopping.signal.removeEventListener("abort", done);
        socket.off("close", done);
        resolve();
      };
      this.stopping.signal.addEventListener("abort", done);
      socket.once("close", done);
      socket.write(data, done);
    });
  }

  /** Waits `ms` (or for `also`), or until stop(). */
  private sleep(ms: number, also?: Promise<unknown>): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
      void also?.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/** Ends our side and waits (at most CLOSE_WAIT_MS) for the connection to close. */
function closeCleanly(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.closed) return resolve();
    const timer = setTimeout(resolve, CLOSE_WAIT_MS);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
    socket.end();
  });
}
