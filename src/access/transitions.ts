import type { RoleConfig } from "../config/schema.js";
import { allow, type Decision, refuse } from "../domain/decision.js";
import { requestDigest } from "./digest.js";
import { isApprover } from "./policy.js";
import { allMet, assignStages, botActor, describeOpen, stagesOf } from "./stages.js";
import { pendingUntil } from "./start.js";
import type { ScanRef } from "../domain/scan.js";
import type { AccessRequest, Approval, BotAnswer, Grant, Identity, IssuedCert } from "../domain/request.js";

/**
 * The request state machine, as pure functions over plain data. Each returns a new request
 * (version + 1) or a refusal; the caller audits, stores and announces the result.
 *
 *   pending --approve (threshold)--> approved --sign--> issued
 *   pending --deny--> denied     pending --cancel--> cancelled     pending --time--> expired
 */

const bump = (req: AccessRequest, now: Date, patch: Partial<AccessRequest>): AccessRequest => ({
  ...req,
  ...patch,
  version: req.version + 1,
  updatedAt: now.toISOString(),
});

export function newRequest(p: {
  id: string;
  requester: string;
  grant: Grant;
  publicKey: string;
  keyFingerprint: string;
  now: Date;
  /** People the requester suggests as approvers (checked by the caller). */
  reviewers?: string[];
}): AccessRequest {
  const { grant, now } = p;
  const digest = requestDigest({
    ...grant,
    id: p.id,
    requester: p.requester,
    keyFingerprint: p.keyFingerprint,
  });
  const start = grant.start === undefined ? undefined : new Date(grant.start);
  return {
    id: p.id,
    version: 1,
    state: "pending",
    requester: p.requester,
    role: grant.role,
    hosts: grant.hosts,
    reason: grant.reason,
    publicKey: p.publicKey,
    keyFingerprint: p.keyFingerprint,
    ttlSeconds: grant.ttlSeconds,
    principals: grant.principals,
    extensions: grant.extensions,
    criticalOptions: grant.criticalOptions,
    approvalsRequired: grant.approvalsRequired,
    autoApprove: grant.autoApprove,
    ...(grant.stepUp ? { stepUp: grant.stepUp } : {}),
    stages: grant.stages,
    ...(grant.start ? { start: grant.start } : {}),
    ...(grant.breakGlass ? { breakGlass: { review: { status: "open" as const } } } : {}),
    ...(grant.singleUse ? { singleUse: true } : {}),
    ...(p.reviewers?.length ? { reviewers: p.reviewers } : {}),
    digest,
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    // How long it may wait for approvals: not how long access lasts (ttlSeconds, from start).
    expiresAt: pendingUntil(now, grant.pendingTtlSeconds, start, grant.ttlSeconds).toISOString(),
    approvals: [],
  };
}

/** Why a request that is not pending cannot be acted on, in words a user understands. */
export function notPendingReason(req: AccessRequest, now: Date): string | undefined {
  switch (req.state) {
    case "pending":
      return isPendingExpired(req, now) ? `request ${req.id} expired at ${req.expiresAt}` : undefined;
    case "approved":
      return `request ${req.id} already has its approvals and is being issued`;
    case "blocked":
      return isPendingExpired(req, now)
        ? `request ${req.id} expired at ${req.expiresAt}`
        : `request ${req.id} is blocked by its pre-issue scan (${req.gate?.reason ?? "?"}); an approver may override it: sshca approve ${req.id} --override-scan --comment "why"`;
    case "issued":
      return `request ${req.id} was already issued (serial ${req.cert?.serial ?? "?"})`;
    case "revoked":
      return `request ${req.id} was issued and then revoked by ${req.revocation?.by ?? "?"}`;
    case "denied":
      return `request ${req.id} was denied by ${req.denial?.by ?? "?"}: ${req.denial?.reason ?? ""}`;
    case "cancelled":
      return `request ${req.id} was cancelled by ${req.cancellation?.by ?? "?"}`;
    case "expired":
      return `request ${req.id} expired at ${req.expiresAt} without enough approvals`;
  }
}

/** An approval or override for a digest the request does not have (invariant 5); the request's own digest is not echoed. */
const digestMismatch = (req: AccessRequest, digest: string) =>
  `digest mismatch: request ${req.id} is not what you reviewed (${digest} is not its digest); nothing changed: review it again (sshca request show ${req.id}) and approve what it shows`;

/** Pending and blocked requests wait for people; both expire at expiresAt. */
export const isPendingExpired = (req: AccessRequest, now: Date) =>
  (req.state === "pending" || req.state === "blocked") && now.getTime() >= Date.parse(req.expiresAt);

/** A request waiting for people (pending, or blocked by its scan) may still be denied or cancelled. */
const endableReason = (req: AccessRequest, now: Date) =>
  req.state === "blocked" && !isPendingExpired(req, now) ? undefined : notPendingReason(req, now);

/**
 * One approval. Separation of duties: the requester never counts, each approver counts once and
 * for one stage only, the approver must be in one of the role's approver groups, and the approval
 * is bound to the digest the approver reviewed. An approval that would fill no open stage is
 * refused with what is still open and who can close it (`membersOf`: people of some groups).
 */
export function decideApproval(
  req: AccessRequest,
  role: RoleConfig | undefined,
  approver: Identity,
  digest: string,
  comment: string | undefined,
  now: Date,
  membersOf?: (groups: readonly string[]) => readonly string[],
): Decision<{ request: AccessRequest; complete: boolean; stage: string }> {
  const stale = notPendingReason(req, now);
  if (stale) return refuse("conflict", stale);
  if (approver.user === req.requester) return refuse("forbidden", "you cannot approve your own request");
  if (role === undefined)
    return refuse("conflict", `role ${req.role} no longer exists; the request cannot be approved`);
  if (!isApprover(role, approver)) {
    return refuse(
      "forbidden",
      `${approver.user} is not an approver for role ${req.role} (approver groups: ${role.approvers.join(", ")})`,
    );
  }
  // Before "already approved": a digest that is not the request's is the problem to hear about.
  if (digest !== req.digest) return refuse("conflict", digestMismatch(req, digest));
  if (req.approvals.some((a) => a.approver === approver.user)) {
    return refuse("conflict", `${approver.user} already approved request ${req.id}; another approver is needed`);
  }
  const approval = {
    approver: approver.user,
    at: now.toISOString(),
    digest,
    groups: [...approver.groups],
    ...(comment ? { comment } : {}),
  };
  return withApproval(req, role, approval, now, approver.user, membersOf);
}

/**
 * Adds an approval (a person's or a bot's) when it fills an open stage; refuses, saying what is
 * open and who can close it, when it would count for nothing.
 */
function withApproval(
  req: AccessRequest,
  role: RoleConfig | undefined,
  approval: Approval,
  now: Date,
  who: string,
  membersOf: ((groups: readonly string[]) => readonly string[]) | undefined,
): Decision<{ request: AccessRequest; complete: boolean; stage: string }> {
  const stages = stagesOf(req, role);
  const approvals = [...req.approvals, approval];
  const { status, assigned } = assignStages(stages, approvals);
  const stage = assigned.at(-1);
  if (stage === undefined) {
    const before = assignStages(stages, req.approvals).status;
    const others = (groups: readonly string[]) =>
      (membersOf?.(groups) ?? []).filter((u) => u !== req.requester && !req.approvals.some((a) => a.approver === u));
    const open = describeOpen(before, others);
    return refuse(
      "conflict",
      `${who}'s approval would not count: ${open ? `it can close none of the open stages; still open: ${open}` : "every stage it could count for is met"}`,
    );
  }
  const complete = allMet(status);
  const stamped = approvals.map((a, i) => (assigned[i] ? { ...a, stage: assigned[i] } : a));
  return allow({
    request: bump(req, now, { approvals: stamped, state: complete ? "approved" : "pending" }),
    complete,
    stage,
  });
}

/**
 * An approver bot said yes. It counts as one approval by bot:NAME in a stage that names the bot,
 * never as the only approval of a stage unless the stage allows it (see stages.ts).
 */
export function decideBotApproval(
  req: AccessRequest,
  bot: string,
  comment: string | undefined,
  now: Date,
): Decision<{ request: AccessRequest; complete: boolean; stage: string }> {
  const stale = notPendingReason(req, now);
  if (stale) return refuse("conflict", stale);
  const actor = botActor(bot);
  if (!stagesOf(req, undefined).some((s) => (s.bots ?? []).includes(bot)))
    return refuse("forbidden", `bot ${bot} approves no stage of request ${req.id}`);
  if (req.approvals.some((a) => a.approver === actor)) return refuse("conflict", `${actor} already approved ${req.id}`);
  const approval = {
    approver: actor,
    at: now.toISOString(),
    digest: req.digest,
    bot,
    ...(comment ? { comment } : {}),
  };
  return withApproval(req, undefined, approval, now, actor, undefined);
}

/** An approver bot's answer, kept with the request whatever it was. */
export function recordBotAnswer(req: AccessRequest, bot: string, answer: BotAnswer, now: Date): AccessRequest {
  return bump(req, now, { bots: { ...req.bots, [bot]: answer } });
}

/** The role's autoApprove switch standing in for approvers (always audited by the caller). */
export function autoApprove(req: AccessRequest, now: Date): AccessRequest {
  return bump(req, now, {
    state: "approved",
    approvals: [{ approver: "auto-approve", at: now.toISOString(), digest: req.digest, auto: true }],
  });
}

/** A denial by an approver ends the request. */
export function decideDenial(
  req: AccessRequest,
  role: RoleConfig | undefined,
  approver: Identity,
  reason: string,
  now: Date,
): Decision<AccessRequest> {
  const stale = endableReason(req, now);
  if (stale) return refuse("conflict", stale);
  if (approver.user === req.requester) return refuse("forbidden", "to withdraw your own request, cancel it");
  if (role !== undefined && !isApprover(role, approver)) {
    return refuse("forbidden", `${approver.user} is not an approver for role ${req.role}`);
  }
  if (role === undefined) return refuse("conflict", `role ${req.role} no longer exists`);
  return allow(
    bump(req, now, {
      state: "denied",
      denial: { by: approver.user, at: now.toISOString(), reason },
    }),
  );
}

/** The requester (or an admin) withdraws a request that has not been issued. */
export function decideCancel(
  req: AccessRequest,
  actor: Identity,
  actorIsAdmin: boolean,
  now: Date,
): Decision<AccessRequest> {
  if (actor.user !== req.requester && !actorIsAdmin)
    return refuse("forbidden", "only the requester or an admin may cancel a request");
  const stale = endableReason(req, now);
  if (stale) return refuse("conflict", stale);
  return allow(bump(req, now, { state: "cancelled", cancellation: { by: actor.user, at: now.toISOString() } }));
}

/** A finished scan of one host, kept with its request (the full record is in the audit log). */
/** Where a request keeps a scan: at issue, the latest during the window, after access. */
export type ScanSlot = "issue" | "during" | "after";

export function recordScan(req: AccessRequest, host: string, slot: ScanSlot, ref: ScanRef, now: Date): AccessRequest {
  return bump(req, now, { scans: { ...req.scans, [host]: { ...req.scans?.[host], [slot]: ref } } });
}

/** The pre-issue scan passed: issuance may go ahead. */
export function passGate(req: AccessRequest, now: Date): AccessRequest {
  return bump(req, now, { gate: { status: "passed" } });
}

/** The pre-issue scan found unexpected open ports or failed: the request waits for an override. */
export function blockRequest(req: AccessRequest, reason: string, now: Date): AccessRequest {
  if (req.state !== "approved") throw new Error(`cannot block request ${req.id} in state ${req.state}`);
  return bump(req, now, { state: "blocked", gate: { status: "blocked", reason } });
}

/**
 * An approver explicitly overrides a blocked pre-issue scan, having seen the reason. The same
 * separation of duties as an approval applies, and it is bound to the request's digest.
 */
export function decideOverride(
  req: AccessRequest,
  role: RoleConfig | undefined,
  approver: Identity,
  digest: string,
  reason: string,
  now: Date,
): Decision<AccessRequest> {
  if (req.state !== "blocked" || isPendingExpired(req, now)) {
    return refuse(
      "conflict",
      notPendingReason(req, now) ?? `request ${req.id} is not blocked; there is nothing to override`,
    );
  }
  if (approver.user === req.requester) return refuse("forbidden", "you cannot override the scan of your own request");
  if (role === undefined) return refuse("conflict", `role ${req.role} no longer exists`);
  if (!isApprover(role, approver))
    return refuse("forbidden", `${approver.user} is not an approver for role ${req.role}`);
  if (digest !== req.digest) return refuse("conflict", digestMismatch(req, digest));
  if (reason.trim() === "") return refuse("bad_request", "an override needs a reason (--comment)");
  return allow(
    bump(req, now, {
      state: "approved",
      gate: {
        status: "blocked",
        ...(req.gate?.reason ? { reason: req.gate.reason } : {}),
        override: { by: approver.user, at: now.toISOString(), reason },
      },
    }),
  );
}

/**
 * Ends an issued certificate before it expires: revoked by an approver of the role or an
 * admin, or relinquished by its owner. The caller puts its serial in the KRL.
 */
export function decideRevocation(
  req: AccessRequest,
  actor: Identity,
  kind: "revoke" | "relinquish",
  mayRevoke: boolean,
  reason: string,
  now: Date,
): Decision<AccessRequest> {
  if (kind === "relinquish" && actor.user !== req.requester)
    return refuse("forbidden", "only the requester can relinquish their access");
  if (kind === "revoke" && !mayRevoke) {
    return refuse(
      "forbidden",
      `${actor.user} may not revoke certificates of role ${req.role} (approvers and admins may)`,
    );
  }
  if (req.state === "revoked") {
    return refuse(
      "conflict",
      `certificate serial ${req.cert?.serial} of ${req.id} was already revoked by ${req.revocation?.by}`,
    );
  }
  if (req.state !== "issued" || !req.cert)
    return refuse("conflict", `request ${req.id} has no certificate (it is ${req.state})`);
  if (now.getTime() >= Date.parse(req.cert.validBefore)) {
    return refuse(
      "conflict",
      `certificate serial ${req.cert.serial} already expired at ${req.cert.validBefore}; nothing to revoke`,
    );
  }
  return allow(
    bump(req, now, { state: "revoked", revocation: { by: actor.user, at: now.toISOString(), reason, kind } }),
  );
}

/** A pending request past its expiry, or undefined when it is not due. */
export function expireIfDue(req: AccessRequest, now: Date): AccessRequest | undefined {
  return isPendingExpired(req, now) ? bump(req, now, { state: "expired" }) : undefined;
}

/** The certificate was signed and its issuance durably audited. */
export function markIssued(req: AccessRequest, cert: IssuedCert, now: Date): AccessRequest {
  if (req.state !== "approved") throw new Error(`cannot issue request ${req.id} in state ${req.state}`);
  return bump(req, now, { state: "issued", cert });
}
