import type { WindowView } from "../../../src/http/contract.ts";
import { get } from "../api.ts";
import { when } from "../format.ts";
import { useLoad } from "../hooks.ts";

/** The requester's recent access windows: what they held, when, how it ended, and drift. */
export function RecentWindows({ id, requester, tick }: { id: string; requester: string; tick: number }) {
  const { data, error } = useLoad(() => get<{ windows: WindowView[] }>(`/v1/requests/${id}/windows`), [id, tick]);
  if (error) return <p class="muted">Recent windows not shown: {error}</p>;
  if (!data) return <p class="muted">Loading {requester}'s recent windows…</p>;
  if (data.windows.length === 0) return <p class="muted">No earlier access windows of {requester}.</p>;
  return (
    <table class="windows">
      <caption>{requester}'s recent windows</caption>
      <thead>
        <tr>
          <th scope="col">Role</th>
          <th scope="col">Hosts</th>
          <th scope="col">From</th>
          <th scope="col">Ended</th>
        </tr>
      </thead>
      <tbody>
        {data.windows.map((w) => (
          <tr key={w.request} class={w.drift ? "drift" : undefined}>
            <td>
              <a href={`/console/requests/${w.request}`}>{w.role}</a>
            </td>
            <td>{w.hosts.join(", ")}</td>
            <td>{when(w.validAfter)}</td>
            <td>
              {w.ended
                ? `${w.ended.kind === "relinquish" ? "relinquished" : `revoked by ${w.ended.by}`}`
                : `expires ${when(w.validBefore)}`}
              {w.drift ? " · drift found" : ""}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
