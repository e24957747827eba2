/**
 * The validity window of a certificate, in whole seconds (the wire format is seconds).
 * valid_after is backdated for clock skew; the length is the approved TTL, so a cert is
 * never valid longer after signing than the role allows (PROTOCOL.certkeys: valid iff
 * valid_after <= now < valid_before on the server's clock).
 */
export function certValidity(
  now: Date,
  ttlSeconds: number,
  backdateSeconds: number,
): { validAfter: Date; validBefore: Date } {
  const nowSec = Math.floor(now.getTime() / 1000);
  return {
    validAfter: new Date((nowSec - backdateSeconds) * 1000),
    validBefore: new Date((nowSec + ttlSeconds) * 1000),
  };
}
