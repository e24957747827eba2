import type { RoleConfig } from "../config/schema.js";
import { allow, type Decision, refuse } from "../domain/decision.js";
import type { AccessRequest, Identity } from "../domain/request.js";
import { isApprover } from "./policy.js";

/**
 * Break-glass: a role option for emergencies. The requester is issued a short certificate at
 * once; every approver and auditor is told; the request stays "awaiting review" until an approver
 * reviews it afterwards. Pure.
 */

/** May this identity break glass on this role? */
export function decideBreakGlass(roleName: string, role: RoleConfig, identity: Identity): Decision<void> {
  const rule = role.breakGlass;
  if (!rule) return refuse("forbidden", `role ${roleName} has no break-glass; ask for approval instead`);
  const groups = rule.requesters ?? role.requesters;
  if (!identity.groups.some((g) => groups.includes(g)) || !identity.groups.some((g) => role.requesters.includes(g)))
    return refuse(
      "forbidden",
      `${identity.user} may not break glass on role ${roleName} (break-glass groups: ${groups.join(", ")})`,
    );
  return allow(undefined);
}

/** A break-glass request whose review is still open. */
export const awaitingReview = (req: AccessRequest) => req.breakGlass?.review.status === "open";

/**
 * An approver reviews a break-glass request afterwards: any approver of its role but the
 * requester, with a comment saying what they found. Closes the review; the certificate stays as it is.
 */
export function decideReview(
  req: AccessRequest,
  role: RoleConfig | undefined,
  reviewer: Identity,
  comment: string,
  now: Date,
): Decision<AccessRequest> {
  const review = req.breakGlass?.review;
  if (!review) return refuse("conflict", `request ${req.id} was not break-glass; there is nothing to review`);
  if (review.status === "done")
    return refuse(
      "conflict",
      `request ${req.id} was already reviewed by ${review.by} at ${review.at}: ${review.comment}`,
    );
  if (reviewer.user === req.requester) return refuse("forbidden", "you cannot review your own break-glass request");
  if (role === undefined)
    return refuse("conflict", `role ${req.role} no longer exists; an admin closes this in the audit log`);
  if (!isApprover(role, reviewer))
    return refuse(
      "forbidden",
      `${reviewer.user} is not an approver for role ${req.role} (approver groups: ${role.approvers.join(", ")})`,
    );
  const text = comment.trim();
  if (text === "") return refuse("bad_request", "a review needs a comment saying what you found (--comment)");
  const at = now.toISOString();
  return allow({
    ...req,
    version: req.version + 1,
    updatedAt: at,
    breakGlass: { ...req.breakGlass, review: { status: "done", by: reviewer.user, at, comment: text } },
  });
}

/** When the approvers of an open break-glass review are next reminded (ms), or undefined. */
export function reminderAt(req: AccessRequest, everySeconds: number): number | undefined {
  if (!awaitingReview(req)) return undefined;
  const last = req.breakGlass?.remindedAt ?? req.createdAt;
  return Date.parse(last) + everySeconds * 1000;
}

/** Records that the reviewers were reminded now (the reminder itself is an audit event). */
export function markReminded(req: AccessRequest, now: Date): AccessRequest {
  const at = now.toISOString();
  return { ...req, version: req.version + 1, updatedAt: at, breakGlass: { ...req.breakGlass!, remindedAt: at } };
}

/** How often reviewers are reminded when the role (or its breakGlass) is gone: 4 hours. */
export const DEFAULT_REMIND_SECONDS = 4 * 3600;
