import type { Config } from "../config/schema.js";
import { unwrap } from "../domain/decision.js";
import type { AccessRequest, Identity } from "../domain/request.js";
import { awaitingReview, DEFAULT_REMIND_SECONDS, decideReview } from "./break-glass.js";
import type { RequestLedger } from "./ledger.js";
import { reminderStep } from "./policy-steps.js";
import { visibleRequest, visibleRequests } from "./viewing.js";

/**
 * Break-glass afterwards: a request issued without approval stays open until an approver of its
 * role reviews it (request.reviewed); until then it is listed and its approvers are reminded.
 */

/** How often a role's open break-glass reviews are reminded. */
export function remindEvery(config: Config, req: AccessRequest): number {
  const role = Object.hasOwn(config.roles, req.role) ? config.roles[req.role] : undefined;
  return role?.breakGlass?.remindEvery ?? DEFAULT_REMIND_SECONDS;
}

/** An approver reviews a break-glass request afterwards (audited as request.reviewed). */
export async function review(
  ledger: RequestLedger,
  identity: Identity,
  id: string,
  comment: string,
): Promise<AccessRequest> {
  return ledger.locked(id, async () => {
    const req = visibleRequest(ledger, identity, id);
    const role = ledger.deps.config().roles[req.role];
    const reviewed = unwrap(decideReview(req, role, identity, comment, ledger.deps.now()));
    await ledger.commit({
      req: reviewed,
      from: req,
      type: "request.reviewed",
      actor: identity.user,
      fields: { comment: comment.trim(), serial: req.cert?.serial },
    });
    return reviewed;
  });
}

/** Break-glass requests still waiting for their review, that this identity may see. */
export function openReviews(ledger: RequestLedger, identity: Identity): AccessRequest[] {
  return visibleRequests(ledger, identity).filter(awaitingReview);
}

/**
 * Reminds the approvers that a break-glass request still waits for its review (a webhook
 * event). The caller holds the request's lock.
 */
export async function remind(ledger: RequestLedger, req: AccessRequest): Promise<void> {
  if (!awaitingReview(req)) return;
  const role = ledger.deps.config().roles[req.role];
  const reviewers = ledger.members(role?.approvers ?? []).filter((u) => u !== req.requester);
  await ledger.commit(reminderStep(req, ledger.deps.now(), reviewers));
}
