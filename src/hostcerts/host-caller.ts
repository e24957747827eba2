import type { RequestHandler, Response } from "express";
import { tokenLapse } from "../auth/credentials.js";
import { parseToken, secretMatches } from "../auth/tokens.js";
import type { Config } from "../config/schema.js";
import { allow, type Decision, refuse } from "../domain/decision.js";
import { SshcaError } from "../errors.js";
import type { StateView, TokenRecord } from "../store/state.js";

/**
 * The host credential, as host certificate signing needs it: a token record of kind "host"
 * bound to one inventory host (`sshcad host credential create HOST`). It speaks for that host
 * only; a person's token is refused here (403). Kept small and apart so that it can give way to
 * the shared host authentication once both live in one tree.
 */

export interface HostCaller {
  host: string;
  tokenId: string;
}

type HostToken = Omit<TokenRecord, "kind"> & { kind?: string; host?: string };

/** Is this a live host credential, and for which host? Pure. */
export function checkHostCredential(
  config: Config,
  state: Pick<StateView, "tokens">,
  token: { id: string; secret: string },
  now: Date,
): Decision<HostCaller> {
  const stored = Object.hasOwn(state.tokens, token.id) ? state.tokens[token.id] : undefined;
  const record = stored as HostToken | undefined;
  if (!secretMatches(stored, token.secret)) return refuse("unauthenticated", "invalid host credential");
  if (record!.kind !== "host" || typeof record!.host !== "string")
    return refuse("forbidden", "only a host credential may use /v1/host/ (sshcad host credential create HOST)");
  const lapse = tokenLapse(stored!, now);
  if (lapse) return refuse("unauthenticated", `this host credential ${lapse}`);
  if (!Object.hasOwn(config.hosts, record!.host))
    return refuse("unauthenticated", `host ${record!.host} is no longer in the inventory`);
  return allow({ host: record!.host, tokenId: token.id });
}

/** Bearer host credential -> res.locals.host, or 401/403. */
export function authenticateHostCaller(deps: {
  config: () => Config;
  storage: { state: Pick<StateView, "tokens"> };
  now: () => Date;
  /** A failed sign-in: counted against the client and audited (returns the error to throw). */
  failed: (req: Parameters<RequestHandler>[0], reason: string) => Error;
}): RequestHandler {
  return (req, res, next) => {
    const header = req.get("authorization") ?? "";
    if (!/^Bearer /i.test(header))
      throw deps.failed(req, "missing host credential (Authorization: Bearer <credential>)");
    const parsed = parseToken(header.slice(7).trim());
    if (!parsed) throw deps.failed(req, "malformed host credential");
    const d = checkHostCredential(deps.config(), deps.storage.state, parsed, deps.now());
    if (!d.ok) {
      if (d.code === "forbidden") throw new SshcaError("forbidden", d.reason);
      throw deps.failed(req, d.reason);
    }
    res.locals.host = d.value;
    next();
  };
}

/** The host a /v1/host/ caller speaks for. */
export function hostCallerOf(res: Response): HostCaller {
  const host = res.locals.host as HostCaller | undefined;
  if (!host) throw new SshcaError("unauthenticated", "not authenticated as a host");
  return host;
}
