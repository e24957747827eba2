import { prunableSession } from "../auth/session-retention.js";
import type { AccessRequest } from "../domain/request.js";
import { safeErr } from "../errors.js";
import { remove } from "../store/port.js";
import type { TokenRecord } from "../store/state.js";
import type { Deadlines } from "./deadlines.js";
import { reminderAt } from "./break-glass.js";
import { settleGate } from "./gating.js";
import { issue } from "./issuing.js";
import type { RequestLedger } from "./ledger.js";
import { isFinished, sweepAt } from "./retention.js";
import { prunableRevoked } from "./revoked.js";
import { remind, remindEvery } from "./reviewing.js";
import { expireIfDue } from "./transitions.js";

/** How long the sweeping replica holds its lease (it renews it every sweep, every second). */
const SWEEP_LEASE_MS = 5000;
/** Ended sessions are looked for at most this often (it walks the tokens), and at most this many go per sweep. */
const SESSION_PRUNE_EVERY_MS = 60_000;
const SESSION_PRUNE_BATCH = 500;

/**
 * Periodic work on live requests: expire pending requests that ran out of time, retry issuance
 * of approved requests whose first attempt failed (for example while the audit log was
 * unwritable), remind open break-glass reviews, and let finished requests leave the live state.
 * Only what is due is looked at; a request that still needs work afterwards goes back into the
 * index and is looked at again next time. One replica sweeps at a time (a lease on the storage).
 */
export class Sweeper {
  /** What the sweep has to look at, by when (so a sweep does not walk every live request). */
  private readonly due: Deadlines;
  private sessionsPrunedAt = -Infinity;
  private sweeping: Promise<void> | undefined;

  constructor(private readonly ledger: RequestLedger) {
    this.due = ledger.deadlines((req, config) => {
      const at = sweepAt(req, config.requests.keepFinished);
      const reminder = reminderAt(req, remindEvery(config, req));
      return at === undefined ? reminder : reminder === undefined ? at : Math.min(at, reminder);
    });
  }

  /** One sweep at a time: a call while one runs waits for it (a second would redo its work). */
  sweep(): Promise<void> {
    this.sweeping ??= this.sweepOnce().finally(() => {
      this.sweeping = undefined;
    });
    return this.sweeping;
  }

  private async sweepOnce(): Promise<void> {
    const { deps } = this.ledger;
    // Another replica takes over within the lease if this one stops.
    if (!(await deps.storage.claim("sweep", "requests", SWEEP_LEASE_MS))) return;
    const now = deps.now();
    const keep = deps.config().requests.keepFinished;
    const finished: AccessRequest[] = [];
    for (const id of this.due.take(now.getTime())) {
      try {
        const req = this.ledger.get(id);
        if (req && (await this.sweepOne(req, now, keep))) finished.push(req);
      } catch (err) {
        // A request that cannot even be looked at must not hold up the others.
        deps.log.error({ err: safeErr(err), request: id }, "sweep skipped a request");
      }
    }
    await this.prune(finished);
    await this.pruneRevoked(now);
    await this.pruneSessions(now);
  }

  /**
   * Sign-in sessions leave the live state a day after they ended (src/auth/session-retention.ts).
   * One batch per sweep, so a backlog (the first sweep after an upgrade) never holds up expiries
   * and issuance retries, nor outlasts the sweep's lease; a full batch means more next sweep.
   */
  private async pruneSessions(now: Date): Promise<void> {
    if (now.getTime() - this.sessionsPrunedAt < SESSION_PRUNE_EVERY_MS) return;
    this.sessionsPrunedAt = now.getTime();
    const { storage } = this.ledger.deps;
    const ended: [string, TokenRecord][] = [];
    for (const entry of Object.entries(storage.state.tokens)) {
      if (!prunableSession(entry[1], now)) continue;
      ended.push(entry);
      if (ended.length === SESSION_PRUNE_BATCH) {
        this.sessionsPrunedAt = -Infinity;
        break;
      }
    }
    if (ended.length === 0) return;
    // Each only as it was read: a session changed meanwhile (on another replica) waits a minute.
    await storage.commit(
      [],
      ended.map(([id, t]) => remove("tokens", id, { entry: t })),
    );
  }

  /**
   * Revoked serials leave the live state an hour past validBefore (REVOKED_KEEP_MS), not at the
   * KRL's 5-minute margin: this replica's clock decides for every replica, and may run fast.
   */
  private async pruneRevoked(now: Date): Promise<void> {
    const { storage } = this.ledger.deps;
    const done = Object.values(storage.state.revoked).filter((r) => prunableRevoked(r, now));
    if (done.length === 0) return;
    await storage.commit(
      [],
      done.map((r) => remove("revoked", r.serial)),
    );
  }

  /** The sweep's work for one due request; true when it may leave the live state. */
  private async sweepOne(req: AccessRequest, now: Date, keep: number): Promise<boolean> {
    const { ledger } = this;
    const { deps } = ledger;
    const id = req.id;
    if (ledger.locks.isBusy(id)) {
      this.due.track(req); // whoever holds it will change it; if not, next sweep
      return false;
    }
    if (expireIfDue(req, now)) {
      await ledger.locks
        .run(id, () => ledger.expireNow(ledger.get(id)!, deps.now()))
        .catch((err) => {
          deps.log.error({ err: safeErr(err), request: id }, "could not expire request");
        });
    } else if (req.state === "approved") {
      await ledger.locks
        .run(id, async () => {
          await settleGate(ledger, ledger.get(id)!);
          await issue(ledger, ledger.get(id)!);
        })
        .catch((err) => {
          deps.log.warn({ err: safeErr(err), request: id }, "issuance retry failed");
        });
    } else if ((reminderAt(req, remindEvery(deps.config(), req)) ?? Infinity) <= now.getTime()) {
      await ledger.locks
        .run(id, () => remind(ledger, ledger.get(id)!))
        .catch((err) => {
          deps.log.warn({ err: safeErr(err), request: id }, "could not remind the reviewers of a break-glass request");
        });
    } else if (isFinished(req, now, keep) && (deps.expiryWorkDone?.(req) ?? true)) {
      return true;
    }
    // Still work to do (a failed attempt, an expiry scan still to come): look again.
    const current = ledger.get(id);
    if (current) this.due.track(current);
    return false;
  }

  /**
   * Finished requests leave the live state, so its size follows live work, not history
   * (invariant 7). Their whole story is in the audit log.
   */
  private async prune(finished: AccessRequest[]): Promise<void> {
    const { ledger } = this;
    // The sweep awaited other work since it chose these: drop any that changed meanwhile.
    const done: AccessRequest[] = [];
    for (const r of finished) {
      const current = ledger.get(r.id);
      if (current === r && !ledger.locks.isBusy(r.id)) done.push(r);
      else if (current) this.due.track(current);
    }
    if (done.length === 0) return;
    // Only what nobody changed meanwhile leaves (another replica may have just touched one).
    await ledger.deps.storage.commit(
      [],
      done.map((r) => remove("requests", r.id, { entry: r })),
    );
    for (const r of done) ledger.forget(r.id);
    ledger.deps.log.debug({ requests: done.map((r) => r.id) }, "finished requests left the live state");
  }
}
