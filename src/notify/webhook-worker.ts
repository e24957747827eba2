import { createHmac } from "node:crypto";
import type { Logger } from "pino";
import type { AuditRecord } from "../audit/record.js";
import type { WebhookConfig } from "../config/schema.js";
import { safeErr } from "../errors.js";
import { put, StaleState, type Storage } from "../store/port.js";
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
}

/** How long a replica holds a webhook's deliveries before another may take over (renewed as it goes). */
const LEASE_MS = 30_000;

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
   * One replica delivers to a webhook at a time (it holds the lease, renewed as it goes; another
   * takes over if it dies), from the cursor in the live state, which moves only as its holder
   * wrote it: a cursor another replica moved meanwhile (StaleState) sends this one back to read it.
   */
  private async loop(): Promise<void> {
    const { storage } = this.deps;
    const name = this.hook.name;
    while (!this.stopped) {
      if (!(await storage.claim("webhook", name, LEASE_MS))) {
        await this.sleep(new Promise((r) => setTimeout(r, LEASE_MS / 3)));
        continue;
      }
      let entry: { cursor: number } | undefined = storage.state.webhooks[name];
      try {
        if (!entry) {
          // A webhook seen for the first time starts at the head, not at the beginning of history.
          entry = { cursor: storage.head.seq };
          await storage.commit([], [put("webhooks", name, entry, { entry: undefined })]);
        }
        const reader = storage.cursor(entry.cursor);
        while (!this.stopped) {
          const records = await reader.read(64);
          if (records.length === 0) {
            await this.sleep(this.deps.nextCommit());
            if (!(await storage.claim("webhook", name, LEASE_MS))) break;
            continue;
          }
          let cursor: number = entry.cursor;
          for (const record of records) {
            if (this.stopped) break;
            if (this.matches(record) && !(await this.deliver(record))) break;
            cursor = record.seq;
          }
          // State entries are replaced, never mutated: the state journals changed entries only.
          const next: { cursor: number } = { cursor };
          await storage.commit([], [put("webhooks", name, next, { entry })]);
          entry = next;
          if (!(await storage.claim("webhook", name, LEASE_MS))) break;
        }
      } catch (err) {
        if (!(err instanceof StaleState)) throw err;
      }
    }
    await storage.release("webhook", name).catch(() => undefined);
  }

  /** Sends one event until it is accepted; false if the worker was stopped first. */
  private async deliver(record: AuditRecord): Promise<boolean> {
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
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        const res = await fetch(this.hook.url, {
          method: "POST",
          headers,
          body,
          signal: AbortSignal.any([AbortSignal.timeout(this.hook.timeout * 1000), this.stopping.signal]),
          redirect: "manual",
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.status >= 200 && res.status < 300) return true;
        throw new Error(`receiver answered ${res.status}`);
      } catch (err) {
        if (this.stopped) return false;
        this.deps.onFailure?.(this.hook.name);
        const delay = Math.min(this.hook.retry.max, this.hook.retry.initial * 2 ** Math.min(attempt, 20)) * 1000;
        this.deps.log.warn(
          { webhook: this.hook.name, event: payload.id, attempt: attempt + 1, retryInMs: delay, err: safeErr(err) },
          "webhook delivery failed; will retry",
        );
        await this.sleep(new Promise((r) => setTimeout(r, delay * (0.75 + Math.random() * 0.5))));
      }
    }
    return false;
  }

  /** Waits for `what` or for stop(), whichever comes first. */
  private sleep(what: Promise<unknown>): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      void what.then(() => resolve());
    });
  }
}
