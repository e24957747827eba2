/**
 * The hostile provider's control file (JSON), re-read on every request so a test can pick the
 * defect of the next sign-in while the provider runs. See ./hostile.ts.
 */

/** How the ID token of the next token response is broken; "good" breaks nothing. */
export const HOSTILE_MODES = [
  "good",
  /** iss is another issuer */
  "wrong-iss",
  /** aud is another client */
  "wrong-aud",
  /** exp (and iat) an hour in the past */
  "expired",
  /** iat an hour in the future */
  "iat-future",
  /** nbf an hour in the future */
  "nbf-future",
  /** signed by another key that carries the published kid */
  "bad-signature",
  /** signed by another key with a kid the JWKS does not have */
  "unknown-kid",
  /** nonce is not the one of the authorization request */
  "nonce-mismatch",
  /** no nonce although the authorization request had one */
  "nonce-missing",
  /** no groups claim (the token and userinfo lack it) */
  "no-groups",
  /** alg "none", no signature (RFC 7519 section 6) */
  "alg-none",
] as const;
export type HostileMode = (typeof HOSTILE_MODES)[number];

/** What the token endpoint answers to device-code polls (RFC 8628 section 3.5). */
export interface HostileDevice {
  /** authorization_pending this many times first */
  pending: number;
  /** then slow_down once */
  slowDown: boolean;
  /** then this, for good: tokens (with the ID token of `mode`), or an error */
  outcome: "tokens" | "access_denied" | "expired_token";
  /** seconds, returned by the device authorization endpoint */
  interval: number;
}

export interface HostileControl {
  clientId: string;
  clientSecret: string;
  mode: HostileMode;
  /** Claims of the signed-in person; `sub` is required. */
  claims: { sub: string; preferred_username?: string; email?: string; groups?: string[] };
  device: HostileDevice;
  /** Seconds. */
  idTokenTtl: number;
}
