import { randomBytes } from "node:crypto";
import { Router } from "express";
import type { Decision } from "../../domain/decision.js";
import type { AccessService } from "../../access/service.js";
import type { AccessRequest, Identity } from "../../domain/request.js";
import type { Config } from "../../config/schema.js";
import { identityOf, throttled, tokenIdOf } from "../auth.js";
import type { LongPolls } from "../long-polls.js";

/** A stream ends after this long; EventSource reconnects by itself (and is checked again then). */
const STREAM_MS = 5 * 60_000;
/** A comment line this often keeps proxies from closing an idle stream, and re-checks the caller. */
const HEARTBEAT_MS = 15_000;

/** Fans each committed request change out to the open event streams. */
export class ChangeHub {
  private readonly listeners = new Set<(req: AccessRequest) => void>();
  publish(req: AccessRequest): void {
    for (const l of [...this.listeners]) l(req);
  }
  subscribe(l: (req: AccessRequest) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
}

/**
 * GET /v1/events: server-sent events (HTML Living Standard, 9.2) telling the caller that a
 * request they may see changed (`event: request`, data {id, version, state}); the page then
 * fetches what it shows through the ordinary API. Each stream takes one of the caller's
 * long-poll slots (limits.longPollsPerUser), ends after 5 minutes, and ends at once when the
 * caller is cut off (disabled, signed out, token revoked).
 */
export function eventRoutes(deps: {
  access: AccessService;
  config: () => Config;
  now: () => Date;
  hub: ChangeHub;
  longPolls: LongPolls;
  recheck: (tokenId: string) => Decision<Identity>;
}): Router {
  const r = Router();
  r.get("/", (req, res) => {
    const identity = identityOf(res);
    const tokenId = tokenIdOf(res);
    const now = deps.now().getTime();
    const slot = deps.longPolls.enter(identity.user, now + STREAM_MS, now, deps.config().limits.longPollsPerUser);
    if (!slot.ok)
      throw throttled(slot.retryAfterSeconds, "too many waiting long-polls for you (limits.longPollsPerUser)");
    res.status(200).set({
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-store",
      "X-Accel-Buffering": "no",
    });
    res.flushHeaders();
    res.write("retry: 3000\n\n");

    const abort = new AbortController();
    const stillOk = () => deps.recheck(tokenId).ok;
    const end = () => abort.abort();
    const unsubscribe = deps.hub.subscribe((changed) => {
      // Who the caller is now (groups change) decides what they are told, not who they were.
      const now = deps.recheck(tokenId);
      if (!now.ok) return end();
      if (!deps.access.canView(now.value, changed)) return;
      res.write(
        `event: request\ndata: ${JSON.stringify({ id: changed.id, version: changed.version, state: changed.state })}\n\n`,
      );
    });
    const heartbeat = setInterval(() => (stillOk() ? res.write(": ping\n\n") : end()), HEARTBEAT_MS);
    res.on("close", end);
    // Woken when the caller is cut off (as their long-polls are), or when the stream's time is up.
    void deps.access.watch
      .next(`events:${randomBytes(8).toString("hex")}`, STREAM_MS, abort.signal, identity.user)
      .then(() => {
        unsubscribe();
        clearInterval(heartbeat);
        slot.leave();
        if (res.writable) res.end();
      });
  });
  return r;
}
