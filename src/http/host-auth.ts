import type { RequestHandler, Response } from "express";
import { checkHostCaller, type HostIdentity } from "../auth/host-credential.js";
import { parseToken } from "../auth/tokens.js";
import { SshcaError } from "../errors.js";
import { type AuthDeps, failedSignIn } from "./auth.js";
import { clientOf } from "./client-address.js";

/**
 * Authentication for /v1/host/: a host credential (Bearer), and nothing else. A person's token
 * is a valid credential that may not be used here (403); a bad or lapsed host credential is a
 * failed sign-in (counted per address, audited, 429 beyond the limit), as for every route.
 */
export function authenticateHost(
  deps: Pick<AuthDeps, "config" | "storage" | "now" | "failures" | "onFailure">,
): RequestHandler {
  return async (req, res, next) => {
    const client = clientOf(req);
    const header = req.get("authorization") ?? "";
    if (!/^Bearer /i.test(header))
      throw failedSignIn(deps, client, "missing host credential (Authorization: Bearer <credential>)");
    const parsed = parseToken(header.slice(7).trim());
    if (!parsed) throw failedSignIn(deps, client, "malformed host credential");
    // A credential made on another replica a moment ago: catch up once before refusing it
    // (not for an address already refused for failed sign-ins).
    if (!Object.hasOwn(deps.storage.state.tokens, parsed.id) && deps.failures.waitFor(client.key) === 0)
      await deps.storage.sync();
    const decision = checkHostCaller(deps.config(), deps.storage.state, parsed, deps.now());
    if (!decision.ok) {
      if (decision.code === "forbidden") throw new SshcaError("forbidden", decision.reason);
      throw failedSignIn(deps, client, decision.reason);
    }
    res.locals.host = decision.value;
    next();
  };
}

/** The host a /v1/host/ caller speaks for (set by `authenticateHost`). */
export function hostOf(res: Response): HostIdentity {
  const host = res.locals.host as HostIdentity | undefined;
  if (!host) throw new SshcaError("unauthenticated", "not authenticated as a host");
  return host;
}
