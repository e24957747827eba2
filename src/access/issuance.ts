import type { AuditType } from "../audit/record.js";
import type { Change } from "../store/port.js";
import { keyIdFor } from "../ca/key-id.js";
import { randomSerial } from "../ca/serial.js";
import { signCertificate } from "../ca/sign.js";
import type { CaSigner } from "../ca/signer.js";
import { parseSubjectKey, type SubjectKey } from "../ca/subject-key.js";
import { certValidity } from "../ca/validity.js";
import type { Config } from "../config/schema.js";
import { decideStillGranted } from "./regrant.js";
import { markIssued } from "./transitions.js";
import type { AccessRequest, Identity, IssuedCert } from "../domain/request.js";

/** One change to commit: the request as it becomes, and the audit record that describes it. */
export interface Step {
  req: AccessRequest;
  type: AuditType;
  actor: string;
  fields: Record<string, unknown>;
  /**
   * The request as it was when this step was decided (null: a new one). The change is stored only
   * if the request is still that, so a change made meanwhile (by another replica) is not lost.
   */
  from?: AccessRequest | null;
  /** Other live-state changes that stand or fall with this step (a second factor used up). */
  changes?: Change[];
}

export interface IssuanceDeps {
  config: Config;
  /** The user CA's signing key (the key file, or an ssh-agent). */
  signer: CaSigner;
  now: Date;
  random: (n: number) => Buffer;
  /** A user as the current config sees them (undefined: gone). */
  identityOf: (user: string) => Identity | undefined;
  /** The subject key when the caller already parsed it. */
  subject?: SubjectKey;
}

/**
 * What issuing an approved request means now: the signed certificate and its audit record, or
 * a denial when the current policy would no longer grant exactly this (a role tightened, the
 * requester removed from its groups). Signs, but changes nothing; the caller commits the step.
 */
export async function prepareIssuance(req: AccessRequest, d: IssuanceDeps): Promise<Step> {
  const still = decideStillGranted(d.config, d.identityOf(req.requester), req, d.identityOf);
  if (!still.ok) {
    const at = d.now.toISOString();
    return {
      req: {
        ...req,
        state: "denied",
        version: req.version + 1,
        updatedAt: at,
        denial: { by: "policy", at, reason: still.reason },
      },
      type: "request.denied",
      actor: "policy",
      fields: { reason: still.reason, approvers: req.approvals.map((a) => a.approver) },
    };
  }
  const serial = randomSerial(d.random);
  const { validAfter, validBefore } = certValidity(d.now, req.ttlSeconds, d.config.ca.backdate);
  const keyId = keyIdFor(req);
  const certificate = await signCertificate(
    {
      subjectKey: (d.subject ?? parseSubjectKey(req.publicKey)).key,
      serial: serial.bytes,
      keyId,
      principals: req.principals,
      validAfter,
      validBefore,
      criticalOptions: req.criticalOptions,
      extensions: req.extensions,
    },
    d.signer,
  );
  const cert: IssuedCert = {
    certificate,
    serial: serial.decimal,
    keyId,
    validAfter: validAfter.toISOString(),
    validBefore: validBefore.toISOString(),
    caFingerprint: d.signer.fingerprint,
  };
  return {
    req: markIssued(req, cert, d.now),
    type: "certificate.issued",
    actor: "sshcad",
    fields: {
      serial: cert.serial,
      keyId,
      hosts: req.hosts,
      principals: req.principals,
      extensions: req.extensions,
      criticalOptions: req.criticalOptions,
      validAfter: cert.validAfter,
      validBefore: cert.validBefore,
      approvers: req.approvals.map((a) => a.approver),
      subjectKeyFingerprint: req.keyFingerprint,
      caKeyFingerprint: cert.caFingerprint,
    },
  };
}
