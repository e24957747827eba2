import type { AuditRecord } from "../audit/record.js";

/**
 * What a login seen on a target host means for the audit trail: which certificate it used, from
 * which request, and what is wrong with it. Pure: the certificate's audit records and the CA's
 * fingerprint are passed in.
 */

/** The kinds of finding the evidence of logins can raise. */
export type FindingKind =
  | "revoked_certificate"
  | "expired_certificate"
  | "host_outside_request"
  | "foreign_certificate"
  | "host_silent"
  | "unexpected_port";

export interface Finding {
  finding: FindingKind;
  /** One sentence an auditor can act on. */
  detail: string;
}

/** A login (or logout) as the host's companion reported it. */
export interface SessionEvent {
  kind: "opened" | "closed";
  at: string;
  login: string;
  from: string;
  port: number;
  serial: string;
  keyId: string;
  caFingerprint: string;
}

/** The request a certificate was issued for, as its issuance record tells it. */
export interface CertificateOrigin {
  request: string;
  requester: string;
  role: string;
  hosts: string[];
  keyId: string;
  validAfter: string;
  validBefore: string;
  caFingerprint: string;
}

/** The issuance record of a serial, read as a CertificateOrigin; undefined when it is not one. */
export function originOf(issued: AuditRecord | undefined): CertificateOrigin | undefined {
  if (issued?.type !== "certificate.issued") return undefined;
  const f = issued.fields as Record<string, unknown>;
  const s = (k: string) => (typeof f[k] === "string" ? (f[k] as string) : "");
  return {
    request: s("request"),
    requester: s("requester"),
    role: s("role"),
    hosts: Array.isArray(f.hosts) ? (f.hosts as unknown[]).filter((h): h is string => typeof h === "string") : [],
    keyId: s("keyId"),
    validAfter: s("validAfter"),
    validBefore: s("validBefore"),
    caFingerprint: s("caKeyFingerprint"),
  };
}

/**
 * The findings of one login on `host`: a certificate this CA did not issue (unknown serial, or a
 * serial whose key id or CA differs from what was issued under it), one revoked before the login,
 * one used outside its validity, or one used on a host its request did not name. A logout raises
 * nothing: its login already did.
 */
export function judgeLogin(
  event: SessionEvent,
  host: string,
  origin: CertificateOrigin | undefined,
  revoked: { at: string; by: string } | undefined,
  caFingerprints: readonly string[],
): Finding[] {
  if (event.kind !== "opened") return [];
  const cert = `certificate serial ${event.serial} (key id ${JSON.stringify(event.keyId)})`;
  const who = `${event.login}@${host} from ${event.from}`;
  if (!origin) {
    const ca = caFingerprints.includes(event.caFingerprint) ? "this CA's key" : `CA ${event.caFingerprint}`;
    return [
      {
        finding: "foreign_certificate",
        detail: `login ${who} with ${cert} signed by ${ca}, which this CA never issued`,
      },
    ];
  }
  if (origin.keyId !== event.keyId || (origin.caFingerprint !== "" && origin.caFingerprint !== event.caFingerprint)) {
    return [
      {
        finding: "foreign_certificate",
        detail: `login ${who} with ${cert} signed by ${event.caFingerprint}: serial ${event.serial} was issued for ${origin.request} with key id ${JSON.stringify(origin.keyId)} by ${origin.caFingerprint}`,
      },
    ];
  }
  const out: Finding[] = [];
  const at = Date.parse(event.at);
  if (revoked && Date.parse(revoked.at) <= at) {
    out.push({
      finding: "revoked_certificate",
      detail: `login ${who} with ${cert} of ${origin.request}, revoked by ${revoked.by} at ${revoked.at} (the host's KRL was behind)`,
    });
  }
  if (at >= Date.parse(origin.validBefore) || at < Date.parse(origin.validAfter)) {
    out.push({
      finding: "expired_certificate",
      detail: `login ${who} at ${event.at} with ${cert} of ${origin.request}, valid only ${origin.validAfter} .. ${origin.validBefore} (the host's clock or sshd is wrong)`,
    });
  }
  if (!origin.hosts.includes(host)) {
    out.push({
      finding: "host_outside_request",
      detail: `login ${who} with ${cert} of ${origin.request}, which was approved for ${origin.hosts.join(", ")} only (the host's principals files let it in)`,
    });
  }
  return out;
}
