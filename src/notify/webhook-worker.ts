import { createHmac } from "node:crypto";
import type { Logger } from "pino";
import type { AuditRecord } from "../audit/record.js";
import type { WebhookConfig } from "../config/schema.js";
import { safeErr } from "../errors.js";
import { put, StaleState, type Storage } from "../store/port.js";
import { backoffMs, leaseMs } from "./webhook-lease.js";
import { buildPayload, slackMessage } from "./payload.js";
import type { Recipients } from "./recipients.js";

export interface WebhookDeps {
  /** The audit chain (read from a cursor), the cursor kept in the live state, and the lease. */
  storage: Pick<Storage, "state" | "head" | "commit" | "cursor" | "claim" | "release">;
  log: Logger;
  recipients: (record: AuditRecord) => Recipients;
  /** Resolves on the next audit commit (or soon after, as a fallback). */
  nextCommit: () => Promise<void>;
  onFailure?: (hook: string) => void;
  /** The console's public URL (console.url), for each payload's link. */
  consoleUrl?: () => string | undefined;
  /** In [0, 1), for the jitter of every backoff (Math.random when not given). */
  random?: () => number;
}

/** How often a replica that does not hold a webhook's lease looks whether it is free. */
const IDLE_CLAIM_MS = 10_000;

/** What became of one event: accepted, the worker stopped, or another replica holds the lease now. */
type Delivery = "delivered" | "stopped" | "lost";

/** HMAC-SHA256 of the exact body bytes, hex, as "sha256=<hex>" (the GitHub webhook convention). */
export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body, "utf8").digest("hex")}`;
}

/**
 * Delivers matching audit events to one webhook, in order, at least once. The audit log is the
 * outbox: the worker follows it from a cursor kept in the live state, so events that happened
 * while the receiver (or sshcad) was down are sent once both are back. A delivery is retried
 * with exponential backoff until the receiver answers 2xx; its id is the idempotency key.
 */
export class WebhookWorker {
  private stopped = false;
  /** Aborts a delivery in flight when the daemon stops (it is retried after the restart). */
  private readonly stopping = new AbortController();
  private wake: (() => void) | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly hook: WebhookConfig,
    private readonly secret: string,
    private readonly deps: WebhookDeps,
  ) {}

  start(): void {
    this.running = this.loop().catch((err) =>
      this.deps.log.error({ err: safeErr(err), webhook: this.hook.name }, "webhook worker stopped"),
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    this.wake?.();
    await this.running;
  }

  private matches(record: AuditRecord): boolean {
    return this.hook.events.includes("*") || this.hook.events.includes(record.type);
  }

  /**
   * One replica delivers to a webhook at a time: it holds the lease, renewed between batches and
   * before every delivery attempt, and stops the moment a renewal fails (another replica took
   * over). It reads from the cursor in the live state, which moves only as its holder wrote it: a
   * cursor another replica moved meanwhile (StaleState) sends this one back to read it. Any other
   * failure (the database restarting, a connection lost) is logged and retried after a bounded
   * backoff: nothing but stop() ends the loop, and stop() gives the lease back.
   */
  private async loop(): Promise<void> {
    const { storage } = this.deps;
    const name = this.hook.name;
    const lease = leaseMs(this.hook);
    let failures = 0;
    while (!this.stopped) {
      try {
        if (!(await storage.claim("webhook", name, lease))) {
          await this.pause(IDLE_CLAIM_MS);
          continue;
        }
        let entry: { cursor: number } | undefined = storage.state.webhooks[name];
        if (!entry) {
          // A webhook seen for the first time starts at the head, not at the beginning of history.
          entry = { cursor: storage.head.seq };
          await storage.commit([], [put("webhooks", name, entry, { entry: undefined })]);
        }
        const reader = storage.cursor(entry.cursor);
        while (!this.stopped) {
          const records = await reader.read(64);
          failures = 0;
          if (records.length === 0) {
            await this.sleep(this.deps.nextCommit());
            if (!(await storage.claim("webhook", name, lease))) break;
            continue;
          }
          let cursor: number = entry.cursor;
          let outcome: Delivery = "delivered";
          for (const record of records) {
            if (this.stopped) break;
            if (this.matches(record)) outcome = await this.deliver(record, entry, lease);
            if (outcome !== "delivered") break;
            cursor = record.seq;
          }
          // A worker that lost the lease writes nothing: the new holder owns the cursor.
          if (outcome === "lost") break;
          // State entries are replaced, never mutated: the state journals changed entries only.
          // Expecting the entry read makes a cursor moved meanwhile by another holder a StaleState.
          const next: { cursor: number } = { cursor };
          await storage.commit([], [put("webhooks", name, next, { entry })]);
          entry = next;
          if (!(await storage.claim("webhook", name, lease))) break;
        }
      } catch (err) {
        if (this.stopped) break;
        if (err instanceof StaleState) continue; // another holder moved the cursor: read it again
        const delay = backoffMs(failures++, 500, 15_000, this.random());
        this.deps.log.warn(
          { webhook: name, err: safeErr(err), retryInMs: delay },
          "webhook worker could not reach its storage; will retry",
        );
        await this.pause(delay);
      }
    }
    await storage.release("webhook", name).catch(() => undefined);
  }

  /**
   * Sends one event until it is accepted. Before every attempt (and before every backoff) the
   * lease is renewed for the attempt's timeout, or the backoff, with room: a replica that can no
   * longer renew it, or finds the cursor moved, stops ("lost") rather than send what the new
   * holder sends too. "stopped" if stop() came first.
   */
  private async deliver(record: AuditRecord, entry: { cursor: number }, lease: number): Promise<Delivery> {
    const { storage } = this.deps;
    const payload = buildPayload(this.hook.name, record, this.deps.recipients(record), this.deps.consoleUrl?.());
    const body = JSON.stringify(this.hook.format === "slack" ? { ...slackMessage(payload) } : payload);
    const headers = {
      "content-type": "application/json",
      "user-agent": "sshcad",
      "x-sshca-event": record.type,
      "x-sshca-delivery": payload.id,
      "idempotency-key": payload.id,
      "x-sshca-signature": signBody(this.secret, body),
    };
    const stillOurs = async (ms: number): Promise<boolean> => {
      // The cursor is read after the claim: a claim that takes the lease back (ours had lapsed)
      // catches the state up, and a cursor moved meanwhile means another replica sent this event.
      if (
        (await storage.claim("webhook", this.hook.name, ms)) &&
        storage.state.webhooks[this.hook.name]?.cursor === entry.cursor
      ) {
        return true;
      }
      this.deps.log.info({ webhook: this.hook.name, event: payload.id }, "webhook lease taken over by another replica");
      return false;
    };
    for (let attempt = 0; !this.stopped; attempt++) {
      if (!(await stillOurs(lease))) return "lost";
      try {
        const res = await fetch(this.hook.url, {
          method: "POST",
          headers,
          body,
          signal: AbortSignal.any([AbortSignal.timeout(this.hook.timeout * 1000), this.stopping.signal]),
          redirect: "manual",
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.status >= 200 && res.status < 300) return "delivered";
        throw new Error(`receiver answered ${res.status}`);
      } catch (err) {
        if (this.stopped) return "stopped";
        this.deps.onFailure?.(this.hook.name);
        const delay = backoffMs(attempt, this.hook.retry.initial * 1000, this.hook.retry.max * 1000, this.random());
        this.deps.log.warn(
          { webhook: this.hook.name, event: payload.id, attempt: attempt + 1, retryInMs: delay, err: safeErr(err) },
          "webhook delivery failed; will retry",
        );
        // Held through the backoff too, so no other replica starts on this event meanwhile.
        if (!(await stillOurs(delay + lease))) return "lost";
        await this.pause(delay);
      }
    }
    return "stopped";
  }

  private random(): number {
    return (this.deps.random ?? Math.random)();
  }

  /** Waits `ms` or for stop(); the timer does not outlive the wait. */
  private async pause(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await this.sleep(new Promise((r) => (timer = setTimeout(r, ms))));
    clearTimeout(timer);
  }

  /** Waits for `what` or for stop(), whichever comes first. */
  private sleep(what: Promise<unknown>): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      void what.then(() => resolve());
    });
  }
}
