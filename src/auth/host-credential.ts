import type { Config } from "../config/schema.js";
import { allow, type Decision, refuse } from "../domain/decision.js";
import type { StateView, TokenRecord } from "../store/state.js";
import { tokenLapse } from "./credentials.js";
import { secretMatches } from "./tokens.js";

/**
 * A target host's credential: a token record of kind "host" bound to one inventory host. It is
 * what `sshca host` (the companion on the target host) authenticates with, and it speaks for
 * that host only: the routes under /v1/host/ accept nothing else, and every other route refuses
 * it (403). Pure: state, config and time are passed in.
 */

/** The name a host credential acts under in the audit log ("host:web-1"); never a user name (IDENT has no ':'). */
export function hostActor(host: string): string {
  return `host:${host}`;
}

export function isHostCredential(record: TokenRecord | undefined): boolean {
  return record?.kind === "host";
}

/** Who is calling a /v1/host/ route, after authentication. */
export interface HostIdentity {
  host: string;
  tokenId: string;
}

/**
 * Is this a live host credential, and for which host? The secret matches, the record is a host
 * credential, it is neither revoked nor expired, and its host is still in the inventory.
 */
export function checkHostCaller(
  config: Config,
  state: Pick<StateView, "tokens">,
  token: { id: string; secret: string },
  now: Date,
): Decision<HostIdentity> {
  const record = Object.hasOwn(state.tokens, token.id) ? state.tokens[token.id] : undefined;
  if (!secretMatches(record, token.secret)) return refuse("unauthenticated", "invalid host credential");
  if (!isHostCredential(record) || record!.host === undefined)
    return refuse("forbidden", "only a host credential may use /v1/host/ (sshcad host credential create HOST)");
  const lapse = tokenLapse(record!, now);
  if (lapse) return refuse("unauthenticated", `this host credential ${lapse}`);
  const host = record!.host;
  if (!Object.hasOwn(config.hosts, host))
    return refuse("unauthenticated", `host ${host} is no longer in the inventory`);
  return allow({ host, tokenId: token.id });
}
