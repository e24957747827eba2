import type { RequestView } from "../../../src/http/contract.ts";
import { useState } from "preact/hooks";
import { get, message, post } from "../api.ts";
import { useLoad } from "../hooks.ts";
import type { PageProps } from "../main.tsx";
import { Decide } from "../parts/decide.tsx";
import { HostScan } from "../parts/host-scan.tsx";
import { RequestDetails } from "../parts/request-details.tsx";
import { RecentWindows } from "../parts/windows.tsx";
import { NoticeLine, useNotice } from "../parts/notice.tsx";

/** One request waiting for this approver: what is asked, each host's latest scan, the requester's past windows. */
export function RequestCard({ req, tick, onDone }: { req: RequestView; tick: number; onDone: (text: string) => void }) {
  return (
    <article class="card" aria-labelledby={`title-${req.id}`}>
      <h2 id={`title-${req.id}`}>
        <a href={`/console/requests/${req.id}`}>
          {req.requester} asks for {req.role} on {req.hosts.join(", ")}
        </a>
      </h2>
      <RequestDetails req={req} />
      <h3>Hosts at their last scan</h3>
      {req.hosts.map((h) => (
        <HostScan key={h} host={h} tick={tick} />
      ))}
      <h3>Recent windows</h3>
      <RecentWindows id={req.id} requester={req.requester} tick={tick} />
      <Decide req={req} onDone={onDone} />
    </article>
  );
}

/** Whether this user's approval could still count: they can close an open stage (the server decides again). */
export function mayApprove(r: RequestView, me: PageProps["me"]): boolean {
  if (r.requester === me.user || r.approvals.some((a) => a.approver === me.user)) return false;
  if (!me.approvableRoles.includes(r.role)) return false;
  return r.stages === undefined || r.stages.some((s) => !s.met && s.canClose.includes(me.user));
}

/** A break-glass request issued without approval: the approver reviews it afterwards. */
function ReviewCard({ req, onDone }: { req: RequestView; onDone: (text: string) => void }) {
  const [comment, setComment] = useState("");
  const [status, setStatus] = useState<string | null>(null);
  const submit = (e: Event) => {
    e.preventDefault();
    post(`/v1/requests/${req.id}/review`, { comment: comment.trim() }).then(
      () => onDone(`Reviewed the break-glass access of ${req.requester}.`),
      (err: unknown) => setStatus(message(err)),
    );
  };
  return (
    <article class="card break-glass" aria-labelledby={`review-${req.id}`}>
      <h2 id={`review-${req.id}`}>
        <a href={`/console/requests/${req.id}`}>
          Break-glass: {req.requester} took {req.role} on {req.hosts.join(", ")}
        </a>
      </h2>
      <RequestDetails req={req} />
      <form onSubmit={submit} aria-label={`Review ${req.id}`}>
        <label for={`review-comment-${req.id}`}>What you found</label>
        <textarea
          id={`review-comment-${req.id}`}
          rows={2}
          maxLength={500}
          required
          value={comment}
          onInput={(e) => setComment(e.currentTarget.value)}
        />
        <button type="submit" class="primary" disabled={!comment.trim()}>
          Review
        </button>
      </form>
      {status ? (
        <p role="alert" class="error">
          {status}
        </p>
      ) : null}
    </article>
  );
}

/** Waiting for me: pending requests this user may approve (not their own, not approved by them yet). */
export function WaitingPage({ me, tick }: PageProps) {
  const { data, error, reload } = useLoad(() => get<{ requests: RequestView[] }>("/v1/requests?state=pending"), [tick]);
  const reviews = useLoad(() => get<{ requests: RequestView[] }>("/v1/requests?review=open"), [tick]);
  const [notice, setNotice] = useNotice();
  const done = (text: string) => {
    setNotice({ ok: true, text });
    reload();
  };
  const mine = (data?.requests ?? []).filter((r) => mayApprove(r, me));
  const toReview = (reviews.data?.requests ?? []).filter(
    (r) => me.approvableRoles.includes(r.role) && r.requester !== me.user,
  );
  return (
    <section>
      <h1>Waiting for me</h1>
      <NoticeLine notice={notice} />
      {me.approvableRoles.length === 0 ? (
        <p class="empty">You approve no role, so nothing waits for you here.</p>
      ) : error ? (
        <p role="alert">{error}</p>
      ) : !data ? (
        <p class="loading">Loading…</p>
      ) : mine.length === 0 ? (
        <p class="empty">Nothing waits for your approval. New requests appear here as they come in.</p>
      ) : (
        mine.map((r) => <RequestCard key={r.id} req={r} tick={tick} onDone={done} />)
      )}
      {toReview.length ? (
        <>
          <h1>Break-glass awaiting your review</h1>
          {toReview.map((r) => (
            <ReviewCard
              key={r.id}
              req={r}
              onDone={(text) => {
                done(text);
                reviews.reload();
              }}
            />
          ))}
        </>
      ) : null}
    </section>
  );
}
