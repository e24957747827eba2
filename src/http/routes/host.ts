import { isIP } from "node:net";
import { Router } from "express";
import { z } from "zod";
import { principalsFileFor } from "../../access/principals.js";
import type { KrlService } from "../../ca/krl-service.js";
import { isPrintable } from "../../config/names.js";
import type { Config } from "../../config/schema.js";
import type { HostReports } from "../../evidence/host-reports.js";
import { throttled } from "../auth.js";
import type { HostReportView, HostWhoamiView, PrincipalsView } from "../contract.js";
import { hostOf } from "../host-auth.js";
import type { RateLimiter } from "../rate-limit.js";
import { jsonBody, parse } from "../schemas.js";

/** Events per report: 25 of the largest still fit the 16 KiB body limit. */
export const MAX_REPORT_EVENTS = 25;

const U64_MAX = 18446744073709551615n;

const sessionEvent = z.strictObject({
  seq: z.int().min(1).max(Number.MAX_SAFE_INTEGER),
  kind: z.enum(["opened", "closed"]),
  at: z.iso.datetime({ offset: true, message: "at must be an ISO time" }),
  // A login name as sshd printed it: printable, no spaces (sshd_config(5) user names).
  login: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[\x21-\x7e]+$/, "login must be printable without spaces"),
  from: z.string().refine((a) => isIP(a) !== 0, "from must be an IP address"),
  port: z.int().min(0).max(65535),
  serial: z
    .string()
    .regex(/^\d{1,20}$/, "serial must be decimal")
    .refine((v) => BigInt(v) <= U64_MAX, "serial must be a 64-bit number"),
  keyId: z.string().max(256).refine(isPrintable, "keyId must be printable ASCII"),
  caFingerprint: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}$/, "caFingerprint must be SHA256:..."),
});

const reportBody = z.strictObject({
  stream: z.string().regex(/^[a-z2-7]{16}$/, "stream must be the companion's 16-character stream id"),
  events: z.array(sessionEvent).max(MAX_REPORT_EVENTS),
});

/**
 * /v1/host/: what a target host's companion (sshca host) needs, for its own host only. Mounted
 * behind `authenticateHost`, so every route here knows which host calls.
 */
export function hostRoutes(deps: {
  config: () => Config;
  krl: KrlService;
  reports: HostReports;
  /** Reports per host per minute (limits.hostReportsPerMinute). */
  limiter: RateLimiter;
}): Router {
  const r = Router();
  r.get("/whoami", (_req, res) => {
    const { host, tokenId } = hostOf(res);
    const view: HostWhoamiView = { host, credentialId: tokenId };
    res.json(view);
  });
  // The AuthorizedPrincipalsFile content of the caller's host, from the roles in force now.
  r.get("/principals", (_req, res) => {
    const { host } = hostOf(res);
    const view: PrincipalsView = { host, principals: principalsFileFor(host, Object.values(deps.config().roles)) };
    res.json(view);
  });
  r.get("/krl", (_req, res) => {
    hostOf(res);
    res.type("application/octet-stream").send(deps.krl.current);
  });
  // Logins and logouts seen in sshd's log, and heartbeats (no events).
  r.post("/report", async (req, res) => {
    const { host } = hostOf(res);
    if (!deps.limiter.take(host)) throw throttled(deps.limiter.waitFor(host), `too many reports from ${host}`);
    const body = parse(reportBody, jsonBody(req), "report");
    const { through } = await deps.reports.receive(host, body.stream, body.events);
    const view: HostReportView = { host, through };
    res.json(view);
  });
  return r;
}
