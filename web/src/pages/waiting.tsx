import type { RequestView } from "../../../src/http/contract.ts";
import { get } from "../api.ts";
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

/** Waiting for me: pending requests this user may approve (not their own, not approved by them yet). */
export function WaitingPage({ me, tick }: PageProps) {
  const { data, error, reload } = useLoad(() => get<{ requests: RequestView[] }>("/v1/requests?state=pending"), [tick]);
  const [notice, setNotice] = useNotice();
  const done = (text: string) => {
    setNotice({ ok: true, text });
    reload();
  };
  const mine = (data?.requests ?? []).filter(
    (r) =>
      me.approvableRoles.includes(r.role) &&
      r.requester !== me.user &&
      !r.approvals.some((a) => a.approver === me.user),
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
    </section>
  );
}
