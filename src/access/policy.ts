import { formatDuration, parseDuration } from "../config/duration.js";
import { isPrintable } from "../config/names.js";
import type { Config, RoleConfig } from "../config/schema.js";
import { allow, type Decision, refuse } from "../domain/decision.js";
import { hostScopedPrincipals } from "./principals.js";
import { decideBreakGlass } from "./break-glass.js";
import type { Grant, Identity } from "../domain/request.js";

/** What a requester asks for, after the HTTP edge has checked its shape. */
export interface AccessAsk {
  role: string;
  hosts: readonly string[];
  /** Duration text ("30m") or seconds; the role's defaultTtl when absent. */
  ttl?: string | number | undefined;
  reason: string;
  /** Emergency access without approval (roles with breakGlass), reviewed afterwards. */
  breakGlass?: boolean | undefined;
}

/** Short certificates are legitimate (automation, tests); the role maximum is the real limit. */
export const MIN_TTL_SECONDS = 1;
export const MAX_REASON_LENGTH = 500;

const inAny = (identity: Identity, groups: readonly string[]) => identity.groups.some((g) => groups.includes(g));

/** Roles this identity may request. */
export function requestableRoles(config: Config, identity: Identity): string[] {
  return Object.keys(config.roles)
    .filter((name) => inAny(identity, config.roles[name]!.requesters))
    .sort();
}

/** Roles this identity may approve. */
export function approvableRoles(config: Config, identity: Identity): string[] {
  return Object.keys(config.roles)
    .filter((name) => inAny(identity, config.roles[name]!.approvers))
    .sort();
}

export const isApprover = (role: RoleConfig, identity: Identity) => inAny(identity, role.approvers);
export const isAdmin = (config: Config, identity: Identity) => inAny(identity, config.rights.admin);
export const isAuditor = (config: Config, identity: Identity) => inAny(identity, config.rights.audit);

/**
 * May this identity request this role for these hosts and this TTL, and if so, exactly what
 * would the certificate contain? Principals, extensions and options come from the role only,
 * never from the request.
 */
export function decideAsk(config: Config, identity: Identity, ask: AccessAsk): Decision<Grant> {
  const role = config.roles[ask.role];
  if (role === undefined || !Object.hasOwn(config.roles, ask.role)) {
    const mine = requestableRoles(config, identity);
    return refuse(
      "bad_request",
      `unknown role "${ask.role}"${mine.length ? ` (you may request: ${mine.join(", ")})` : ""}`,
    );
  }
  if (!inAny(identity, role.requesters)) {
    return refuse(
      "forbidden",
      `${identity.user} may not request role ${ask.role} (requester groups: ${role.requesters.join(", ")})`,
    );
  }

  if (ask.hosts.length === 0) return refuse("bad_request", "at least one host is required");
  const hosts = [...new Set(ask.hosts)].sort();
  const outside = hosts.filter((h) => !role.hosts.includes(h));
  if (outside.length > 0) {
    return refuse(
      "bad_request",
      `host${outside.length > 1 ? "s" : ""} ${outside.join(", ")} not allowed for role ${ask.role} (allowed: ${role.hosts.join(", ")})`,
    );
  }

  if (ask.breakGlass) {
    const may = decideBreakGlass(ask.role, role, identity);
    if (!may.ok) return may;
  }
  // Break-glass is not approved: its certificate is short (breakGlass.maxTtl).
  const maxTtl = ask.breakGlass && role.breakGlass ? role.breakGlass.maxTtl : role.maxTtl;
  let ttlSeconds = Math.min(role.defaultTtl, maxTtl);
  if (ask.ttl !== undefined) {
    const parsed = parseDuration(ask.ttl);
    if (parsed === undefined) return refuse("bad_request", `ttl "${String(ask.ttl)}" is not a duration (e.g. 30m, 1h)`);
    ttlSeconds = parsed;
  }
  if (ttlSeconds < MIN_TTL_SECONDS)
    return refuse("bad_request", `ttl must be at least ${formatDuration(MIN_TTL_SECONDS)}`);
  if (ttlSeconds > maxTtl) {
    return refuse(
      "bad_request",
      `ttl ${formatDuration(ttlSeconds)} exceeds the maximum of role ${ask.role}${ask.breakGlass ? " for break-glass (breakGlass.maxTtl " : " ("}${formatDuration(maxTtl)})`,
    );
  }

  const reason = ask.reason.trim();
  if (reason.length === 0) return refuse("bad_request", 'a reason is required (e.g. --reason "INC-123 disk full")');
  if (reason.length > MAX_REASON_LENGTH)
    return refuse("bad_request", `reason is longer than ${MAX_REASON_LENGTH} characters`);
  if (!isPrintable(reason)) return refuse("bad_request", "reason must be printable text on one line");

  const criticalOptions: Record<string, string> = {};
  if (role.criticalOptions.forceCommand !== undefined)
    criticalOptions["force-command"] = role.criticalOptions.forceCommand;
  if (role.criticalOptions.sourceAddress !== undefined) {
    criticalOptions["source-address"] = role.criticalOptions.sourceAddress.join(",");
  }

  return allow({
    role: ask.role,
    hosts,
    principals: hostScopedPrincipals(role.principals, hosts),
    extensions: [...role.extensions].sort(),
    criticalOptions,
    ttlSeconds,
    approvalsRequired: ask.breakGlass ? 0 : role.approvalsRequired,
    autoApprove: ask.breakGlass ? false : role.autoApprove,
    pendingTtlSeconds: role.pendingTtl,
    reason,
    stages: ask.breakGlass ? [] : role.stages.map((s) => ({ ...s, groups: [...s.groups] })),
    ...(ask.breakGlass ? { breakGlass: true } : {}),
    ...(role.singleUse ? { singleUse: true } : {}),
    ...(role.stepUp
      ? { stepUp: { methods: [...role.stepUp.methods], userVerification: role.stepUp.userVerification } }
      : {}),
  });
}
