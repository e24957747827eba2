/**
 * The CA's keys as the live state keeps them: one key set per CA (the user CA signs user
 * certificates, the host CA host certificates), each with its keys and where its rotation stands.
 * Plain data; the decisions over it are in src/ca/keyset.ts.
 */

export type CaKind = "user" | "host";

/**
 * next      staged: published (TrustedUserCAKeys, @cert-authority) so hosts and users pick it up,
 *           not yet signing
 * current   signs every new certificate (exactly one)
 * previous  signed certificates that may still be live: still published, its revoked serials
 *           still in the KRL
 * retired   no longer published; the KRL revokes the key itself, so whatever it signed is refused
 *           even where it is still trusted
 */
export type CaKeyStatus = "next" | "current" | "previous" | "retired";

export interface CaKeyRecord {
  /** SHA256:... of the public key. */
  fingerprint: string;
  /** "ssh-ed25519 AAAA..." without comment. */
  publicKey: string;
  status: CaKeyStatus;
  /**
   * The private key's file name in the CA key directory (file custody); absent for a key only an
   * ssh-agent holds, or one whose private half sshcad never had (adopted from history).
   */
  file?: string;
  addedAt: string;
  /** When it became current. */
  signingSince?: string;
  /** When it stopped being current. */
  signingUntil?: string;
  retiredAt?: string;
  /** Retired with certificates still live (`--force`): their serials at that moment. */
  forcedOver?: string[];
}

export interface CaKeySet {
  kind: CaKind;
  /** Increases with every change (a replica whose set is older has not caught up). */
  version: number;
  updatedAt: string;
  keys: CaKeyRecord[];
}

/** A certificate that is still valid somewhere (for the retirement check): its serial and signer. */
export interface LiveCert {
  serial: string;
  caFingerprint: string;
}
