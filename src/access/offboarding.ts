import type { Step } from "./issuance.js";
import type { AccessRequest } from "../domain/request.js";
import { allMet, assignStages, stagesOf } from "./stages.js";

/** What an operator chose when cutting a user off. */
export interface CutOffOptions {
  /** Who did it (the audit actor): "admin" from the CA host. */
  actor: string;
  /** Why, in words that reach the requester and approvers ("user disabled"). */
  reason: string;
  /** Put the user's live certificates in the KRL (the default; `--keep-certificates` says no). */
  revokeCertificates: boolean;
}

const WAITING = new Set(["pending", "approved", "blocked"]);

/**
 * What cutting `user` off means for one live request, as a step to commit, or undefined when it
 * is not touched. Pure.
 * - Their own request still waiting for people or issuance ends (cancelled, with the reason).
 * - Their live certificate is revoked unless the operator keeps it.
 * - Their approval of someone else's waiting request stops counting: it is withdrawn, and a
 *   request that had its approvals goes back to pending (its scan gate is decided again).
 */
export function cutOffStep(req: AccessRequest, user: string, opts: CutOffOptions, now: Date): Step | undefined {
  const at = now.toISOString();
  const bump = (patch: Partial<AccessRequest>): AccessRequest => ({
    ...req,
    ...patch,
    version: req.version + 1,
    updatedAt: at,
  });
  if (req.requester === user) {
    if (WAITING.has(req.state)) {
      return {
        req: bump({ state: "cancelled", cancellation: { by: opts.actor, at, reason: opts.reason } }),
        type: "request.cancelled",
        actor: opts.actor,
        fields: { reason: opts.reason },
      };
    }
    if (req.state === "issued" && req.cert && opts.revokeCertificates && now < new Date(req.cert.validBefore)) {
      return {
        req: bump({ state: "revoked", revocation: { by: opts.actor, at, reason: opts.reason, kind: "revoke" } }),
        type: "certificate.revoked",
        actor: opts.actor,
        fields: {
          serial: req.cert.serial,
          keyId: req.cert.keyId,
          kind: "revoke",
          reason: opts.reason,
          validBefore: req.cert.validBefore,
          approvers: req.approvals.map((a) => a.approver),
        },
      };
    }
    return undefined;
  }
  if (!WAITING.has(req.state) || !req.approvals.some((a) => a.approver === user)) return undefined;
  const left = req.approvals.filter((a) => a.approver !== user);
  const { gate: _gate, ...rest } = req;
  // Each stage must still be met by the approvals that are left (a person counts for one stage only).
  const { status, assigned } = assignStages(stagesOf(req, undefined), left);
  const approvals = left.map((a, i) => (assigned[i] ? { ...a, stage: assigned[i] } : a));
  const state = allMet(status) ? req.state : "pending";
  return {
    req: { ...(state === "pending" ? rest : req), approvals, state, version: req.version + 1, updatedAt: at },
    type: "request.approval_withdrawn",
    actor: opts.actor,
    fields: {
      approver: user,
      reason: opts.reason,
      approvals: approvals.length,
      approvalsRequired: req.approvalsRequired,
      approvers: approvals.map((a) => a.approver),
    },
  };
}
