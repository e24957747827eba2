import type { ScanRef } from "./scan.js";

/** The domain of access requests: plain data, stored in the live state and sent over the API. */

/** Second factors for step-up approvals: a FIDO key through ssh-keygen, TOTP, or WebAuthn in the console. */
export type FactorKind = "sk" | "totp" | "webauthn";

/** Who is calling, after authentication. */
export interface Identity {
  user: string;
  groups: readonly string[];
}

/**
 * pending   waiting for approvals
 * approved  approvals complete; the certificate is being issued (after the pre-issue scan for
 *           roles with scanOnIssue: gate, or once a failed issuance is retried)
 * blocked   the pre-issue scan found unexpected open ports or failed; an approver may override
 * issued    certificate signed and delivered to the requester
 * revoked   certificate revoked (or relinquished by its owner) before it expired; in the KRL
 * denied | cancelled | expired   ended before issuance
 */
export type RequestState =
  "pending" | "approved" | "blocked" | "issued" | "revoked" | "denied" | "cancelled" | "expired";

export interface Approval {
  approver: string;
  at: string;
  /** The request digest the approver saw and approved. */
  digest: string;
  comment?: string;
  /** True when the role's autoApprove switch stood in for a person. */
  auto?: boolean;
  /** The second factor the approval carried (roles with stepUp), checked against this digest. */
  factor?: { kind: FactorKind; factor: string; userVerified?: boolean };
}

/** What was signed, once issued. */
export interface IssuedCert {
  certificate: string;
  /** 64-bit serial as a decimal string (JSON numbers cannot hold it). */
  serial: string;
  keyId: string;
  validAfter: string;
  validBefore: string;
  caFingerprint: string;
}

/** Exactly what the certificate will contain; the digest is computed over this. */
export interface Grant {
  role: string;
  hosts: string[];
  principals: string[];
  extensions: string[];
  criticalOptions: Record<string, string>;
  ttlSeconds: number;
  approvalsRequired: number;
  autoApprove: boolean;
  pendingTtlSeconds: number;
  /** The requester's reason, trimmed. */
  reason: string;
  /** The role asks each approval for a second factor (see step-up.ts); not part of the digest. */
  stepUp?: { methods: FactorKind[]; userVerification: boolean };
}

/**
 * A revoked certificate as the KRL needs it, kept in its own live-state collection so that it
 * stays in the KRL for as long as the certificate could be accepted, independent of how long
 * its request stays (requests.keepFinished).
 */
export interface RevokedSerial {
  /** 64-bit serial as a decimal string. */
  serial: string;
  validBefore: string;
  caFingerprint: string;
}

export interface AccessRequest {
  id: string;
  /** Increases on every change; long-polling clients wait for it to move. */
  version: number;
  state: RequestState;
  requester: string;
  role: string;
  hosts: string[];
  reason: string;
  publicKey: string;
  keyFingerprint: string;
  ttlSeconds: number;
  principals: string[];
  extensions: string[];
  criticalOptions: Record<string, string>;
  approvalsRequired: number;
  autoApprove: boolean;
  /** Each approval needs a second factor bound to the digest (the role's rule when asked). */
  stepUp?: { methods: FactorKind[]; userVerification: boolean };
  digest: string;
  createdAt: string;
  updatedAt: string;
  /** A pending request expires at this time. */
  expiresAt: string;
  approvals: Approval[];
  denial?: { by: string; at: string; reason: string };
  cancellation?: { by: string; at: string; reason?: string };
  cert?: IssuedCert;
  /** Revoked by an approver or admin, or relinquished early by the requester. */
  revocation?: { by: string; at: string; reason: string; kind: "revoke" | "relinquish" };
  /**
   * Scans of each host: at issue, the latest while the certificate is live (roles or hosts with
   * `watch`; each one is in the audit log), and after access (expiry, revocation).
   */
  scans?: Record<string, { issue?: ScanRef; during?: ScanRef; after?: ScanRef }>;
  /** The pre-issue scan gate (roles with scanOnIssue: gate). */
  gate?: { status: "passed" | "blocked"; reason?: string; override?: { by: string; at: string; reason: string } };
}

/** What an approver's second factor proved, after its signature or code was checked. */
export interface FactorEvidence {
  kind: FactorKind;
  /** The enrolled factor's id. */
  factor: string;
  /** sk and webauthn: the authenticator verified the user (PIN, biometric), flag 0x04 (UV). */
  userVerified?: boolean;
}
