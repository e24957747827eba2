import { canonicalJson } from "../canonical-json.js";
import type { Config } from "../config/schema.js";
import { allow, type Decision, refuse } from "./decision.js";
import { decideAsk } from "./policy.js";
import type { AccessRequest, Identity } from "./types.js";

/**
 * Just before signing, is the approved request still what the current policy would grant?
 * A role tightened (or the requester removed from its groups) after approval must not yield
 * the old certificate: anything that changes the certificate needs a new request.
 */
export function decideStillGranted(
  config: Config,
  requester: Identity | undefined,
  req: AccessRequest,
): Decision<void> {
  if (requester === undefined) return refuse("conflict", `user ${req.requester} no longer exists`);
  const now = decideAsk(config, requester, {
    role: req.role,
    hosts: req.hosts,
    ttl: req.ttlSeconds,
    reason: req.reason,
  });
  if (!now.ok) return refuse("conflict", `policy changed since the request was made: ${now.reason}`);
  const g = now.value;
  const same =
    canonicalJson([g.principals, g.extensions, g.criticalOptions, g.ttlSeconds]) ===
    canonicalJson([req.principals, req.extensions, req.criticalOptions, req.ttlSeconds]);
  return same
    ? allow(undefined)
    : refuse("conflict", `role ${req.role} changed since the request was made; request again`);
}
