import type { Config } from "../config/schema.js";
import type { AccessRequest, Identity } from "../domain/request.js";
import { fail } from "../errors.js";
import type { RequestLedger } from "./ledger.js";
import { isAdmin, isApprover, isAuditor } from "./policy.js";

/**
 * May this identity see a request? Its requester, the role's approvers, auditors, admins. Also
 * for a request known only from its audit records (it may have left the live state): who asked,
 * for which role. Pure.
 */
export function maySee(config: Config, identity: Identity, req: { requester: string; role: string }): boolean {
  const role = Object.hasOwn(config.roles, req.role) ? config.roles[req.role] : undefined;
  return (
    req.requester === identity.user ||
    (role !== undefined && isApprover(role, identity)) ||
    isAuditor(config, identity) ||
    isAdmin(config, identity)
  );
}

/** The request if this identity may see it; otherwise not_found (existence is not leaked). */
export function visibleRequest(ledger: RequestLedger, identity: Identity, id: string): AccessRequest {
  const config = ledger.deps.config();
  const req = ledger.get(id);
  if (!req || !maySee(config, identity, req)) {
    // Only those who may read the audit trail are pointed to it.
    const mayAudit = isAuditor(config, identity) || isAdmin(config, identity);
    const history = mayAudit ? `; their history: sshca audit list --request ${id}` : "";
    throw fail.notFound(`no request ${id} (finished requests leave the live state${history})`);
  }
  return req;
}

/** The live requests this identity may see, oldest first. */
export function visibleRequests(ledger: RequestLedger, identity: Identity): AccessRequest[] {
  const config = ledger.deps.config();
  return ledger
    .liveRequests()
    .filter((r) => maySee(config, identity, r))
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}
