/**
 * The HTTP API contract: the JSON shapes sshcad sends and sshca reads. The CLI imports only
 * this file from src/. Field names are stable; add fields, never rename them.
 */

/** How a certificate ended early: revoked, given back by its owner, or its one session closed (single use). */
export type RevocationKindName = "revoke" | "relinquish" | "single-use";

export type RequestStateName =
  "pending" | "approved" | "blocked" | "issued" | "revoked" | "denied" | "cancelled" | "expired";

export interface ApprovalView {
  /** A user, or "bot:NAME" for an approver bot's yes. */
  approver: string;
  at: string;
  comment?: string;
  auto?: boolean;
  /** The second factor the approval carried (roles with stepUp). */
  factor?: { kind: "sk" | "totp" | "webauthn"; factor: string; userVerified?: boolean };
  /** The stage this approval counts for. */
  stage?: string;
  /** The approver bot whose yes this is. */
  bot?: string;
}

/** One approval stage and how it stands: who counted, what is missing, and who can close it. */
export interface StageView {
  name: string;
  /** Approvals this stage needs. */
  count: number;
  /** Groups whose members may approve for it. */
  groups: string[];
  /** Approver bots asked for it. */
  bots: string[];
  /** Why sshcad added the stage (a host's scan), when it did. */
  because?: string;
  approvedBy: string[];
  /** Approvals still missing (0: met). */
  missing: number;
  met: boolean;
  /** People who could close it now (members of its groups, not the requester, not yet approving). */
  canClose: string[];
}

export interface RequestView {
  id: string;
  state: RequestStateName;
  version: number;
  requester: string;
  role: string;
  hosts: string[];
  reason: string;
  principals: string[];
  extensions: string[];
  criticalOptions: Record<string, string>;
  ttlSeconds: number;
  keyFingerprint: string;
  digest: string;
  approvalsRequired: number;
  /** Each approval must carry a second factor bound to the digest: which kinds the role accepts. */
  stepUp?: { methods: ("sk" | "totp" | "webauthn")[]; userVerification: boolean };
  approvals: ApprovalView[];
  /** The approval stages, each with what is missing and who can close it. */
  stages?: StageView[];
  createdAt: string;
  updatedAt: string;
  /**
   * The pending lifetime: until when the request waits for approvals. Not the access: that is
   * ttlSeconds, from issuance (or from `start`).
   */
  expiresAt: string;
  /** Access duration in seconds (the certificate's lifetime), the same as ttlSeconds. */
  accessSeconds?: number;
  /** A scheduled window: the certificate is valid from this time. */
  start?: string;
  /** Break-glass: issued at once; `review` stays open until an approver reviews it. */
  breakGlass?: {
    review: { status: "open" } | { status: "done"; by: string; at: string; comment: string };
  };
  /** People the requester suggested as approvers. */
  reviewers?: string[];
  /** Access lasts one session: the certificate is revoked when its first session closes. */
  singleUse?: boolean;
  /** Approver bots' answers. */
  bots?: Record<string, { at: string; answer: "approve" | "decline" | "error"; comment?: string; error?: string }>;
  /** Set on the answer to a login that reused this live certificate instead of making a request. */
  reused?: boolean;
  denial?: { by: string; at: string; reason: string };
  cancellation?: { by: string; at: string; reason?: string };
  revocation?: { by: string; at: string; reason: string; kind: RevocationKindName };
  /** Present once issued. The certificate itself only for the requester. */
  certificate?: string;
  serial?: string;
  keyId?: string;
  validAfter?: string;
  validBefore?: string;
  /** Pre-issue scan gate: why a request is blocked, and who overrode it. */
  gate?: { status: "passed" | "blocked"; reason?: string; override?: { by: string; at: string; reason: string } };
  /** Scans per host: at issue, the latest during the window (watch), after access (see /v1/scans/:id for the ports). */
  scans?: Record<string, { issue?: ScanSummary; during?: ScanSummary; after?: ScanSummary }>;
}

export interface ScanSummary {
  id: string;
  trigger: string;
  outcome: string;
  at: string;
  open: { port: number; protocol: string; service?: string }[];
  error?: string;
}

export interface CreateRequestBody {
  role: string;
  hosts: string[];
  ttl?: string | number;
  reason: string;
  publicKey: string;
  /** Emergency access without approval (roles with breakGlass), reviewed afterwards. */
  breakGlass?: boolean;
  /** A scheduled window: the certificate is valid from this time (ISO 8601 with a zone). */
  start?: string;
  /** Approvers to tell first. */
  reviewers?: string[];
  /** false: a new request even when a live certificate of the same role, hosts and key exists. */
  reuse?: boolean;
}

/** POST /v1/requests/:id/review: an approver's review of a break-glass request. */
export interface ReviewBody {
  comment: string;
}

/** GET /v1/hosts: a host's exposure as scan-aware roles see it. */
export interface HostStatusView {
  host: string;
  latest?: {
    scan: string;
    at: string;
    trigger: string;
    outcome: string;
    unexpectedOpen: { port: number; protocol: string; service?: string }[];
    error?: string;
  };
  drift?: { since: string; scan: string; summary: string };
  resolved?: { by: string; at: string; comment: string; scan: string; summary: string };
}

/**
 * A second factor bound to the request: a security-key signature of the approval message, a TOTP
 * code, or a WebAuthn assertion (the console) over the challenge from POST /v1/requests/:id/webauthn.
 */
export type FactorBody =
  | { kind: "sk"; signature: string }
  | { kind: "totp"; code: string }
  | { kind: "webauthn"; response: Record<string, unknown> };

export interface ApproveBody {
  digest: string;
  comment?: string;
  factor?: FactorBody;
}

export interface DenyBody {
  reason: string;
}

export interface CaView {
  /** The TrustedUserCAKeys line, "ssh-ed25519 AAAA...". */
  publicKey: string;
  fingerprint: string;
  signatureAlgorithm: string;
}

export interface WhoamiView {
  user: string;
  groups: string[];
  requestableRoles: string[];
  approvableRoles: string[];
  admin: boolean;
  auditor: boolean;
}

export interface PrincipalsView {
  host: string;
  /** Login user -> lines of /etc/ssh/auth_principals/<login> on that host. */
  principals: Record<string, string[]>;
}

/** GET /v1/host/whoami: which host a host credential speaks for. */
export interface HostWhoamiView {
  host: string;
  credentialId: string;
}

/** One login or logout made with an SSH certificate, as a target host's companion saw it in sshd's log. */
export interface HostSessionEventBody {
  /** Its number in the companion's stream (increasing; an event sent again is recorded once). */
  seq: number;
  kind: "opened" | "closed";
  /** When sshd logged it (the host's clock). */
  at: string;
  /** The account logged in to on the host. */
  login: string;
  from: string;
  port: number;
  /** The certificate's serial (decimal) and key id, and the fingerprint of the CA key that signed it. */
  serial: string;
  keyId: string;
  caFingerprint: string;
}

/** POST /v1/host/report: new events of the companion's stream (none: a heartbeat). */
export interface HostReportBody {
  stream: string;
  events: HostSessionEventBody[];
}

/** The answer: events up to `through` are recorded (the companion drops them). */
export interface HostReportView {
  host: string;
  through: number;
}

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

export interface AuditRecordView {
  seq: number;
  time: string;
  actor: string;
  type: string;
  fields: Record<string, unknown>;
  prev: string;
  hash: string;
}

/** GET /v1/audit: newest page first; each page oldest first; `cursor` (opaque) asks for the page before. */
export interface AuditPageView {
  records: AuditRecordView[];
  cursor?: string;
}

export interface AuditVerifyView {
  ok: boolean;
  records: number;
  segments: number;
  head: { seq: number; hash: string };
  problem?: { kind: string; seq?: number; segment: string; line: number; message: string };
}

export interface PortView {
  port: number;
  protocol: string;
  state: string;
  service?: string;
  product?: string;
  version?: string;
}

export interface ScanView {
  id: string;
  request?: string;
  host: string;
  address: string;
  trigger: "issue" | "watch" | "expiry" | "revoke" | "manual";
  startedAt: string;
  durationMs: number;
  nmapVersion: string;
  args: string[];
  outcome: "ok" | "failed" | "timeout";
  error?: string;
  ports: PortView[];
  extraPorts: { state: string; count: number }[];
  expectedPorts: number[];
  /** True when the drift below is worth an alert (changed during access, or open but not expected). */
  driftFound?: boolean;
  drift?: {
    newlyOpen: PortView[];
    newlyClosed: PortView[];
    serviceChanged: { before: PortView; after: PortView }[];
    unexpectedOpen: PortView[];
    expectedClosed: number[];
    baseline?: string;
  };
}

export interface OverrideBody {
  digest: string;
  reason: string;
  factor?: FactorBody;
}

/** A second factor as its owner sees it. */
export interface FactorView {
  id: string;
  kind: "sk" | "totp" | "webauthn";
  /** webauthn: the name given at registration. */
  name?: string;
  addedAt: string;
  confirmed: boolean;
  fingerprint?: string;
}

/** One access window of a requester (GET /v1/requests/:id/windows): an issued certificate and how it ended. */
export interface WindowView {
  request: string;
  role: string;
  hosts: string[];
  principals: string[];
  serial: string;
  issuedAt: string;
  validAfter: string;
  validBefore: string;
  approvers: string[];
  ended?: { kind: RevocationKindName; by: string; at: string; reason: string };
  /** A scan after the window found the host's exposure changed. */
  drift: boolean;
}

/** GET /v1/console/session: who is signed in to the console, and the CSRF token for changes. */
export interface ConsoleSessionView {
  user: string;
  expiresAt: string;
  csrf: string;
  /** Signed in within the last 10 minutes (may add a second factor). */
  fresh: boolean;
}

export interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

/** Longest long-poll the server honours, in seconds. */
export const MAX_WAIT_SECONDS = 60;

/** Durations in the API ("ttl": "30m") use the same syntax as the config. */
export { formatDuration, parseDuration } from "../config/duration.js";

/** TLS CA fingerprints ("SHA256:<base64>") are what `sshca bootstrap --fingerprint` takes. */
export { certFingerprint, normaliseFingerprint } from "../tls/fingerprint.js";

/** GET /v1/krl answers a binary KRL (PROTOCOL.krl); clients check its magic before installing it. */
export { isKrl } from "../ca/krl.js";

/** GET /v1/auth/methods: how people sign in on this server. */
export interface AuthMethodsView {
  oidc: { issuer: string; required: boolean } | null;
  ssh: boolean;
  token: boolean;
}

/** The session a single sign-on yields (the token is shown once). */
export interface OidcSessionView {
  user: string;
  groups: string[];
  token: string;
  expiresAt: string;
}

/** POST /v1/auth/oidc/device: RFC 8628 section 3.2, as the CLI shows it. */
export interface DeviceStartView {
  flow: string;
  userCode: string;
  verificationUri: string;
  verificationUriComplete?: string;
  interval: number;
  expiresAt: string;
}

/** POST /v1/auth/oidc/device/poll. */
export type DevicePollView =
  { status: "pending" | "slow_down"; interval: number } | ({ status: "done" } & OidcSessionView);
