import type { Config } from "../config/schema.js";
import { allow, type Decision, refuse } from "../domain/decision.js";
import type { AccessRequest, Grant, Identity } from "../domain/request.js";
import type { HostStatus } from "../domain/scan.js";
import { decideBreakGlass } from "./break-glass.js";
import { decideHours, describeHours, formatLocal } from "./hours.js";
import { type AccessAsk, decideAsk, isApprover } from "./policy.js";
import { findReusable } from "./reuse.js";
import { decideScanAware } from "./scan-aware.js";
import { decideStart } from "./start.js";
import { newRequest } from "./transitions.js";

/** What a login asks for, beyond the role, hosts, TTL and reason. */
export interface LoginAsk extends AccessAsk {
  /** A scheduled window's start (ISO 8601 with a zone). */
  start?: string | undefined;
  /** Approvers the requester suggests (told first). */
  reviewers?: string[] | undefined;
  /** false: ask anew even when a live certificate covers this (a fresh window). */
  reuse?: boolean | undefined;
}

export interface PlanInput {
  config: Config;
  identity: Identity;
  ask: LoginAsk;
  subject: { line: string; fingerprint: string };
  /** The id the new request gets. */
  id: string;
  now: Date;
  /** Live requests (a live certificate may cover this ask already). */
  live: Iterable<AccessRequest>;
  hostStatus: (host: string) => HostStatus | undefined;
  /** People in some groups (for "who can close it"). */
  membersOf: (groups: readonly string[]) => string[];
  identityOf: (user: string) => Identity | undefined;
}

/** A login reuses a live certificate, or makes a request (issued at once when auto-approved or break-glass). */
export type Plan =
  | { kind: "reuse"; req: AccessRequest }
  | { kind: "new"; req: AccessRequest; issueNow: "auto-approve" | "break-glass" | undefined };

export const MAX_REVIEWERS = 5;

/**
 * Every rule a new login passes, in order, as one pure decision: what may be asked (role, hosts,
 * TTL, reason, break-glass rights), a live certificate to reuse, the role's request hours (at the
 * start of a scheduled window; break-glass excepted), the scheduled start, suggested reviewers,
 * and what the hosts' scans mean for approval. A refusal says what is missing and how to get it.
 */
export function planRequest(p: PlanInput): Decision<Plan> {
  const { config, identity, ask, now } = p;
  const asked = decideAsk(config, identity, ask);
  if (!asked.ok) return asked;
  let grant: Grant = asked.value;
  const role = config.roles[grant.role]!;

  if (ask.start === undefined && ask.reuse !== false) {
    const live = findReusable(
      p.live,
      { requester: identity.user, role: grant.role, hosts: grant.hosts, keyFingerprint: p.subject.fingerprint },
      now,
    );
    if (live) return allow({ kind: "reuse", req: live });
  }

  if (ask.breakGlass && ask.start !== undefined)
    return refuse("bad_request", "break-glass is for now: it cannot be scheduled (drop --start)");
  const start = decideStart(ask.start, now, config.requests.scheduleAhead);
  if (!start.ok) return start;
  if (start.value) grant = { ...grant, start: start.value.toISOString() };

  if (role.hours && !ask.breakGlass) {
    const at = start.value ?? now;
    const hours = decideHours(role.hours, at);
    if (!hours.open) {
      const next = hours.nextOpen
        ? `it opens next ${formatLocal(hours.nextOpen, role.hours.timeZone)} (${hours.nextOpen.toISOString()})`
        : "it does not open in the coming week";
      const glass = decideBreakGlass(grant.role, role, identity).ok
        ? `; in an emergency: sshca login ... --break-glass (issued at once, reviewed afterwards)`
        : "";
      return refuse(
        "forbidden",
        `role ${grant.role} can be requested ${describeHours(role.hours)}; ${start.value ? "the scheduled start" : "now"} is ${formatLocal(at, role.hours.timeZone)} there; ${next}${glass}`,
      );
    }
  }

  const reviewers = [...new Set(ask.reviewers ?? [])];
  if (reviewers.length > MAX_REVIEWERS) return refuse("bad_request", `at most ${MAX_REVIEWERS} suggested reviewers`);
  for (const name of reviewers) {
    if (name === identity.user) return refuse("bad_request", "you cannot suggest yourself as a reviewer");
    const who = p.identityOf(name);
    if (!who || !isApprover(role, who)) {
      const approvers = p.membersOf(role.approvers).filter((u) => u !== identity.user);
      return refuse(
        "bad_request",
        `${name} cannot approve role ${grant.role}${approvers.length ? ` (its approvers: ${approvers.join(", ")})` : ""}`,
      );
    }
  }

  if (!ask.breakGlass) {
    const resolvers = (host: string) =>
      p.membersOf(Object.values(config.roles).flatMap((r) => (r.hosts.includes(host) ? r.approvers : [])));
    const scans = decideScanAware(grant.role, role, grant.hosts, p.hostStatus, resolvers);
    if (!scans.ok) return scans;
    const extra = scans.value.stage;
    const stages = extra ? [...grant.stages, extra] : grant.stages;
    grant = {
      ...grant,
      autoApprove: scans.value.autoApprove,
      ...(extra ? { stages, approvalsRequired: stages.reduce((n, s) => n + s.count, 0) } : {}),
    };
  }

  const req = newRequest({
    id: p.id,
    requester: identity.user,
    grant,
    publicKey: p.subject.line,
    keyFingerprint: p.subject.fingerprint,
    now,
    reviewers,
  });
  const issueNow = grant.breakGlass ? "break-glass" : grant.autoApprove ? "auto-approve" : undefined;
  return allow({ kind: "new", req, issueNow });
}
