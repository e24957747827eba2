import { Fragment } from "preact";
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
      <dt>Access</dt>
      <dd>
        {duration(req.ttlSeconds)}
        {req.start ? ` from ${when(req.start)}` : " once issued"}
        {req.singleUse ? ", one session (single use)" : ""}
      </dd>
      <dt>Reason</dt>
      <dd class="reason">{req.reason}</dd>
      <dt>Approvals</dt>
      <dd>
        {req.approvals.length} of {req.approvalsRequired}
        {req.approvals.length ? ` (${req.approvals.map((a) => a.approver).join(", ")})` : ""}
      </dd>
      {req.stages && (req.stages.length > 1 || req.stages.some((s) => s.because || s.bots.length)) ? (
        <>
          <dt>Stages</dt>
          <dd>
            <ul class="stages">
              {req.stages.map((s) => (
                <li key={s.name} class={s.met ? "stage met" : "stage open"}>
                  <strong>{s.name}</strong> {s.count - s.missing}/{s.count} from {s.groups.join(" or ")}
                  {s.bots.length ? ` or bot ${s.bots.join(", ")}` : ""}
                  {s.approvedBy.length ? ` · ${s.approvedBy.join(", ")}` : ""}
                  {!s.met && s.canClose.length ? ` · can close it: ${s.canClose.join(", ")}` : ""}
                  {s.because ? <div class="muted">because {s.because}</div> : null}
                </li>
              ))}
            </ul>
          </dd>
        </>
      ) : null}
      {req.reviewers?.length ? (
        <>
          <dt>Suggested reviewers</dt>
          <dd>{req.reviewers.join(", ")}</dd>
        </>
      ) : null}
      {Object.entries(req.bots ?? {}).map(([bot, b]) => (
        <Fragment key={bot}>
          <dt>Bot {bot}</dt>
          <dd>
            {b.answer}
            {b.comment ? ` (“${b.comment}”)` : ""}
            {b.error ? ` (${b.error})` : ""}
          </dd>
        </Fragment>
      ))}
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
        {req.state === "pending" ? ` · waits for approvals until ${when(req.expiresAt)}` : ""}
        {req.validBefore ? ` · valid until ${when(req.validBefore)}` : ""}
      </dd>
      {req.breakGlass ? (
        <>
          <dt>Break-glass</dt>
          <dd class="break-glass">
            {req.breakGlass.review.status === "open"
              ? "issued without approval; awaiting an approver's review"
              : `reviewed by ${req.breakGlass.review.by} (${when(req.breakGlass.review.at)}): ${req.breakGlass.review.comment}`}
          </dd>
        </>
      ) : null}
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
