import type { RoleConfig } from "../config/schema.js";
import { allow, type Decision, refuse } from "../domain/decision.js";
import type { StageRule } from "../domain/request.js";
import type { HostStatus } from "../domain/scan.js";

/**
 * Scan-aware approval (roles with scanAware): an auto-approved role issues without a person only
 * while each host's latest scan matches its expected ports and no drift is unresolved; otherwise
 * it needs one approval. On any role, a host with unresolved drift needs one more approval (or,
 * with onDrift: refuse, cannot be requested) until an approver marks the drift resolved. Pure.
 */

/** What is wrong with one host, as the people deciding read it. */
export interface HostProblem {
  host: string;
  kind: "never-scanned" | "scan-failed" | "unexpected-open" | "drift";
  detail: string;
}

const ports = (list: readonly { port: number; protocol: string }[]) =>
  list.map((p) => `${p.port}/${p.protocol}`).join(", ");

/** Why each host is not clean now (empty: every host's latest scan matched and no drift is open). */
export function hostProblems(
  hosts: readonly string[],
  statusOf: (host: string) => HostStatus | undefined,
): HostProblem[] {
  const out: HostProblem[] = [];
  for (const host of hosts) {
    const s = statusOf(host);
    if (s?.drift) {
      out.push({
        host,
        kind: "drift",
        detail: `${host} has unresolved drift since ${s.drift.since} (scan ${s.drift.scan}: ${s.drift.summary})`,
      });
      continue;
    }
    const latest = s?.latest;
    if (!latest) out.push({ host, kind: "never-scanned", detail: `${host} has not been scanned yet` });
    else if (latest.outcome !== "ok")
      out.push({
        host,
        kind: "scan-failed",
        detail: `${host}'s latest scan ${latest.scan} ${latest.outcome}${latest.error ? ` (${latest.error})` : ""}`,
      });
    else if (latest.unexpectedOpen.length > 0)
      out.push({
        host,
        kind: "unexpected-open",
        detail: `${host}'s latest scan ${latest.scan} found ${ports(latest.unexpectedOpen)} open, outside its expected ports`,
      });
  }
  return out;
}

/** What the hosts' scans mean for a new request of this role. */
export interface ScanAwareOutcome {
  /** May the role's autoApprove stand in for people? */
  autoApprove: boolean;
  /** One more stage of one approval, saying why (absent: none needed). */
  stage?: StageRule;
}

/**
 * Decides, for a new request, whether scans allow auto-approval, add an approval stage, or refuse
 * the request. `resolvers` names who may resolve a host's drift (approvers of roles covering it).
 */
export function decideScanAware(
  roleName: string,
  role: RoleConfig,
  hosts: readonly string[],
  statusOf: (host: string) => HostStatus | undefined,
  resolvers: (host: string) => readonly string[] = () => [],
): Decision<ScanAwareOutcome> {
  if (!role.scanAware) return allow({ autoApprove: role.autoApprove });
  const problems = hostProblems(hosts, statusOf);
  const drift = problems.filter((p) => p.kind === "drift");
  if (drift.length > 0 && role.scanAware.onDrift === "refuse") {
    const how = drift
      .map((p) => {
        const who = resolvers(p.host);
        return `sshca drift resolve ${p.host} --comment "..."${who.length ? ` (${who.join(", ")})` : ""}`;
      })
      .join("; ");
    return refuse(
      "conflict",
      `role ${roleName} cannot be requested while a host has unresolved drift: ${drift.map((p) => p.detail).join("; ")}; an approver of a role covering the host marks it resolved once they looked: ${how}`,
    );
  }
  const stage = (because: string): StageRule => ({ name: "scan", groups: [...role.approvers], count: 1, because });
  if (role.autoApprove) {
    if (problems.length === 0) return allow({ autoApprove: true });
    return allow({ autoApprove: false, stage: stage(problems.map((p) => p.detail).join("; ")) });
  }
  if (drift.length === 0) return allow({ autoApprove: false });
  return allow({ autoApprove: false, stage: stage(drift.map((p) => p.detail).join("; ")) });
}
