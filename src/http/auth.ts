import type { RequestHandler, Response } from "express";
import { unwrap } from "../access/decision.js";
import type { Identity } from "../access/types.js";
import { resolveIdentity } from "../auth/identity.js";
import { checkToken, parseToken } from "../auth/tokens.js";
import type { Config } from "../config/schema.js";
import { SshcaError } from "../errors.js";
import type { StateStore } from "../store/state.js";
import { clientOf } from "./client-address.js";
import type { RateLimiter } from "./rate-limit.js";

export interface AuthDeps {
  config: () => Config;
  store: StateStore;
  now: () => Date;
  /** Failed sign-ins per client (clientKey: an IPv4 address, an IPv6 /64, the unix socket). */
  failures: RateLimiter;
  /** Told about each failure that was not rate limited (it is audited). */
  onFailure?: (reason: string, ip: string) => void;
}

/** 429 with Retry-After, for a client address that failed too often. */
export function throttled(seconds: number, what: string): SshcaError {
  return new SshcaError("rate_limited", `${what}; retry in ${seconds}s`, { details: { retryAfter: seconds } });
}

/**
 * A failed sign-in: counted against the client and audited while the client has failures left;
 * beyond them 429 with Retry-After, neither counted nor audited (a flood does not flood the
 * audit log). Returns the error to throw.
 */
export function failedSignIn(
  deps: Pick<AuthDeps, "failures" | "onFailure">,
  client: { key: string; ip: string },
  reason: string,
): SshcaError {
  if (!deps.failures.take(client.key)) {
    return throttled(deps.failures.waitFor(client.key), "too many failed sign-ins from this address");
  }
  deps.onFailure?.(reason, client.ip);
  return new SshcaError("unauthenticated", reason);
}

/**
 * Bearer-token authentication; sets the caller's Identity (and the token's id) for the routes
 * after it. The token is checked first: a valid one passes even from an address that others
 * locked out (all clients of a unix socket, or behind one NAT, share an address); only
 * invalid ones are counted, and refused with 429 once the address has too many.
 */
export function authenticate(deps: AuthDeps): RequestHandler {
  return (req, res, next) => {
    const client = clientOf(req);
    const header = req.get("authorization") ?? "";
    if (!/^Bearer /i.test(header))
      throw failedSignIn(deps, client, "missing API token (Authorization: Bearer <token>)");
    const parsed = parseToken(header.slice(7).trim());
    if (!parsed) throw failedSignIn(deps, client, "malformed API token");
    const tokens = deps.store.data.tokens;
    const record = Object.hasOwn(tokens, parsed.id) ? tokens[parsed.id] : undefined;
    const decision = checkToken(record, parsed.secret, deps.now());
    if (!decision.ok) throw failedSignIn(deps, client, decision.reason);
    const user = unwrap(decision);
    const identity = resolveIdentity(deps.config(), deps.store.data, user);
    if (!identity) throw failedSignIn(deps, client, `user ${user} no longer exists`);
    res.locals.identity = identity;
    res.locals.tokenId = parsed.id;
    next();
  };
}

/** The authenticated caller of this request (set by `authenticate`). */
export function identityOf(res: Response): Identity {
  const identity = res.locals.identity as Identity | undefined;
  if (!identity) throw new SshcaError("unauthenticated", "not authenticated");
  return identity;
}

/** The id of the token this request was authenticated with (set by `authenticate`). */
export function tokenIdOf(res: Response): string {
  const id = res.locals.tokenId as string | undefined;
  if (!id) throw new SshcaError("unauthenticated", "not authenticated");
  return id;
}
