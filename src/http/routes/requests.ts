import { Router } from "express";
import { type Decision, unwrap } from "../../domain/decision.js";
import type { AccessService } from "../../access/service.js";
import type { AccessRequest, Identity } from "../../domain/request.js";
import type { Storage } from "../../store/port.js";
import type { Config } from "../../config/schema.js";
import { identityOf, throttled, tokenIdOf } from "../auth.js";
import { Deliveries } from "../deliveries.js";
import { LongPolls } from "../long-polls.js";
import type { RateLimiter } from "../rate-limit.js";
import { MAX_WAIT_SECONDS, type RequestView } from "../contract.js";
import {
  approveBody,
  createRequestBody,
  denyBody,
  emptyBody,
  jsonBody,
  listQuery,
  overrideBody,
  parse,
  requestIdParam,
  waitQuery,
} from "../schemas.js";
import { requestView } from "../views.js";

export interface RequestRouteDeps {
  access: AccessService;
  audit: Pick<Storage, "append">;
  config: () => Config;
  now: () => Date;
  /** New requests per user. */
  creations: RateLimiter;
  /** Re-checks a caller's credential after a long-poll (cut off while waiting?). */
  recheck: (tokenId: string) => Decision<Identity>;
  /** Waiting long-polls per user (shared with the console's event streams). */
  longPolls?: LongPolls;
}

/** /v1/requests: ask, list, show (with long-poll), approve, deny, cancel. */
export function requestRoutes(deps: RequestRouteDeps): Router {
  const { access, audit, creations, recheck } = deps;
  const r = Router();
  const longPolls = deps.longPolls ?? new LongPolls();
  const deliveries = new Deliveries();

  /**
   * The requester's view. Handing out the certificate is itself an audited event: the first
   * time each token (API token or sign-in session) gets it, not on every fetch.
   */
  const deliver = async (req: AccessRequest, identity: Identity, token: string): Promise<RequestView> => {
    const view = requestView(req, identity);
    if (view.certificate !== undefined && deliveries.first(req.id, token)) {
      try {
        await audit.append("certificate.fetched", identity.user, {
          request: req.id,
          requester: req.requester,
          role: req.role,
          serial: view.serial,
        });
      } catch (err) {
        deliveries.forget(req.id, token);
        throw err;
      }
    }
    return view;
  };

  r.post("/", async (req, res) => {
    const identity = identityOf(res);
    if (!creations.take(identity.user)) {
      throw throttled(creations.waitFor(identity.user), "too many new requests from you (limits.requestsPerMinute)");
    }
    const body = parse(createRequestBody, jsonBody(req), "request");
    // When create issued at once (auto-approve), it audited this delivery with the issuance.
    const created = await access.create(identity, body);
    if (created.cert) deliveries.first(created.id, tokenIdOf(res));
    res.status(201).json(requestView(created, identity));
  });

  r.get("/", (req, res) => {
    const identity = identityOf(res);
    const q = parse(listQuery, req.query, "query");
    const list = access
      .list(identity)
      .filter((x) => (q.state ? x.state === q.state : true))
      .filter((x) => (q.mine === "true" ? x.requester === identity.user : true));
    // Lists never carry certificates: a certificate is delivered (and audited) one request at a time.
    res.json({ requests: list.map((x) => requestView(x, identity, { certificate: false })) });
  });

  // Long-poll: with ?version=N&wait=S the answer waits up to S seconds for the version to move.
  r.get("/:id", async (req, res) => {
    const identity = identityOf(res);
    const id = parse(requestIdParam, req.params.id, "request id");
    const q = parse(waitQuery, req.query, "query");
    await access.seen(id);
    let current = access.visible(identity, id);
    if (q.version !== undefined && q.wait && current.version === q.version) {
      const waitMs = Math.min(q.wait, MAX_WAIT_SECONDS) * 1000;
      const now = deps.now().getTime();
      const slot = longPolls.enter(identity.user, now + waitMs, now, deps.config().limits.longPollsPerUser);
      if (!slot.ok) {
        throw throttled(slot.retryAfterSeconds, "too many waiting long-polls for you (limits.longPollsPerUser)");
      }
      const abort = new AbortController();
      res.on("close", () => abort.abort());
      try {
        await access.watch.next(id, waitMs, abort.signal, identity.user);
      } finally {
        slot.leave();
      }
      if (abort.signal.aborted && !res.writable) return;
      // The caller may have been cut off (disabled, token revoked) while waiting.
      // Who they are now decides what they see (groups may have changed during the wait).
      const caller = unwrap(recheck(tokenIdOf(res)));
      current = access.visible(caller, id);
      res.json(await deliver(current, caller, tokenIdOf(res)));
      return;
    }
    res.json(await deliver(current, identity, tokenIdOf(res)));
  });

  r.post("/:id/approve", async (req, res) => {
    const identity = identityOf(res);
    const id = parse(requestIdParam, req.params.id, "request id");
    const body = parse(approveBody, jsonBody(req), "approval");
    res.json(requestView(await access.approve(identity, id, body.digest, body.comment, body.factor), identity));
  });

  // The WebAuthn challenge for approving this request as shown (bound to its id, digest and approver).
  r.post("/:id/webauthn", async (req, res) => {
    const identity = identityOf(res);
    const id = parse(requestIdParam, req.params.id, "request id");
    const { digest } = parse(approveBody.pick({ digest: true }), jsonBody(req), "challenge request");
    res.status(201).json(await deps.access.webauthnChallenge(identity, id, digest));
  });

  // An approver explicitly lets a request whose pre-issue scan blocked it go ahead.
  r.post("/:id/override", async (req, res) => {
    const identity = identityOf(res);
    const id = parse(requestIdParam, req.params.id, "request id");
    const body = parse(overrideBody, jsonBody(req), "override");
    res.json(requestView(await access.override(identity, id, body.digest, body.reason.trim(), body.factor), identity));
  });

  // The requester ends their own access early; the serial goes into the KRL.
  r.post("/:id/relinquish", async (req, res) => {
    const identity = identityOf(res);
    const id = parse(requestIdParam, req.params.id, "request id");
    parse(emptyBody, jsonBody(req), "relinquish");
    res.json(requestView(await access.relinquish(identity, id), identity));
  });

  r.post("/:id/deny", async (req, res) => {
    const identity = identityOf(res);
    const id = parse(requestIdParam, req.params.id, "request id");
    const body = parse(denyBody, jsonBody(req), "denial");
    res.json(requestView(await access.deny(identity, id, body.reason.trim()), identity));
  });

  r.post("/:id/cancel", async (req, res) => {
    const identity = identityOf(res);
    const id = parse(requestIdParam, req.params.id, "request id");
    parse(emptyBody, jsonBody(req), "cancellation");
    res.json(requestView(await access.cancel(identity, id), identity));
  });

  return r;
}
