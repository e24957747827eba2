import type { WebhookConfig } from "../config/schema.js";

/**
 * How long one replica holds a webhook's deliveries before another may take over. It is renewed
 * before every delivery attempt, so it must outlast one attempt (the receiver's timeout, up to
 * 120 s) with room for the renewal's own round trip and a slow event loop: twice the timeout plus
 * 30 s, and never under a minute. A replica that dies hands over within this. Pure.
 */
export function leaseMs(hook: Pick<WebhookConfig, "timeout">): number {
  return Math.max(60_000, 2 * hook.timeout * 1000 + 30_000);
}

/**
 * Exponential backoff with jitter: `initialMs * 2^attempt`, capped at `maxMs`, then scaled by a
 * factor in [0.75, 1.25) from `random` (in [0, 1)), so replicas that failed together (a database
 * restart) do not all retry in the same instant. Pure.
 */
export function backoffMs(attempt: number, initialMs: number, maxMs: number, random: number): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(base * (0.75 + random * 0.5));
}
