import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { AccessRequest } from "../domain/request.js";

/**
 * The Prometheus metrics of one daemon, on its own registry (no global state, so tests can run
 * several daemons in one process). Gauges about live requests are computed at scrape time.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly approvals = new Counter({
    name: "sshca_approvals_total",
    help: "Approvals recorded (auto-approvals included).",
    registers: [this.registry],
  });
  readonly issuance = new Histogram({
    name: "sshca_issuance_seconds",
    help: "Time from the last approval to a durable, stored certificate.",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly scans = new Counter({
    name: "sshca_scans_total",
    help: "Scans finished, by outcome.",
    labelNames: ["outcome", "trigger"],
    registers: [this.registry],
  });
  readonly drift = new Counter({
    name: "sshca_drift_findings_total",
    help: "After-access scans that found drift.",
    registers: [this.registry],
  });
  readonly auditSync = new Histogram({
    name: "sshca_audit_fsync_seconds",
    help: "Time for each group-committed audit batch to become durable (segment and head file fdatasync).",
    buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
    registers: [this.registry],
  });
  readonly auditRecords = new Counter({
    name: "sshca_audit_records_total",
    help: "Audit records written.",
    registers: [this.registry],
  });
  readonly connectionsRefused = new Counter({
    name: "sshca_connections_refused_total",
    help: "Connections closed at once: over limits.connectionsPerAddress, or over limits.connections.",
    labelNames: ["reason"],
    registers: [this.registry],
  });
  readonly findings = new Counter({
    name: "sshca_findings_total",
    help: "Findings raised from what target hosts reported (revoked, expired, foreign certificates, logins outside the request, silent hosts).",
    labelNames: ["finding"],
    registers: [this.registry],
  });
  readonly syslogFailures = new Counter({
    name: "sshca_syslog_failures_total",
    help: "Failed attempts to send audit events to a syslog destination.",
    labelNames: ["destination"],
    registers: [this.registry],
  });
  readonly syslogSent = new Counter({
    name: "sshca_syslog_sent_total",
    help: "Audit events written to a syslog destination (an event resent after an outage counts again).",
    labelNames: ["destination"],
    registers: [this.registry],
  });
  readonly webhookFailures = new Counter({
    name: "sshca_webhook_failures_total",
    help: "Failed webhook delivery attempts.",
    labelNames: ["webhook"],
    registers: [this.registry],
  });

  /** Exposes how far the audit index is behind the log (large while it is built from the log). */
  watchAuditIndex(lag: () => number): void {
    new Gauge({
      name: "sshca_audit_index_lag_records",
      help: "Durable audit records not yet in the audit index.",
      registers: [this.registry],
      collect() {
        this.set(lag());
      },
    });
  }

  /** Exposes how many audit records each syslog destination's durable cursor is behind the head. */
  watchSyslogLag(lag: () => { destination: string; records: number }[]): void {
    new Gauge({
      name: "sshca_syslog_lag_records",
      help: "Audit records after a syslog destination's durable cursor (not yet confirmed sent).",
      labelNames: ["destination"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const l of lag()) this.set({ destination: l.destination }, l.records);
      },
    });
  }

  /** Scans waiting for an nmap slot, by kind; the scanner sets this once it exists. */
  scansWaiting: () => { manual: number; automatic: number } = () => ({ manual: 0, automatic: 0 });

  constructor(live: () => readonly AccessRequest[], now: () => Date) {
    collectDefaultMetrics({ register: this.registry, prefix: "sshcad_" });
    const waiting = () => this.scansWaiting();
    new Gauge({
      name: "sshca_scans_waiting",
      help: "Scans waiting for an nmap slot: manual, or automatic (gate, issue, expiry, revoke; these go first).",
      labelNames: ["kind"],
      registers: [this.registry],
      collect() {
        const w = waiting();
        this.set({ kind: "manual" }, w.manual);
        this.set({ kind: "automatic" }, w.automatic);
      },
    });
    const STATES = ["pending", "approved", "blocked", "issued", "revoked", "denied", "cancelled", "expired"] as const;
    new Gauge({
      name: "sshca_requests",
      help: "Live requests by state.",
      labelNames: ["state"],
      registers: [this.registry],
      collect() {
        const counts: Record<string, number> = {};
        for (const r of live()) counts[r.state] = (counts[r.state] ?? 0) + 1;
        for (const s of STATES) this.set({ state: s }, counts[s] ?? 0);
      },
    });
    new Gauge({
      name: "sshca_active_certificates",
      help: "Issued certificates not yet expired.",
      registers: [this.registry],
      collect() {
        const t = now().getTime();
        this.set(live().filter((r) => r.state === "issued" && r.cert && Date.parse(r.cert.validBefore) > t).length);
      },
    });
  }
}
