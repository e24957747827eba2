import type { FactorInput } from "../auth/factors/factors.js";
import { unwrap } from "../domain/decision.js";
import type { AccessRequest, FactorEvidence, Identity } from "../domain/request.js";
import { fail, safeErr } from "../errors.js";
import type { Change } from "../store/port.js";
import { issue, issueOr503 } from "./issuing.js";
import type { RequestLedger } from "./ledger.js";
import { isAdmin } from "./policy.js";
import { approvedFields, type BotOutcome, botSteps } from "./policy-steps.js";
import { openStages } from "./stages.js";
import { decideStepUp } from "./step-up.js";
import { decideApproval, decideCancel, decideDenial, decideOverride } from "./transitions.js";
import { visibleRequest } from "./viewing.js";

/**
 * The decisions people and bots take on a waiting request: approve (a stage at a time), deny,
 * cancel, override a blocked pre-issue scan. Each is decided by a pure rule (transitions.ts,
 * stages.ts) on the request as it is under its lock, after expiring it if its time ran out.
 */

/** An approver's approval, bound to the digest they saw; issues once every stage is met. */
export async function approve(
  ledger: RequestLedger,
  identity: Identity,
  id: string,
  digest: string,
  comment?: string,
  factor?: FactorInput,
): Promise<AccessRequest> {
  return ledger.locked(id, async () => {
    const req = visibleRequest(ledger, identity, id);
    const now = ledger.deps.now();
    await ledger.expireNow(req, now);
    const role = ledger.deps.config().roles[req.role];
    const base = ledger.get(id)!;
    const decided = unwrap(decideApproval(base, role, identity, digest, comment, now, ledger.members));
    // The approval stands; only now is the second factor checked (a TOTP code is used up with it).
    const { evidence, changes } = await stepUp(ledger, identity, base, factor);
    const last = decided.request.approvals.at(-1)!;
    const request = evidence
      ? { ...decided.request, approvals: [...decided.request.approvals.slice(0, -1), { ...last, factor: evidence }] }
      : decided.request;
    await ledger.commit({
      req: request,
      from: base,
      changes,
      type: "request.approved",
      actor: identity.user,
      fields: {
        ...approvedFields(request, decided.stage, openStages(request, role, ledger.members)),
        digest,
        ...(comment ? { comment } : {}),
        ...(evidence ? { factor: evidence } : {}),
      },
    });
    if (!decided.complete) return request;
    return issueOr503(ledger, request, "approval recorded");
  });
}

/**
 * An approver bot answered (or failed to). The answer is audited whatever it was; a yes counts
 * as one approval by bot:NAME where a stage takes it (see stages.ts), and may complete the request.
 */
export async function botAnswered(ledger: RequestLedger, id: string, bot: string, outcome: BotOutcome): Promise<void> {
  await ledger.locked(id, async () => {
    const req = ledger.get(id);
    if (!req) return;
    const now = ledger.deps.now();
    await ledger.expireNow(req, now);
    const open = (r: AccessRequest) => openStages(r, ledger.deps.config().roles[r.role], ledger.members);
    const { steps, approved } = botSteps(ledger.get(id)!, bot, outcome, now, open);
    await ledger.commit(...steps);
    if (approved?.complete) {
      await issue(ledger, approved.request).catch((err) => {
        ledger.deps.log.warn({ err: safeErr(err), request: id }, "issuance after a bot's approval failed; will retry");
      });
    }
  });
}

export async function deny(
  ledger: RequestLedger,
  identity: Identity,
  id: string,
  reason: string,
): Promise<AccessRequest> {
  return ledger.locked(id, async () => {
    const req = visibleRequest(ledger, identity, id);
    const now = ledger.deps.now();
    await ledger.expireNow(req, now);
    const role = ledger.deps.config().roles[req.role];
    const base = ledger.get(id)!;
    const denied = unwrap(decideDenial(base, role, identity, reason, now));
    await ledger.commit({
      req: denied,
      from: base,
      type: "request.denied",
      actor: identity.user,
      fields: { reason, approvers: req.approvals.map((a) => a.approver) },
    });
    return denied;
  });
}

export async function cancel(ledger: RequestLedger, identity: Identity, id: string): Promise<AccessRequest> {
  return ledger.locked(id, async () => {
    const req = visibleRequest(ledger, identity, id);
    const now = ledger.deps.now();
    await ledger.expireNow(req, now);
    const base = ledger.get(id)!;
    const cancelled = unwrap(decideCancel(base, identity, isAdmin(ledger.deps.config(), identity), now));
    await ledger.commit({ req: cancelled, from: base, type: "request.cancelled", actor: identity.user, fields: {} });
    return cancelled;
  });
}

/** An approver overrides a blocked pre-issue scan (explicit, audited), then it is issued. */
export async function override(
  ledger: RequestLedger,
  identity: Identity,
  id: string,
  digest: string,
  reason: string,
  factor?: FactorInput,
): Promise<AccessRequest> {
  return ledger.locked(id, async () => {
    const req = visibleRequest(ledger, identity, id);
    const now = ledger.deps.now();
    await ledger.expireNow(req, now);
    const current = ledger.get(id)!;
    const role = ledger.deps.config().roles[req.role];
    const next = unwrap(decideOverride(current, role, identity, digest, reason, now));
    // An override issues the certificate: it needs the same second factor as an approval.
    const { evidence, changes } = await stepUp(ledger, identity, current, factor, "override");
    await ledger.commit({
      req: next,
      from: current,
      changes,
      type: "request.scan_overridden",
      actor: identity.user,
      fields: {
        reason,
        blockedBecause: current.gate?.reason ?? "",
        ...(evidence ? { factor: evidence } : {}),
      },
    });
    return issueOr503(ledger, next, "override recorded");
  });
}

/**
 * The WebAuthn challenge for approving this request as the approver sees it (the console): only
 * for someone who could approve it now, with exactly this digest, for a role that takes WebAuthn.
 */
export async function webauthnChallenge(ledger: RequestLedger, identity: Identity, id: string, digest: string) {
  const { deps } = ledger;
  const req = visibleRequest(ledger, identity, id);
  const role = deps.config().roles[req.role];
  unwrap(decideApproval(req, role, identity, digest, undefined, deps.now(), ledger.members));
  if (!role?.stepUp?.methods.includes("webauthn"))
    throw fail.badRequest(`role ${req.role} does not take a WebAuthn second factor`);
  if (!deps.factors) throw fail.forbidden("second factors are not available here");
  return deps.factors.webauthnApprovalOptions(identity.user, req, role.stepUp.userVerification);
}

/**
 * The second factor of an approval or override: checked against this request's id and digest
 * when given, then held to the role's stepUp rule (refused without one where required).
 */
async function stepUp(
  ledger: RequestLedger,
  identity: Identity,
  req: AccessRequest,
  factor: FactorInput | undefined,
  action: "approve" | "override" = "approve",
): Promise<{ evidence: FactorEvidence | undefined; changes: Change[] }> {
  const { factors } = ledger.deps;
  const role = ledger.deps.config().roles[req.role];
  if (factor && !factors) throw fail.forbidden("second factors are not available here");
  const uv = role?.stepUp?.userVerification ?? false;
  const verified = factor ? await factors!.verify(identity.user, req, factor, uv, action) : undefined;
  return { evidence: unwrap(decideStepUp(req.role, role, verified?.evidence)), changes: verified?.changes ?? [] };
}
