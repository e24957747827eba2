import { useState } from "preact/hooks";
import type { PortView, ScanView } from "../../../src/http/contract.ts";
import { get } from "../api.ts";
import { when } from "../format.ts";
import { useLoad } from "../hooks.ts";
import type { PageProps } from "../main.tsx";

const key = (p: PortView) => `${p.port}/${p.protocol}`;
const describe = (p: PortView | undefined) =>
  p ? `${p.state}${p.service ? ` ${p.service}` : ""}${p.version ? ` ${p.version}` : ""}` : "not open";

/** Two scans of one host side by side, each port's row marked when it differs. */
function SideBySide({ before, after }: { before: ScanView | undefined; after: ScanView }) {
  const open = (s: ScanView | undefined) =>
    new Map((s?.ports ?? []).filter((p) => p.state === "open").map((p) => [key(p), p]));
  const a = open(before);
  const b = open(after);
  const ports = [...new Set([...a.keys(), ...b.keys()])].sort((x, y) => Number.parseInt(x) - Number.parseInt(y));
  return (
    <table class="diff">
      <caption>
        {after.host}: {before ? `${when(before.startedAt)} (${before.trigger})` : "no earlier scan"} and{" "}
        {when(after.startedAt)} ({after.trigger})
      </caption>
      <thead>
        <tr>
          <th scope="col">Port</th>
          <th scope="col">Before</th>
          <th scope="col">After</th>
        </tr>
      </thead>
      <tbody>
        {ports.map((k) => {
          const x = a.get(k);
          const y = b.get(k);
          const change = !x ? "added" : !y ? "removed" : describe(x) !== describe(y) ? "changed" : "same";
          const unexpected = y && !after.expectedPorts.includes(y.port);
          return (
            <tr key={k} class={`${change}${unexpected ? " unexpected" : ""}`}>
              <th scope="row">{k}</th>
              <td>{before ? describe(x) : "–"}</td>
              <td>
                {describe(y)}
                {change !== "same" && before ? ` (${change})` : ""}
                {unexpected ? " · unexpected" : ""}
              </td>
            </tr>
          );
        })}
        {ports.length === 0 ? (
          <tr>
            <td colSpan={3}>No open ports in either scan.</td>
          </tr>
        ) : null}
      </tbody>
    </table>
  );
}

/** Scans, per host: the latest against the one before it. */
export function ScansPage({ tick }: PageProps) {
  const { data, error } = useLoad(() => get<{ scans: ScanView[] }>("/v1/scans?limit=200"), [tick]);
  const [host, setHost] = useState("");
  if (error) return <p role="alert">{error}</p>;
  if (!data) return <p class="loading">Loading…</p>;
  const hosts = [...new Set(data.scans.map((s) => s.host))].sort();
  const chosen = host || hosts[0] || "";
  const ofHost = data.scans.filter((s) => s.host === chosen);
  const latest = ofHost.at(-1);
  return (
    <section>
      <h1>Scans</h1>
      {hosts.length === 0 ? (
        <p class="empty">No scans you may see yet.</p>
      ) : (
        <>
          <label for="scan-host">Host</label>
          <select id="scan-host" value={chosen} onChange={(e) => setHost(e.currentTarget.value)}>
            {hosts.map((h) => (
              <option key={h} value={h}>
                {h}
              </option>
            ))}
          </select>
          {latest ? <SideBySide before={ofHost.at(-2)} after={latest} /> : null}
          <h2>All scans of {chosen}</h2>
          <ul class="rows">
            {[...ofHost].reverse().map((s) => (
              <li key={s.id} class="row">
                <span>
                  {when(s.startedAt)} · {s.trigger}
                  {s.request ? (
                    <>
                      {" "}
                      · <a href={`/console/requests/${s.request}`}>{s.request}</a>
                    </>
                  ) : null}
                </span>
                <span>
                  <span class={`outcome outcome-${s.outcome}`}>{s.outcome}</span>
                  {s.driftFound ? <span class="drift-mark"> · drift</span> : null}
                </span>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
