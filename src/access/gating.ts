import type { AccessRequest } from "../domain/request.js";
import type { ScanRef } from "../domain/scan.js";
import { safeErr } from "../errors.js";
import { decideGate } from "./gate.js";
import { issue } from "./issuing.js";
import type { RequestLedger } from "./ledger.js";
import { blockRequest, passGate, recordScan, type ScanSlot } from "./transitions.js";

/**
 * Records a finished scan in its request. For a role with scanOnIssue: gate, the issue-time
 * scans of all hosts decide: issue, or block until an approver overrides.
 */
export async function applyScan(
  ledger: RequestLedger,
  id: string,
  host: string,
  slot: ScanSlot,
  ref: ScanRef,
): Promise<void> {
  await ledger.locked(id, async () => {
    const req = ledger.get(id);
    if (!req) return;
    const next = recordScan(req, host, slot, ref, ledger.deps.now());
    // Bookkeeping only: the scan itself is in the audit log as scan.finished / scan.failed.
    await ledger.save(next, req);
    if (slot === "issue") await settleGate(ledger, next);
  });
}

/**
 * For an approved request of a gated role whose issue-time scans are all recorded and not yet
 * judged: block it, or pass it and issue. Safe to repeat (the sweep does, after a failure). The
 * caller holds the request's lock.
 */
export async function settleGate(ledger: RequestLedger, req: AccessRequest): Promise<void> {
  const config = ledger.deps.config();
  if (
    req.state !== "approved" ||
    config.roles[req.role]?.scanOnIssue !== "gate" ||
    req.gate !== undefined ||
    req.breakGlass !== undefined
  )
    return;
  const issueScans = Object.fromEntries(req.hosts.map((h) => [h, req.scans?.[h]?.issue]));
  const gate = decideGate(req.hosts, issueScans, (h) => config.hosts[h]?.expectedPorts ?? []);
  if (gate.status === "waiting") return;
  const now = ledger.deps.now();
  if (gate.status === "blocked") {
    await ledger.commit({
      req: blockRequest(req, gate.reason, now),
      from: req,
      type: "request.blocked",
      actor: "sshcad",
      fields: { reason: gate.reason },
    });
    return;
  }
  const passed = passGate(req, now);
  await ledger.commit({ req: passed, from: req, type: "request.gate_passed", actor: "sshcad", fields: {} });
  await issue(ledger, passed).catch((err) => {
    ledger.deps.log.warn({ err: safeErr(err), request: req.id }, "issuance after the scan gate failed; will retry");
  });
}
