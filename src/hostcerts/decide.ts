import { isValidAddress } from "../config/names.js";
import type { Config } from "../config/schema.js";
import { allow, type Decision, refuse } from "../domain/decision.js";
import type { HostCertRecord } from "../domain/host-cert.js";

/**
 * What a host certificate of an inventory host contains, decided from the inventory alone
 * (never from the request): principals are the host's name, address and aliases, the validity
 * is bounded by ca.host.validity, backdated for clock skew. Pure.
 */

/** Host certificates one host may hold at once (a few host key types, each renewed before it ends). */
export const MAX_LIVE_PER_HOST = 16;

/** The principals of a host certificate for `host` (PROTOCOL.certkeys: the names clients connect by). */
export function hostPrincipals(config: Config, host: string): string[] | undefined {
  const h = Object.hasOwn(config.hosts, host) ? config.hosts[host] : undefined;
  if (!h) return undefined;
  return [...new Set([host, h.address, ...h.aliases])].filter(isValidAddress);
}

/** Every name and address the host CA vouches for (known_hosts patterns, ssh_config Match host). */
export function inventoryNames(config: Config): string[] {
  return [...new Set(Object.keys(config.hosts).flatMap((h) => hostPrincipals(config, h) ?? []))];
}

export interface HostCertPlan {
  principals: string[];
  keyId: string;
  validAfter: Date;
  validBefore: Date;
}

/**
 * May `host` have a certificate now, and with what? Refused for a host no longer in the
 * inventory, and for one that holds too many live certificates (a credential that asks in a
 * loop cannot grow the live state without bound).
 */
export function decideHostCert(
  config: Config,
  host: string,
  live: readonly HostCertRecord[],
  now: Date,
): Decision<HostCertPlan> {
  const principals = hostPrincipals(config, host);
  if (!principals) return refuse("forbidden", `host ${host} is not in the inventory`);
  const mine = live.filter((c) => c.host === host && !c.revocation && Date.parse(c.validBefore) > now.getTime());
  if (mine.length >= MAX_LIVE_PER_HOST)
    return refuse(
      "rate_limited",
      `host ${host} holds ${mine.length} live host certificates already; renew only when one nears its end (or revoke old ones: sshcad host cert revoke)`,
    );
  const nowSec = Math.floor(now.getTime() / 1000);
  return allow({
    principals,
    // Printable, no spaces: joins ssh's "Server host certificate" debug line to the audit log.
    keyId: `host=${host}`,
    validAfter: new Date((nowSec - config.ca.backdate) * 1000),
    validBefore: new Date((nowSec + config.ca.host.validity) * 1000),
  });
}
