/** A host certificate sshcad signed, kept in the live state until it can no longer be used. */
export interface HostCertRecord {
  /** 64-bit serial as a decimal string. */
  serial: string;
  /** Inventory host name. */
  host: string;
  principals: string[];
  /** SHA256:... of the certified host key. */
  keyFingerprint: string;
  keyId: string;
  validAfter: string;
  validBefore: string;
  caFingerprint: string;
  issuedAt: string;
  /** Revoked: listed in the host KRL (RevokedHostKeys) until validBefore plus the skew margin. */
  revocation?: { by: string; at: string; reason: string };
}
