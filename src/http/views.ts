import type { AccessRequest, Identity } from "../domain/request.js";
import type { RequestView } from "./contract.js";

/** The API view of a request. The certificate itself goes to the requester only. */
export function requestView(
  req: AccessRequest,
  viewer: Identity,
  opts: { certificate: boolean } = { certificate: true },
): RequestView {
  const view: RequestView = {
    id: req.id,
    state: req.state,
    version: req.version,
    requester: req.requester,
    role: req.role,
    hosts: req.hosts,
    reason: req.reason,
    principals: req.principals,
    extensions: req.extensions,
    criticalOptions: req.criticalOptions,
    ttlSeconds: req.ttlSeconds,
    keyFingerprint: req.keyFingerprint,
    digest: req.digest,
    approvalsRequired: req.approvalsRequired,
    approvals: req.approvals.map(({ approver, at, comment, auto, factor }) => ({
      approver,
      at,
      ...(comment ? { comment } : {}),
      ...(auto ? { auto } : {}),
      ...(factor ? { factor } : {}),
    })),
    ...(req.stepUp ? { stepUp: req.stepUp } : {}),
    createdAt: req.createdAt,
    updatedAt: req.updatedAt,
    expiresAt: req.expiresAt,
  };
  if (req.denial) view.denial = req.denial;
  if (req.gate) view.gate = req.gate;
  if (req.scans) view.scans = req.scans;
  if (req.cancellation) view.cancellation = req.cancellation;
  if (req.revocation) view.revocation = req.revocation;
  if (req.cert) {
    if (opts.certificate && viewer.user === req.requester) view.certificate = req.cert.certificate;
    view.serial = req.cert.serial;
    view.keyId = req.cert.keyId;
    view.validAfter = req.cert.validAfter;
    view.validBefore = req.cert.validBefore;
  }
  return view;
}
