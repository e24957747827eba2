import { canonicalJson } from "../canonical-json.js";
import type { Config } from "../config/schema.js";
import { allow, type Decision, refuse } from "../domain/decision.js";
import { decideAsk } from "./policy.js";
import { allMet, assignStages, describeOpen, stagesOf } from "./stages.js";
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
    breakGlass: req.breakGlass !== undefined,
  });
  if (!now.ok) return refuse("conflict", `policy changed since the request was made: ${now.reason}`);
  const g = now.value;
  const same =
    canonicalJson([g.principals, g.extensions, g.criticalOptions, g.ttlSeconds]) ===
    canonicalJson([req.principals, req.extensions, req.criticalOptions, req.ttlSeconds]);
  if (!same) return refuse("conflict", `role ${req.role} changed since the request was made; request again`);
  const role = config.roles[req.role]!;
  // decideAsk checked above that the requester may still break glass, within its shorter TTL.
  if (req.breakGlass) return allow(undefined);
  if (role.autoApprove && req.approvals.some((a) => a.auto)) return allow(undefined);
  // Separation of duties, again, with today's groups and stages: distinct approvers, none the
  // requester, each counted for one stage. The stage a host's scan added stays, with today's approvers.
  const scanStage = stagesOf(req, role)
    .filter((s) => s.name === "scan" && s.because !== undefined)
    .map((s) => ({ ...s, groups: [...role.approvers] }));
  const stages = [...role.stages, ...scanStage];
  const counted = req.approvals
    .filter((a) => !a.auto && a.approver !== req.requester)
    // A role that asks for a second factor now counts only people's approvals that carried one it accepts.
    .filter((a) => a.bot !== undefined || decideStepUp(req.role, role, a.factor).ok);
  const { status } = assignStages(stages, counted, (a) => (a.bot !== undefined ? [] : identityOf(a.approver)?.groups));
  if (!allMet(status)) {
    const have = status.reduce((n, st) => n + st.approvedBy.length, 0);
    const need = stages.reduce((n, st) => n + st.count, 0);
    return refuse(
      "conflict",
      `role ${req.role} now needs ${need} approval${need > 1 ? "s" : ""} from current approvers; ${have} of the approvals still count (open: ${describeOpen(status)})`,
    );
  }
  return allow(undefined);
}
