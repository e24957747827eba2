import { createHmac, timingSafeEqual } from "node:crypto";
import { allow, type Decision, refuse } from "../domain/decision.js";

/**
 * Cross-site request forgery, for requests authenticated by the console's session cookie.
 *
 * The token is bound to the session: HMAC-SHA256 keyed with the session's own secret (the
 * cookie's value, which only the browser holding the cookie and the daemon know; the daemon
 * keeps only its hash). So nothing more is stored, it survives restarts, it dies with the
 * session, and unlike a double-submit cookie it cannot be planted by a sibling host that can set
 * cookies for the domain. The page reads it from GET /v1/console/session (same-origin JSON: no
 * CORS headers, so no other site can read it) and sends it as X-CSRF-Token on every change.
 * Bearer-token requests need none of this: a browser never attaches a bearer token by itself.
 */
export const CSRF_HEADER = "x-csrf-token";

export function csrfToken(sessionSecret: string): string {
  return createHmac("sha256", sessionSecret).update("sshca console csrf", "utf8").digest("base64url");
}

/** What the daemon looks at on a cookie-authenticated request. */
export interface CsrfInput {
  method: string;
  /** The Origin header (browsers send it on every POST, RFC 6454 section 7). */
  origin: string | undefined;
  /** Sec-Fetch-Site (Fetch Metadata): same-origin, same-site, cross-site or none. */
  fetchSite: string | undefined;
  /** X-CSRF-Token as sent. */
  token: string | undefined;
  /** The token of this session. */
  expected: string;
  /** The console's own origin. */
  consoleOrigin: string;
}

/**
 * Reads pass; every change must come from the console's own origin (Origin, and Sec-Fetch-Site
 * where the browser sends it) and carry this session's CSRF token. Pure.
 */
export function decideCsrf(i: CsrfInput): Decision<void> {
  if (i.method === "GET" || i.method === "HEAD") return allow(undefined);
  if (i.fetchSite !== undefined && i.fetchSite !== "same-origin")
    return refuse("forbidden", `a ${i.fetchSite} request may not change anything with the console's session`);
  if (i.origin !== i.consoleOrigin)
    return refuse("forbidden", "a change with the console's session must come from the console's own origin");
  if (!i.token) return refuse("forbidden", "missing CSRF token (X-CSRF-Token)");
  const a = Buffer.from(i.token, "utf8");
  const b = Buffer.from(i.expected, "utf8");
  if (a.length !== b.length || !timingSafeEqual(a, b)) return refuse("forbidden", "wrong CSRF token for this session");
  return allow(undefined);
}
