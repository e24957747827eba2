import type { RequestView } from "../../../src/http/contract.ts";
import { duration, when } from "../format.ts";

/** Everything the certificate will contain, as the approver reviews it. */
export function RequestDetails({ req }: { req: RequestView }) {
  return (
    <dl class="details">
      <dt>Requester</dt>
      <dd>{req.requester}</dd>
      <dt>Role</dt>
      <dd>{req.role}</dd>
      <dt>Hosts</dt>
      <dd>{req.hosts.join(", ")}</dd>
      <dt>Principals</dt>
      <dd>{req.principals.join(", ")}</dd>
      <dt>TTL</dt>
      <dd>{duration(req.ttlSeconds)}</dd>
      <dt>Reason</dt>
      <dd class="reason">{req.reason}</dd>
      <dt>Approvals</dt>
      <dd>
        {req.approvals.length} of {req.approvalsRequired}
        {req.approvals.length ? ` (${req.approvals.map((a) => a.approver).join(", ")})` : ""}
      </dd>
      <dt>Key</dt>
      <dd class="mono">{req.keyFingerprint}</dd>
      <dt>Digest</dt>
      <dd class="mono digest" data-digest={req.digest}>
        {req.digest}
      </dd>
      {req.stepUp ? (
        <>
          <dt>Second factor</dt>
          <dd>
            {req.stepUp.methods.join(" or ")}
            {req.stepUp.userVerification ? ", with user verification" : ""}
          </dd>
        </>
      ) : null}
      <dt>State</dt>
      <dd>
        <span class={`state state-${req.state}`}>{req.state}</span>
        {req.state === "pending" ? ` until ${when(req.expiresAt)}` : ""}
        {req.validBefore ? ` · valid until ${when(req.validBefore)}` : ""}
      </dd>
      {req.denial ? (
        <>
          <dt>Denied</dt>
          <dd>
            by {req.denial.by}: {req.denial.reason}
          </dd>
        </>
      ) : null}
      {req.revocation ? (
        <>
          <dt>{req.revocation.kind === "relinquish" ? "Relinquished" : "Revoked"}</dt>
          <dd>
            by {req.revocation.by}: {req.revocation.reason}
          </dd>
        </>
      ) : null}
    </dl>
  );
}
