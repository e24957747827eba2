import { Router } from "express";
import { z } from "zod";
import { isAdmin, isAuditor } from "../../access/policy.js";
import type { AuditQuery } from "../../audit/query.js";
import type { Config } from "../../config/schema.js";
import { fail } from "../../errors.js";
import { identityOf } from "../auth.js";
import { parse } from "../schemas.js";

const time = (name: string) =>
  z.iso.datetime({ offset: true, message: `${name} must be an ISO time such as 2026-01-01T00:00:00Z` }).optional();

/** GET /v1/audit's query: filters (combined with AND), a page size and an opaque cursor. */
export const auditListQuery = z.strictObject({
  user: z.string().max(64).optional(),
  request: z.string().max(64).optional(),
  serial: z
    .string()
    .regex(/^[0-9]{1,20}$/, "serial must be a certificate serial (decimal)")
    .optional(),
  host: z.string().max(253).optional(),
  type: z
    .string()
    .regex(/^[a-z_]+(\.[a-z_]+)?$/, "type must look like request.approved or request")
    .optional(),
  since: time("since"),
  until: time("until"),
  cursor: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, "cursor must be one the server handed out")
    .optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

/** /v1/audit: the audit trail for auditors and admins. */
export function auditRoutes(config: () => Config, query: AuditQuery): Router {
  const r = Router();
  r.use((_req, res, next) => {
    const identity = identityOf(res);
    if (!isAuditor(config(), identity) && !isAdmin(config(), identity)) {
      throw fail.forbidden("the audit trail is for auditors and admins");
    }
    next();
  });

  r.get("/", async (req, res) => {
    const { since, until, cursor, limit, ...keys } = parse(auditListQuery, req.query, "query");
    const filter = {
      ...keys,
      ...(since ? { since: new Date(since) } : {}),
      ...(until ? { until: new Date(until) } : {}),
    };
    res.json(await query.query(filter, { limit, cursor }));
  });

  r.get("/verify", async (_req, res) => {
    res.json(await query.verify());
  });
  return r;
}
