import type { Logger } from "pino";
import { safeErr } from "../errors.js";
import type { AuditRecord } from "../audit/record.js";
import { put, StaleState, type Storage } from "../store/port.js";
import type { AccessService } from "./service.js";
import { sessionClosedOf } from "./single-use.js";

export interface FollowerDeps {
  storage: Pick<Storage, "state" | "head" | "commit" | "cursor" | "claim" | "release">;
  access: Pick<AccessService, "sessionClosed">;
  log: Logger;
  /** Resolves on the next audit commit (or soon after, as a fallback: other replicas' commits). */
  nextCommit: () => Promise<void>;
  /** How long the follower holds its lease; tests shorten it. */
  leaseMs?: number;
}

/** The key of this follower's position in the `cursors` collection, and of its lease. */
const NAME = "single-use";
const LEASE_MS = 30_000;

/**
 * Follows the audit log for session.closed records (the host companion's reports, whichever
 * replica took them) and hands each to AccessService.sessionClosed, which ends single-use
 * certificates. Like a webhook: one replica follows at a time (a lease), from a durable cursor
 * moved only past records it handled, so a close reported while sshcad was down is handled once
 * it is back.
 */
export class SessionFollower {
  private stopped = false;
  private wake: (() => void) | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly deps: FollowerDeps) {}

  start(): void {
    this.running = this.loop().catch((err) =>
      this.deps.log.error({ err: safeErr(err) }, "single-use follower stopped"),
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.running;
  }

  private async loop(): Promise<void> {
    const { storage } = this.deps;
    while (!this.stopped) {
      try {
        // Inside the try: with the database unreachable (restarting) the follower waits and
        // carries on; it never stops.
        if (!(await storage.claim("follower", NAME, this.leaseMs))) {
          await this.sleep(new Promise((r) => setTimeout(r, this.leaseMs / 3)));
          continue;
        }
        let entry: { cursor: number } | undefined = storage.state.cursors[NAME];
        if (!entry) {
          // The first start follows from the head: sessions before single use existed end nothing.
          entry = { cursor: storage.head.seq };
          await storage.commit([], [put("cursors", NAME, entry, { entry: undefined })]);
        }
        let current: { cursor: number } = entry;
        const reader = storage.cursor(current.cursor);
        while (!this.stopped) {
          const records = await reader.read(256);
          if (records.length === 0) {
            await this.sleep(this.deps.nextCommit());
            if ((await this.stillOurs(current)) === undefined) break;
            continue;
          }
          // Confirmed before acting on them: had our lease lapsed while they were read (a long
          // pause), another replica may have handled them and moved the cursor meanwhile.
          const checkedAt = await this.stillOurs(current);
          if (checkedAt === undefined) break;
          const { cursor, lost, failure } = await this.handle(records, current, checkedAt);
          // What was handled is recorded even when the lease was lost or a close failed (unless
          // another replica moved the cursor: then the commit is stale and changes nothing), so
          // less is done twice.
          if (cursor !== current.cursor) {
            const next = { cursor };
            const saved = storage.commit([], [put("cursors", NAME, next, { entry: current })]);
            if (failure !== undefined) await saved.catch(() => undefined);
            else await saved;
            current = next;
          }
          if (failure !== undefined) throw failure;
          if (lost) break;
        }
      } catch (err) {
        if (!(err instanceof StaleState)) {
          this.deps.log.warn({ err: safeErr(err) }, "single use: a closed session was not handled yet; will retry");
          await this.sleep(new Promise((r) => setTimeout(r, 1000)));
        }
      }
    }
    await storage.release("follower", NAME).catch(() => undefined);
  }

  /**
   * Hands on the closes among `records`, renewing the lease as it goes (a long batch must not
   * outlast it). Answers the position after the last record handled, whether the lease was lost,
   * and the failure that stopped it, if any (the audit log unwritable, the database gone): that
   * record is tried again next round.
   */
  private async handle(
    records: readonly AuditRecord[],
    current: { cursor: number },
    checkedAt: number,
  ): Promise<{ cursor: number; lost: boolean; failure?: unknown }> {
    let cursor = current.cursor;
    try {
      for (const record of records) {
        if (this.stopped) break;
        if (performance.now() - checkedAt > this.leaseMs / 3) {
          const at = await this.stillOurs(current);
          if (at === undefined) return { cursor, lost: true };
          checkedAt = at;
        }
        if (record.type === "session.closed") {
          const ev = sessionClosedOf(record.seq, record.fields);
          if (ev) await this.deps.access.sessionClosed(ev);
        }
        cursor = record.seq;
      }
    } catch (failure) {
      return { cursor, lost: false, failure };
    }
    return { cursor, lost: false };
  }

  private get leaseMs(): number {
    return this.deps.leaseMs ?? LEASE_MS;
  }

  /**
   * Renews the lease, and says whether this reader may go on: when the renewal began (monotonic
   * clock), or undefined. The cursor is read after the claim: a claim that takes the lease back
   * (ours had lapsed) catches the state up, and a cursor moved meanwhile means another replica
   * handled those records; the loop starts again from it. A renewal that took more than a third
   * of the lease (a pause after the database renewed it) is not trusted and is made again, up
   * to three times: a database that slow gets no work done here, and stop() is not held up.
   */
  private async stillOurs(current: { cursor: number }): Promise<number | undefined> {
    const { storage } = this.deps;
    for (let tries = 0; tries < 3 && !this.stopped; tries++) {
      const at = performance.now();
      if (!(await storage.claim("follower", NAME, this.leaseMs))) return undefined;
      if (storage.state.cursors[NAME]?.cursor !== current.cursor) return undefined;
      if (performance.now() - at <= this.leaseMs / 3) return at;
    }
    return undefined;
  }

  private sleep(what: Promise<unknown>): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      void what.then(() => resolve());
    });
  }
}
