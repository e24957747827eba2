import { isIP } from "node:net";
import { type RequestHandler, Router } from "express";
import { isAdmin, isAuditor } from "../../access/policy.js";
import { isLoopback } from "../../config/schema.js";
import type { Config } from "../../config/schema.js";
import { fail } from "../../errors.js";
import type { Metrics } from "../../ops/metrics.js";
import type { Check } from "../../ops/readiness.js";
import { identityOf } from "../auth.js";

/** /healthz (the process answers), /readyz (it can do its job), /metrics (Prometheus). */
export function opsRoutes(deps: {
  config: () => Config;
  metrics: Metrics;
  ready: () => Promise<{ ready: boolean; checks: Record<string, Check> }>;
  auth: RequestHandler;
}): Router {
  const r = Router();
  r.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  r.get("/readyz", async (_req, res) => {
    const { ready, checks } = await deps.ready();
    if (ready) {
      res.json({ status: "ready", checks });
      return;
    }
    const failing = Object.entries(checks)
      .filter(([, c]) => !c.ok)
      .map(([name, c]) => `${name} (${c.detail ?? "failing"})`);
    res.status(503).json({ error: { code: "unavailable", message: `not ready: ${failing.join(", ")}` }, checks });
  });
  // Scrapers on this machine need no token; from elsewhere, an auditor's or admin's token.
  const fromLoopback: RequestHandler = (req, res, next) => {
    const addr = req.socket.remoteAddress ?? "";
    if (isIP(addr) !== 0 && isLoopback(addr)) return next();
    deps.auth(req, res, (err?: unknown) => {
      if (err) return next(err);
      const identity = identityOf(res);
      if (!isAdmin(deps.config(), identity) && !isAuditor(deps.config(), identity)) {
        return next(fail.forbidden("metrics are for auditors and admins (or scrapers on this host)"));
      }
      next();
    });
  };
  r.get("/metrics", fromLoopback, async (_req, res) => {
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
  return r;
}
