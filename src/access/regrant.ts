import { canonicalJson } from "../canonical-json.js";
import type { Config } from "../config/schema.js";
import { allow, type Decision, refuse } from "../domain/decision.js";
import { decideAsk, isApprover } from "./policy.js";
import { decideStepUp } from "./step-up.js";
import type { AccessRequest, Identity } from "../domain/request.js";

/**
 * Just before signing, is the approved request still what the current policy would grant,
 * approved as the current policy requires? A role tightened, the requester removed from its
 * groups, more approvals required, or an approver no longer an approver after approval must
 * not yield the old certificate: anything that changes the certificate needs a new request.
 */
export function decideStillGranted(
  config: Config,
  requester: Identity | undefined,
  req: AccessRequest,
  identityOf: (user: string) => Identity | undefined,
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
  if (!same) return refuse("conflict", `role ${req.role} changed since the request was made; request again`);
  const role = config.roles[req.role]!;
  if (role.autoApprove) return allow(undefined);
  // Separation of duties, again, with today's groups: distinct approvers, none the requester.
  const valid = new Set(
    req.approvals
      .filter((a) => !a.auto && a.approver !== req.requester)
      .filter((a) => {
        const who = identityOf(a.approver);
        return who !== undefined && isApprover(role, who);
      })
      // A role that asks for a second factor now counts only approvals that carried one it accepts.
      .filter((a) => decideStepUp(req.role, role, a.factor).ok)
      .map((a) => a.approver),
  );
  if (valid.size < role.approvalsRequired) {
    return refuse(
      "conflict",
      `role ${req.role} now needs ${role.approvalsRequired} approval${role.approvalsRequired > 1 ? "s" : ""} from current approvers; ${valid.size} of the approvals still count`,
    );
  }
  return allow(undefined);
}
