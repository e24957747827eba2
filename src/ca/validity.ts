/**
 * The validity window of a certificate, in whole seconds (the wire format is seconds).
 * valid_after is backdated for clock skew; the length is the approved TTL, so a cert is
 * never valid longer after signing than the role allows (PROTOCOL.certkeys: valid iff
 * valid_after <= now < valid_before on the server's clock).
 *
 * A scheduled window (`start`) runs from its start to start + TTL whenever it is signed. Signed
 * ahead of its start it is not backdated: backdating makes a certificate usable at once on a host
 * whose clock lags, and this one must not be usable before its start. Signed after its start
 * (approved late) it is backdated from the signing time as usual, never before the start.
 */
export function certValidity(
  now: Date,
  ttlSeconds: number,
  backdateSeconds: number,
  start?: Date,
): { validAfter: Date; validBefore: Date } {
  const nowSec = Math.floor(now.getTime() / 1000);
  if (start === undefined) {
    return {
      validAfter: new Date((nowSec - backdateSeconds) * 1000),
      validBefore: new Date((nowSec + ttlSeconds) * 1000),
    };
  }
  const startSec = Math.floor(start.getTime() / 1000);
  const afterSec = startSec >= nowSec ? startSec : Math.max(startSec, nowSec - backdateSeconds);
  return { validAfter: new Date(afterSec * 1000), validBefore: new Date((startSec + ttlSeconds) * 1000) };
}
