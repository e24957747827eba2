/**
 * What a report says (GET /v1/reports/requests/:id and GET /v1/reports; sshca report): the
 * views src/evidence builds from the audit trail, answered by the API as they are.
 */

/** A login seen on a host (session.opened), and its logout when that was seen too. */
export interface ReportSession {
  host: string;
  login: string;
  from: string;
  port: number;
  serial: string;
  openedAt?: string;
  closedAt?: string;
}

/** A scan of the window: at issue, during (watch), after (expiry, revoke). `open` as "22/tcp (ssh)". */
export interface ReportScan {
  scan: string;
  host: string;
  trigger: string;
  outcome: string;
  at: string;
  open: string[];
  error?: string;
  /** What changed, when the scan found drift. */
  drift?: string;
}

/** Something that should not have happened: a finding.raised record, or drift found by a scan. */
export interface ReportFinding {
  /** revoked_certificate, expired_certificate, host_outside_request, foreign_certificate, host_silent, drift. */
  finding: string;
  at: string;
  host: string;
  detail: string;
}

/** GET /v1/reports/requests/:id: one access window on one timeline (sshca report ID). */
export interface ReportView {
  request: {
    id: string;
    requester: string;
    role: string;
    hosts: string[];
    principals: string[];
    reason: string;
    ttlSeconds: number;
    createdAt: string;
  };
  /** Where the request ended up (expired: a pending request that ran out, or a certificate past validBefore). */
  state: "pending" | "approved" | "issued" | "revoked" | "denied" | "cancelled" | "expired";
  approvals: {
    approver: string;
    at: string;
    comment?: string;
    factor?: string;
    userVerified?: boolean;
    auto?: boolean;
  }[];
  certificate?: {
    serial: string;
    keyId: string;
    principals: string[];
    validAfter: string;
    validBefore: string;
    issuedAt: string;
  };
  sessions: ReportSession[];
  scans: ReportScan[];
  ended?: {
    kind: "revoked" | "relinquished" | "expired" | "denied" | "cancelled";
    at: string;
    by?: string;
    reason?: string;
  };
  findings: ReportFinding[];
  timeline: { seq: number; time: string; type: string; actor: string; summary: string }[];
}

/** GET /v1/reports?since=7d: per user and host, for auditors (sshca report --since 7d). */
export interface ReportSummaryView {
  since: string;
  until: string;
  rows: { user: string; host: string; windows: number; logins: number; findings: number }[];
  findings: (ReportFinding & { request?: string; user?: string })[];
  /** More records matched than one summary reads: narrow the period. */
  truncated?: boolean;
}
