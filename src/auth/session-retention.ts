import type { TokenRecord } from "../store/state.js";

/**
 * How long an ended sign-in session (expired or revoked) stays in the live state. Every
 * sign-in makes one, so without an end the state would grow with history, not live work
 * (design invariant 7); the audit log keeps each session's story. For a day after it ends, a
 * client still using it is told "has expired" or "was revoked" rather than "no longer exists".
 * API tokens and host credentials are made by an admin, one at a time, and stay listed.
 */
export const SESSION_KEEP_MS = 24 * 60 * 60_000;

/**
 * May `token` leave the live state at `now`? Only sessions, a day after they ended. Anything
 * obtained through one (a sign-in key, a console session) ended with it (credentials.ts), and a
 * parent that is gone is refused just as an ended one. Pure.
 */
export function prunableSession(token: TokenRecord, now: Date): boolean {
  if (token.kind !== "session") return false;
  const revoked = token.revokedAt === undefined ? Infinity : Date.parse(token.revokedAt);
  const ended = Math.min(Date.parse(token.expiresAt), revoked);
  return ended + SESSION_KEEP_MS <= now.getTime();
}
