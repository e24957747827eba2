import { useState } from "preact/hooks";
import type { AuditRecordView, AuditVerifyView } from "../../../src/http/contract.ts";
import { get } from "../api.ts";
import { when } from "../format.ts";
import { useLoad } from "../hooks.ts";
import type { PageProps } from "../main.tsx";

/** Audit (auditors, admins): search the trail, and whether its hash chain verifies. */
export function AuditPage({ tick }: PageProps) {
  const [form, setForm] = useState({ user: "", request: "", type: "", since: "" });
  const [query, setQuery] = useState("");
  const verify = useLoad(() => get<AuditVerifyView>("/v1/audit/verify"), [tick]);
  const records = useLoad(() => get<{ records: AuditRecordView[] }>(`/v1/audit?limit=200${query}`), [query, tick]);
  const search = (e: Event) => {
    e.preventDefault();
    const q = Object.entries(form)
      .filter(([, v]) => v.trim())
      .map(([k, v]) => `&${k}=${encodeURIComponent(k === "since" ? new Date(v).toISOString() : v.trim())}`)
      .join("");
    setQuery(q);
  };
  const field = (name: keyof typeof form, label: string, type = "text") => (
    <div class="field">
      <label for={`audit-${name}`}>{label}</label>
      <input
        id={`audit-${name}`}
        type={type}
        value={form[name]}
        onInput={(e) => setForm({ ...form, [name]: e.currentTarget.value })}
      />
    </div>
  );
  const v = verify.data;
  return (
    <section>
      <h1>Audit</h1>
      <p role="status" class={v ? (v.ok ? "ok" : "error") : "muted"}>
        {verify.error
          ? `Verification failed to run: ${verify.error}`
          : !v
            ? "Verifying the hash chain…"
            : v.ok
              ? `Hash chain verified: ${v.records} records in ${v.segments} segment(s), head ${v.head.seq}:${v.head.hash.slice(0, 16)}…`
              : `Hash chain broken: ${v.problem?.message ?? "see sshcad audit verify"}`}
      </p>
      <form onSubmit={search} class="search" aria-label="Search the audit trail">
        {field("user", "User")}
        {field("request", "Request id")}
        {field("type", "Event type")}
        {field("since", "Since", "datetime-local")}
        <button type="submit">Search</button>
      </form>
      {records.error ? <p role="alert">{records.error}</p> : null}
      <div class="scroll">
        <table class="audit">
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">Time</th>
              <th scope="col">Event</th>
              <th scope="col">Actor</th>
              <th scope="col">Request</th>
            </tr>
          </thead>
          <tbody>
            {[...(records.data?.records ?? [])].reverse().map((r) => {
              const req = (r.fields as { request?: string }).request;
              return (
                <tr key={r.seq}>
                  <td>{r.seq}</td>
                  <td>{when(r.time)}</td>
                  <td>{r.type}</td>
                  <td>{r.actor}</td>
                  <td>{req ? <a href={`/console/requests/${req}`}>{req}</a> : ""}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </section>
  );
}
