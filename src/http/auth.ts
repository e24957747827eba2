import type { Request, RequestHandler, Response } from "express";
import { allow, type Decision, refuse, unwrap } from "../domain/decision.js";
import type { Identity } from "../domain/request.js";
import { credentialProblem, localSignInRefusal, tokenLapse, userStatus } from "../auth/credentials.js";
import { isHostCredential } from "../auth/host-credential.js";
import { resolveIdentity } from "../auth/identity.js";
import { parseToken, secretMatches } from "../auth/tokens.js";
import type { Config } from "../config/schema.js";
import { SshcaError } from "../errors.js";
import type { Storage } from "../store/port.js";
import type { StateView, TokenRecord } from "../store/state.js";
import { clientOf } from "./client-address.js";
import type { RateLimiter } from "./rate-limit.js";

export interface AuthDeps {
  config: () => Config;
  storage: Pick<Storage, "state" | "sync">;
  now: () => Date;
  /** Failed sign-ins per client (clientKey: an IPv4 address, an IPv6 /64, the unix socket). */
  failures: RateLimiter;
  /** Told about each failure that was not rate limited (it is audited). */
  onFailure?: (reason: string, ip: string) => void;
  /** The web console's session cookie, a second way in (src/console/). */
  cookie?: CookieAuth;
}

/**
 * A session carried in a cookie (the web console). Its token is checked exactly as a bearer
 * token is; then the console's own rules (idle time, CSRF and origin on changes) apply.
 */
export interface CookieAuth {
  /** The token in the request's cookie, if any. */
  cookieToken(req: Request): string | undefined;
  /** After the token is valid: may this request use it? */
  admit(req: Request, tokenId: string, secret: string): Decision<void>;
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
 * Bearer-token authentication, or the console's session cookie when no Authorization header is
 * sent; sets the caller's Identity (and the token's id) for the routes after it, so every route
 * authorizes a console user exactly as an API caller. The token is checked first: a valid one
 * passes even from an address that others locked out (all clients of a unix socket, or behind
 * one NAT, share an address); only invalid ones are counted, and refused with 429 once the
 * address has too many.
 */
export function authenticate(deps: AuthDeps): RequestHandler {
  // A token this replica has not seen may have been minted on another one a moment ago: catch up
  // once before refusing it (coalesced: a flood of unknown ids costs one read at a time).
  // An address already refused for failed sign-ins gets no catch-up: its guesses cost nothing.
  const seen = async (id: string, client: { key: string }) => {
    if (Object.hasOwn(deps.storage.state.tokens, id) || deps.failures.waitFor(client.key) > 0) return;
    await deps.storage.sync();
  };
  return async (req, res, next) => {
    const client = clientOf(req);
    const header = req.get("authorization") ?? "";
    const cookie = header === "" ? deps.cookie?.cookieToken(req) : undefined;
    if (cookie !== undefined && deps.cookie) {
      const parsed = parseToken(cookie);
      if (!parsed) throw failedSignIn(deps, client, "malformed console session cookie");
      await seen(parsed.id, client);
      const decision = checkCaller(deps, parsed);
      if (!decision.ok) throw refusal(deps, client, decision);
      unwrap(deps.cookie.admit(req, parsed.id, parsed.secret));
      res.locals.identity = decision.value;
      res.locals.tokenId = parsed.id;
      res.locals.cookieSecret = parsed.secret;
      return next();
    }
    if (!/^Bearer /i.test(header))
      throw failedSignIn(deps, client, "missing API token (Authorization: Bearer <token>)");
    const parsed = parseToken(header.slice(7).trim());
    if (!parsed) throw failedSignIn(deps, client, "malformed API token");
    await seen(parsed.id, client);
    const decision = checkCaller(deps, parsed);
    if (!decision.ok) throw refusal(deps, client, decision);
    // A console session lives in its cookie, under the console's idle limit and CSRF rule; the
    // same value as a Bearer token would skip both.
    if (deps.storage.state.tokens[parsed.id]?.method === "console")
      throw failedSignIn(deps, client, "a console session works only from the console (its cookie)");
    res.locals.identity = decision.value;
    res.locals.tokenId = parsed.id;
    next();
  };
}

/**
 * Why a caller is turned away: a valid credential that may not be used here (a host credential
 * outside /v1/host/) is a plain 403, neither counted nor audited as a failed sign-in; anything
 * else is a failed sign-in.
 */
function refusal(
  deps: Pick<AuthDeps, "failures" | "onFailure">,
  client: { key: string; ip: string },
  decision: { code: string; reason: string },
): SshcaError {
  return decision.code === "forbidden"
    ? new SshcaError("forbidden", decision.reason)
    : failedSignIn(deps, client, decision.reason);
}

/** What a host credential hears on any route but /v1/host/. */
export const HOST_CREDENTIAL_ELSEWHERE =
  "a host credential works only for its host's companion (/v1/host/ routes), never as a user";

/**
 * Is this token (still) good, and who does it speak for? The secret matches, the token is
 * neither revoked nor expired, nothing it was obtained through has died, and its user exists
 * and is not disabled. Checked on every call and again before a long-poll answers.
 */
export function checkCaller(
  deps: Pick<AuthDeps, "config" | "storage" | "now">,
  token: { id: string; secret: string },
): Decision<Identity> {
  const tokens = deps.storage.state.tokens;
  const record = Object.hasOwn(tokens, token.id) ? tokens[token.id] : undefined;
  if (!secretMatches(record, token.secret)) return refuse("unauthenticated", "invalid API token");
  return stillValid(deps, token.id);
}

/**
 * The checks of `checkCaller` after the secret: for a caller whose secret was already checked
 * and who waited (a long-poll), so that a credential cut off meanwhile stops working at once.
 */
export function stillValid(deps: Pick<AuthDeps, "config" | "storage" | "now">, tokenId: string): Decision<Identity> {
  const tokens = deps.storage.state.tokens;
  const record = Object.hasOwn(tokens, tokenId) ? tokens[tokenId] : undefined;
  if (!record) return refuse("unauthenticated", "this API token no longer exists");
  // A host credential speaks for a host, never for a person: refused before anything else is asked.
  if (isHostCredential(record)) return refuse("forbidden", HOST_CREDENTIAL_ELSEWHERE);
  const now = deps.now();
  const user = record.user;
  // A disabled user hears that first: it is the reason, whatever became of the token.
  if (userStatus(deps.config(), deps.storage.state, user) === "disabled")
    return refuse("unauthenticated", `user ${user} is disabled`);
  // What a session came through first: when its key was removed, that is the reason (the
  // session itself was revoked with it, so that adding the key again does not bring it back).
  const dead = record.parent ? credentialProblem(deps.storage.state, record.parent, now) : undefined;
  if (dead) return refuse("unauthenticated", `this session no longer works: ${dead}`);
  const lapse = tokenLapse(record, now);
  if (lapse) return refuse("unauthenticated", `this API token ${lapse}`);
  const local = throughProvider(deps.storage.state.tokens, record)
    ? undefined
    : localSignInRefusal(deps.config(), user);
  if (local) return refuse("unauthenticated", local);
  const identity = resolveIdentity(deps.config(), deps.storage.state, user);
  if (!identity) return refuse("unauthenticated", `user ${user} no longer exists`);
  return allow(identity);
}

/**
 * Was this session signed in through the identity provider? An OIDC session, a console session
 * from a provider sign-in, or a console session from a link minted with an OIDC session.
 */
function throughProvider(tokens: StateView["tokens"], record: TokenRecord, depth = 0): boolean {
  if (record.method === "oidc") return true;
  if (record.method !== "console" || depth > 2) return false;
  if (record.signedInThrough === "oidc") return true;
  const parent =
    record.parent?.kind === "token" && Object.hasOwn(tokens, record.parent.id) ? tokens[record.parent.id] : undefined;
  return parent !== undefined && throughProvider(tokens, parent, depth + 1);
}

/** The session secret of a cookie-authenticated caller (binds the CSRF token), else undefined. */
export function cookieSecretOf(res: Response): string | undefined {
  return res.locals.cookieSecret as string | undefined;
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
