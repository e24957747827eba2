import type { NmapRun } from "./nmap-xml.js";
import type { ScanOutcome } from "../domain/scan.js";

/**
 * Classifies a finished nmap run. nmap exits 0 even when it scanned nothing (an unresolvable
 * target), so "ok" requires that exactly the one host was up, not timed out, and reported on
 * the ports: a scan that scanned nothing is a failure, never "no open ports".
 */
export function classifyRun(run: NmapRun): { outcome: ScanOutcome; error?: string } {
  if (run.exit === "error") return { outcome: "failed", error: `nmap failed: ${run.errorMessage ?? "unknown error"}` };
  if (run.hosts.total === 0)
    return { outcome: "failed", error: "nothing was scanned (the target did not resolve or was skipped)" };
  if (!run.host || run.hosts.up === 0) return { outcome: "failed", error: "the host did not respond (down)" };
  if (run.host.timedOut) return { outcome: "timeout", error: "the scan hit its host timeout before finishing" };
  const reported = run.host.ports.length + run.host.extraPorts.reduce((n, e) => n + e.count, 0);
  if (reported === 0) return { outcome: "failed", error: "nmap reported no port states" };
  return { outcome: "ok" };
}
