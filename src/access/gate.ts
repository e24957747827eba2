import type { ScanRef } from "../domain/scan.js";

/**
 * The pre-issue gate of a role with scanOnIssue: gate. It passes when every host was scanned
 * successfully and shows no open port outside its expected list. Pure.
 */
export function decideGate(
  hosts: readonly string[],
  scans: Readonly<Record<string, ScanRef | undefined>>,
  expected: (host: string) => readonly number[],
): { status: "waiting" } | { status: "passed" } | { status: "blocked"; reason: string } {
  const problems: string[] = [];
  for (const host of hosts) {
    const scan = scans[host];
    if (!scan) return { status: "waiting" };
    if (scan.outcome !== "ok") {
      problems.push(`${host}: scan ${scan.outcome}${scan.error ? ` (${scan.error})` : ""}`);
      continue;
    }
    const unexpected = scan.open.filter((p) => !expected(host).includes(p.port));
    if (unexpected.length > 0) {
      problems.push(
        `${host}: unexpected open port${unexpected.length > 1 ? "s" : ""} ${unexpected.map((p) => `${p.port}/${p.protocol}${p.service ? ` (${p.service})` : ""}`).join(", ")}`,
      );
    }
  }
  return problems.length ? { status: "blocked", reason: problems.join("; ") } : { status: "passed" };
}
