import type { RequestHandler, Response } from "express";
import { allow, type Decision, refuse } from "../access/decision.js";
import type { Identity } from "../access/types.js";
import { credentialProblem, localSignInRefusal, tokenLapse, userStatus } from "../auth/credentials.js";
import { resolveIdentity } from "../auth/identity.js";
import { parseToken, secretMatches } from "../auth/tokens.js";
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
    const decision = checkCaller(deps, parsed);
    if (!decision.ok) throw failedSignIn(deps, client, decision.reason);
    res.locals.identity = decision.value;
    res.locals.tokenId = parsed.id;
    next();
  };
}

/**
 * Is this token (still) good, and who does it speak for? The secret matches, the token is
 * neither revoked nor expired, nothing it was obtained through has died, and its user exists
 * and is not disabled. Checked on every call and again before a long-poll answers.
 */
export function checkCaller(
  deps: Pick<AuthDeps, "config" | "store" | "now">,
  token: { id: string; secret: string },
): Decision<Identity> {
  const tokens = deps.store.data.tokens;
  const record = Object.hasOwn(tokens, token.id) ? tokens[token.id] : undefined;
  if (!secretMatches(record, token.secret)) return refuse("unauthenticated", "invalid API token");
  return stillValid(deps, token.id);
}

/**
 * The checks of `checkCaller` after the secret: for a caller whose secret was already checked
 * and who waited (a long-poll), so that a credential cut off meanwhile stops working at once.
 */
export function stillValid(deps: Pick<AuthDeps, "config" | "store" | "now">, tokenId: string): Decision<Identity> {
  const tokens = deps.store.data.tokens;
  const record = Object.hasOwn(tokens, tokenId) ? tokens[tokenId] : undefined;
  if (!record) return refuse("unauthenticated", "this API token no longer exists");
  const now = deps.now();
  const user = record.user;
  // A disabled user hears that first: it is the reason, whatever became of the token.
  if (userStatus(deps.config(), deps.store.data, user) === "disabled")
    return refuse("unauthenticated", `user ${user} is disabled`);
  const lapse = tokenLapse(record, now);
  if (lapse) return refuse("unauthenticated", `this API token ${lapse}`);
  const dead = record.parent ? credentialProblem(deps.store.data, record.parent, now) : undefined;
  if (dead) return refuse("unauthenticated", `this session no longer works: ${dead}`);
  const local = record.method === "oidc" ? undefined : localSignInRefusal(deps.config(), user);
  if (local) return refuse("unauthenticated", local);
  const identity = resolveIdentity(deps.config(), deps.store.data, user);
  if (!identity) return refuse("unauthenticated", `user ${user} no longer exists`);
  return allow(identity);
}

/** The token the caller authenticated with (its id; set by `authenticate`). */
export function tokenIdOf(res: Response): string {
  const id = res.locals.tokenId as string | undefined;
  if (!id) throw new SshcaError("unauthenticated", "not authenticated");
  return id;
}

/** The authenticated caller of this request (set by `authenticate`). */
export function identityOf(res: Response): Identity {
  const identity = res.locals.identity as Identity | undefined;
  if (!identity) throw new SshcaError("unauthenticated", "not authenticated");
  return identity;
}
