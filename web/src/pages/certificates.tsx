import { useState } from "preact/hooks";
import type { RequestView } from "../../../src/http/contract.ts";
import { get, message, post } from "../api.ts";
import { duration } from "../format.ts";
import { useLoad, useNow } from "../hooks.ts";
import type { PageProps } from "../main.tsx";
import { NoticeLine, useNotice } from "../parts/notice.tsx";

function Revoke({ req, onDone }: { req: RequestView; onDone: (text: string) => void }) {
  const [reason, setReason] = useState("");
  const [status, setStatus] = useState<{ ok: boolean; text: string } | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    try {
      await post("/v1/revocations", { request: req.id, reason: reason.trim() });
      onDone(`Revoked serial ${req.serial} of ${req.requester} (${req.role} on ${req.hosts.join(", ")}).`);
    } catch (err) {
      setStatus({ ok: false, text: message(err) });
    }
  };
  return (
    <form onSubmit={submit} class="inline" aria-label={`Revoke ${req.requester}'s ${req.role} certificate`}>
      <label for={`revoke-${req.id}`}>Reason for revoking</label>
      <input
        id={`revoke-${req.id}`}
        required
        maxLength={500}
        value={reason}
        onInput={(e) => setReason(e.currentTarget.value)}
      />
      <button type="submit" class="danger" disabled={!reason.trim()}>
        Revoke
      </button>
      {status ? (
        <p role={status.ok ? "status" : "alert"} class={status.ok ? "ok" : "error"}>
          {status.text}
        </p>
      ) : null}
    </form>
  );
}

/** Active certificates of roles this user approves (admins: all), each revocable with a reason. */
export function CertificatesPage({ me, tick }: PageProps) {
  const now = useNow();
  const { data, error, reload } = useLoad(() => get<{ requests: RequestView[] }>("/v1/requests?state=issued"), [tick]);
  const [notice, setNotice] = useNotice();
  const done = (text: string) => {
    setNotice({ ok: true, text });
    reload();
  };
  if (error) return <p role="alert">{error}</p>;
  if (!data) return <p class="loading">Loading…</p>;
  const live = data.requests.filter(
    (r) => r.validBefore && Date.parse(r.validBefore) > now && (me.admin || me.approvableRoles.includes(r.role)),
  );
  return (
    <section>
      <h1>Active certificates</h1>
      <NoticeLine notice={notice} />
      {live.length === 0 ? <p class="empty">No live certificates of roles you approve.</p> : null}
      <ul class="rows">
        {live.map((r) => (
          <li key={r.id} class="row card">
            <div>
              <a href={`/console/requests/${r.id}`}>
                <strong>{r.requester}</strong>: {r.role} on {r.hosts.join(", ")}
              </a>
              <div class="muted">
                serial {r.serial} · {duration((Date.parse(r.validBefore!) - now) / 1000)} left · approved by{" "}
                {r.approvals.map((a) => a.approver).join(", ") || "auto-approval"}
              </div>
            </div>
            <Revoke req={r} onDone={done} />
          </li>
        ))}
      </ul>
    </section>
  );
}
