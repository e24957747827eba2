import type { AuditRecordView, RequestView } from "../../../src/http/contract.ts";
import { ApiError, get } from "../api.ts";
import { when } from "../format.ts";
import { useLoad } from "../hooks.ts";
import type { PageProps } from "../main.tsx";
import { mayApprove, RequestCard } from "./waiting.tsx";
import { RequestDetails } from "../parts/request-details.tsx";
import { NoticeLine, useNotice } from "../parts/notice.tsx";

const SKIP = new Set(["request", "requester", "role"]);

function summary(r: AuditRecordView): string {
  return Object.entries(r.fields)
    .filter(([k, v]) => !SKIP.has(k) && v !== undefined && typeof v !== "object")
    .map(([k, v]) => `${k}: ${String(v)}`)
    .join(" · ");
}

/** One request: as it stands (with the decision, when it waits for this user), and its whole audited life. */
export function RequestPage({ id, me, tick }: PageProps & { id: string }) {
  const live = useLoad(
    () =>
      get<RequestView>(`/v1/requests/${id}`).catch((err: unknown) => {
        if (err instanceof ApiError && err.status === 404) return null;
        throw err;
      }),
    [id, tick],
  );
  const timeline = useLoad(() => get<{ records: AuditRecordView[] }>(`/v1/requests/${id}/timeline`), [id, tick]);
  const req = live.data;
  const [notice, setNotice] = useNotice();
  const mayDecide = req && req.state === "pending" && mayApprove(req, me);
  return (
    <section>
      <h1>Request {id}</h1>
      <NoticeLine notice={notice} />
      {live.error ? <p role="alert">{live.error}</p> : null}
      {req === null ? <p class="muted">This request has left the live state; its history is below.</p> : null}
      {req && mayDecide ? (
        <RequestCard
          req={req}
          tick={tick}
          onDone={(text) => {
            setNotice({ ok: true, text });
            live.reload();
          }}
        />
      ) : null}
      {req && !mayDecide ? <RequestDetails req={req} /> : null}
      <h2>Timeline</h2>
      {timeline.error ? <p role="alert">{timeline.error}</p> : null}
      <ol class="timeline">
        {(timeline.data?.records ?? []).map((r) => (
          <li key={r.seq}>
            <time dateTime={r.time}>{when(r.time)}</time> <strong>{r.type}</strong> by {r.actor}
            <div class="muted">{summary(r)}</div>
          </li>
        ))}
      </ol>
    </section>
  );
}
