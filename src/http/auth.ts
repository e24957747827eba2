import type { RequestHandler, Response } from "express";
import { unwrap } from "../access/decision.js";
import type { Identity } from "../access/types.js";
import { resolveIdentity } from "../auth/identity.js";
import { checkToken, parseToken } from "../auth/tokens.js";
import type { Config } from "../config/schema.js";
import { SshcaError } from "../errors.js";
import type { StateStore } from "../store/state.js";

export interface AuthDeps {
  config: () => Config;
  store: StateStore;
  now: () => Date;
  onFailure?: (reason: string, ip: string | undefined) => void;
}

/** Bearer-token authentication; sets the caller's Identity for the routes after it. */
export function authenticate(deps: AuthDeps): RequestHandler {
  return (req, res, next) => {
    const header = req.get("authorization") ?? "";
    const failed = (reason: string) => {
      deps.onFailure?.(reason, req.ip);
      return new SshcaError("unauthenticated", reason);
    };
    if (!/^Bearer /i.test(header)) throw failed("missing API token (Authorization: Bearer <token>)");
    const parsed = parseToken(header.slice(7).trim());
    if (!parsed) throw failed("malformed API token");
    const tokens = deps.store.data.tokens;
    const record = Object.hasOwn(tokens, parsed.id) ? tokens[parsed.id] : undefined;
    const decision = checkToken(record, parsed.secret, deps.now());
    if (!decision.ok) throw failed(decision.reason);
    const user = unwrap(decision);
    const identity = resolveIdentity(deps.config(), deps.store.data, user);
    if (!identity) throw failed(`user ${user} no longer exists`);
    res.locals.identity = identity;
    next();
  };
}

/** The authenticated caller of this request (set by `authenticate`). */
export function identityOf(res: Response): Identity {
  const identity = res.locals.identity as Identity | undefined;
  if (!identity) throw new SshcaError("unauthenticated", "not authenticated");
  return identity;
}
