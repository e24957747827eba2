import { useState } from "preact/hooks";
import type { RequestView } from "../../../src/http/contract.ts";
import { get, message, post } from "../api.ts";
import { duration, when } from "../format.ts";
import { useLoad, useNow } from "../hooks.ts";
import type { PageProps } from "../main.tsx";
import { NoticeLine, useNotice } from "../parts/notice.tsx";

function Relinquish({ req, onDone }: { req: RequestView; onDone: (text: string) => void }) {
  const [status, setStatus] = useState<{ ok: boolean; text: string } | null>(null);
  const go = async () => {
    try {
      await post(`/v1/requests/${req.id}/relinquish`, {});
      onDone(`Relinquished ${req.role} on ${req.hosts.join(", ")}: the certificate is revoked.`);
    } catch (err) {
      setStatus({ ok: false, text: message(err) });
    }
  };
  return (
    <>
      <button
        type="button"
        class="danger"
        onClick={go}
        aria-label={`Relinquish ${req.role} on ${req.hosts.join(", ")}`}
      >
        Relinquish
      </button>
      {status ? (
        <p role={status.ok ? "status" : "alert"} class={status.ok ? "ok" : "error"}>
          {status.text}
        </p>
      ) : null}
    </>
  );
}

/** My access: my requests, and my live certificates with the time they have left. */
export function MinePage({ tick }: PageProps) {
  const now = useNow();
  const { data, error, reload } = useLoad(() => get<{ requests: RequestView[] }>("/v1/requests?mine=true"), [tick]);
  const [notice, setNotice] = useNotice();
  const done = (text: string) => {
    setNotice({ ok: true, text });
    reload();
  };
  if (error) return <p role="alert">{error}</p>;
  if (!data) return <p class="loading">Loading…</p>;
  const live = data.requests.filter((r) => r.state === "issued" && r.validBefore && Date.parse(r.validBefore) > now);
  const waiting = data.requests.filter((r) => ["pending", "approved", "blocked"].includes(r.state));
  const ended = data.requests.filter((r) => !live.includes(r) && !waiting.includes(r));
  return (
    <section>
      <h1>My access</h1>
      <NoticeLine notice={notice} />
      <h2>Live certificates</h2>
      {live.length === 0 ? <p class="empty">No live certificates.</p> : null}
      <ul class="rows">
        {live.map((r) => (
          <li key={r.id} class="row">
            <div>
              <a href={`/console/requests/${r.id}`}>
                <strong>{r.role}</strong> on {r.hosts.join(", ")}
              </a>
              <div class="muted">
                serial {r.serial} · {duration((Date.parse(r.validBefore!) - now) / 1000)} left (until{" "}
                {when(r.validBefore!)})
              </div>
            </div>
            <Relinquish req={r} onDone={done} />
          </li>
        ))}
      </ul>
      <h2>Waiting</h2>
      {waiting.length === 0 ? <p class="empty">No request waits.</p> : null}
      <ul class="rows">
        {waiting.map((r) => (
          <li key={r.id} class="row">
            <a href={`/console/requests/${r.id}`}>
              <strong>{r.role}</strong> on {r.hosts.join(", ")}
            </a>
            <span class={`state state-${r.state}`}>
              {r.state} · {r.approvals.length}/{r.approvalsRequired} approvals · waits until {when(r.expiresAt)} ·{" "}
              {duration(r.ttlSeconds)} of access{r.start ? ` from ${when(r.start)}` : ""}
            </span>
          </li>
        ))}
      </ul>
      <h2>Ended</h2>
      {ended.length === 0 ? <p class="empty">Nothing ended recently.</p> : null}
      <ul class="rows">
        {ended.map((r) => (
          <li key={r.id} class="row">
            <a href={`/console/requests/${r.id}`}>
              <strong>{r.role}</strong> on {r.hosts.join(", ")}
            </a>
            <span class={`state state-${r.state}`}>{r.state === "issued" ? "expired" : r.state}</span>
          </li>
        ))}
      </ul>
    </section>
  );
}
