import type { ScanView } from "../../../src/http/contract.ts";
import { get } from "../api.ts";
import { when } from "../format.ts";
import { useLoad } from "../hooks.ts";

/** A host's latest scan, unexpected open ports highlighted. */
export function HostScan({ host, tick }: { host: string; tick: number }) {
  const { data, error } = useLoad(
    () => get<{ scans: ScanView[] }>(`/v1/scans?host=${encodeURIComponent(host)}&limit=1`),
    [host, tick],
  );
  const scan = data?.scans.at(-1);
  if (error)
    return (
      <p class="muted">
        {host}: scans not shown ({error})
      </p>
    );
  if (!data) return <p class="muted">{host}: loading the latest scan…</p>;
  if (!scan) return <p class="muted">{host}: never scanned</p>;
  const open = scan.ports.filter((p) => p.state === "open");
  const unexpected = open.filter((p) => !scan.expectedPorts.includes(p.port));
  return (
    <div class="scan">
      <p>
        <strong>{host}</strong> scanned {when(scan.startedAt)} ({scan.trigger}):{" "}
        <span class={`outcome outcome-${scan.outcome}`}>{scan.outcome}</span>
        {unexpected.length ? (
          <span class="warn">
            {" "}
            · {unexpected.length} unexpected open port{unexpected.length > 1 ? "s" : ""}
          </span>
        ) : null}
      </p>
      {scan.outcome !== "ok" ? (
        <p class="warn">The scan failed{scan.error ? `: ${scan.error}` : ""}; that is not "no open ports".</p>
      ) : null}
      <ul class="ports" aria-label={`Open ports on ${host}`}>
        {open.map((p) => {
          const bad = !scan.expectedPorts.includes(p.port);
          return (
            <li key={p.port} class={bad ? "port unexpected" : "port"}>
              {p.port}/{p.protocol}
              {p.service ? ` ${p.service}` : ""}
              {bad ? " (unexpected)" : ""}
            </li>
          );
        })}
        {open.length === 0 && scan.outcome === "ok" ? <li class="port">no open ports</li> : null}
      </ul>
      <p class="muted">expected: {scan.expectedPorts.join(", ") || "none"}</p>
    </div>
  );
}
