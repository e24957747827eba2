import type { AccessRequest } from "../domain/request.js";

/**
 * A certificate about to expire is not worth handing out again: a new request serves the
 * requester better than one that stops working in the middle of the first command.
 */
export const REUSE_MIN_LEFT_SECONDS = 60;

/** What a new login asks for, as far as reuse is concerned. */
export interface ReuseAsk {
  requester: string;
  role: string;
  hosts: readonly string[];
  keyFingerprint: string;
}

/**
 * A live certificate that already covers this ask: issued (not revoked) to the same requester
 * for the same role, exactly the same hosts and the same key, valid now and for at least
 * REUSE_MIN_LEFT_SECONDS more. A new login then reuses it instead of asking again. The one with
 * the most time left wins. Pure.
 */
export function findReusable(requests: Iterable<AccessRequest>, ask: ReuseAsk, now: Date): AccessRequest | undefined {
  const hosts = [...new Set(ask.hosts)].sort().join(",");
  let best: AccessRequest | undefined;
  for (const r of requests) {
    if (r.state !== "issued" || !r.cert) continue;
    if (r.requester !== ask.requester || r.role !== ask.role || r.keyFingerprint !== ask.keyFingerprint) continue;
    if ([...r.hosts].sort().join(",") !== hosts) continue;
    const begins = Date.parse(r.start ?? r.cert.validAfter);
    const before = Date.parse(r.cert.validBefore);
    // A scheduled window not yet begun is not live access.
    if (begins > now.getTime() || before - now.getTime() < REUSE_MIN_LEFT_SECONDS * 1000) continue;
    if (!best || before > Date.parse(best.cert!.validBefore)) best = r;
  }
  return best;
}
