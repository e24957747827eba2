import { createHash } from "node:crypto";
import { canonicalJson } from "../canonical-json.js";

/** Event types written to the audit log. */
export type AuditType =
  | "ca.key_created"
  | "ca.keys_recorded"
  | "ca.key_replaced"
  | "ca.rotation_staged"
  | "ca.rotation_switched"
  | "ca.rotation_retired"
  | "ca.rotation_cancelled"
  | "host.certificate_issued"
  | "host.certificate_revoked"
  | "tls.ca_created"
  | "config.loaded"
  | "daemon.started"
  | "audit.recovered"
  | "audit.head_created"
  | "auth.failed"
  | "auth.signed_in"
  | "auth.signed_out"
  | "auth.key_registered"
  | "auth.key_removed"
  | "auth.factor_added"
  | "auth.factor_removed"
  | "auth.factor_failed"
  | "user.added"
  | "user.disabled"
  | "user.enabled"
  | "user.removed"
  | "token.created"
  | "token.revoked"
  | "host.credential_created"
  | "host.credential_revoked"
  | "request.created"
  | "request.approved"
  | "request.auto_approved"
  | "request.denied"
  | "request.cancelled"
  | "request.approval_withdrawn"
  | "request.expired"
  | "request.blocked"
  | "request.gate_passed"
  | "request.scan_overridden"
  | "certificate.issued"
  | "certificate.fetched"
  | "certificate.revoked"
  | "scan.started"
  | "scan.finished"
  | "scan.failed"
  | "scan.drift"
  | "session.opened"
  | "session.closed"
  | "finding.raised"
  | "host.reporting_resumed";

/** One line of the audit log. `hash` covers every other field; `prev` links the chain. */
export interface AuditRecord {
  seq: number;
  time: string;
  actor: string;
  type: AuditType;
  fields: Record<string, unknown>;
  prev: string;
  hash: string;
}

export const GENESIS_HASH = "0".repeat(64);

/** SHA-256 over the canonical JSON of the record without its own hash. */
export function hashRecord(r: Omit<AuditRecord, "hash">): string {
  return createHash("sha256")
    .update(
      canonicalJson({
        seq: r.seq,
        time: r.time,
        actor: r.actor,
        type: r.type,
        fields: r.fields,
        prev: r.prev,
      }),
    )
    .digest("hex");
}

/** Builds the next record of the chain. */
export function chainRecord(
  head: { seq: number; hash: string },
  event: { time: string; actor: string; type: AuditType; fields: Record<string, unknown> },
): AuditRecord {
  const body = { seq: head.seq + 1, ...event, prev: head.hash };
  return { ...body, hash: hashRecord(body) };
}
