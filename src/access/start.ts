import { formatDuration } from "../config/duration.js";
import { allow, type Decision, refuse } from "../domain/decision.js";

/**
 * Scheduled windows (`sshca login --start`): the certificate's validity begins at the start, and
 * approvals may come before it. Pure.
 */

/** A start this little in the past is taken as "now" (a client clock slightly ahead, a slow network). */
export const START_SLACK_SECONDS = 60;

/**
 * Checks a requested start: an ISO 8601 time with a zone, not in the past, at most `aheadSeconds`
 * ahead. Undefined (no start) when it is now or just passed: the request is an ordinary one.
 */
export function decideStart(text: string | undefined, now: Date, aheadSeconds: number): Decision<Date | undefined> {
  if (text === undefined) return allow(undefined);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.test(text))
    return refuse("bad_request", `start "${text}" is not a time with a zone such as 2026-05-04T09:00:00Z`);
  const at = new Date(text);
  if (Number.isNaN(at.getTime())) return refuse("bad_request", `start "${text}" is not a valid time`);
  const ahead = (at.getTime() - now.getTime()) / 1000;
  if (ahead < -START_SLACK_SECONDS)
    return refuse("bad_request", `start ${at.toISOString()} is in the past (it is ${now.toISOString()} here)`);
  if (ahead > aheadSeconds)
    return refuse(
      "bad_request",
      `start ${at.toISOString()} is more than ${formatDuration(aheadSeconds)} ahead (requests.scheduleAhead)`,
    );
  // Whole seconds: the certificate's validity is in seconds (PROTOCOL.certkeys valid after/before).
  return allow(ahead <= 0 ? undefined : new Date(Math.floor(at.getTime() / 1000) * 1000));
}

/**
 * Until when a request waits for approvals (its pending lifetime, distinct from the access it
 * asks for): the role's pendingTtl from now, or up to the start of a scheduled window when that
 * is later, but never past the end of the window (approving then would grant nothing).
 */
export function pendingUntil(now: Date, pendingTtlSeconds: number, start: Date | undefined, ttlSeconds: number): Date {
  const byTtl = now.getTime() + pendingTtlSeconds * 1000;
  if (!start) return new Date(byTtl);
  const end = start.getTime() + ttlSeconds * 1000;
  return new Date(Math.min(Math.max(byTtl, start.getTime()), end));
}
