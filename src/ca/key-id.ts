import type { AccessRequest } from "../domain/request.js";

/**
 * The certificate key id, which sshd logs with every login (LogLevel VERBOSE: "... ID <key id>
 * (serial N) CA ..."). It names the request, the requester and the approvers so sshd's logs
 * join the audit log; printable ASCII, no spaces, no newlines.
 */
export function keyIdFor(req: AccessRequest): string {
  const approvers = req.approvals.map((a) => a.approver).join("+") || (req.breakGlass ? "break-glass" : "none");
  return `req=${req.id};user=${req.requester};role=${req.role};approvers=${approvers}`;
}
