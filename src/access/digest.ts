import { createHash } from "node:crypto";
import { canonicalJson } from "../canonical-json.js";

/** The fields an approval is bound to: everything that ends up in the certificate. */
export interface DigestInput {
  id: string;
  requester: string;
  role: string;
  hosts: readonly string[];
  principals: readonly string[];
  extensions: readonly string[];
  criticalOptions: Readonly<Record<string, string>>;
  ttlSeconds: number;
  keyFingerprint: string;
  reason: string;
  /** A scheduled window's start (ISO time): it changes the certificate's validity. */
  start?: string | undefined;
}

/**
 * SHA-256 over the canonical JSON of what will be signed. An approval carries the digest
 * the approver reviewed; if anything changes, the digest changes and the approval no
 * longer counts (invariant 5).
 */
export function requestDigest(input: DigestInput): string {
  const body = canonicalJson({
    v: 1,
    id: input.id,
    requester: input.requester,
    role: input.role,
    hosts: input.hosts,
    principals: input.principals,
    extensions: input.extensions,
    criticalOptions: input.criticalOptions,
    ttlSeconds: input.ttlSeconds,
    keyFingerprint: input.keyFingerprint,
    reason: input.reason,
    // Absent (and so not hashed) for requests without a scheduled start: their digests are unchanged.
    start: input.start,
  });
  return `sha256:${createHash("sha256").update(body).digest("hex")}`;
}
