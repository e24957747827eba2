import { Router } from "express";
import { z } from "zod";
import { isAdmin, isAuditor } from "../../access/policy.js";
import type { AuditLog } from "../../audit/log.js";
import { queryAudit } from "../../audit/query.js";
import { verifyAudit } from "../../audit/verify.js";
import type { Config } from "../../config/schema.js";
import { fail } from "../../errors.js";
import type { StateStore } from "../../store/state.js";
import { identityOf } from "../auth.js";
import { parse } from "../schemas.js";

const listQuery = z.strictObject({
  user: z.string().max(64).optional(),
  request: z.string().max(64).optional(),
  type: z
    .string()
    .regex(/^[a-z_]+(\.[a-z_]+)?$/, "type must look like request.approved or request")
    .optional(),
  since: z.iso.datetime({ offset: true, message: "since must be an ISO time such as 2026-01-01T00:00:00Z" }).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

/** /v1/audit: the audit trail for auditors and admins. */
export function auditRoutes(config: () => Config, audit: AuditLog, store: StateStore): Router {
  const r = Router();
  r.use((_req, res, next) => {
    const identity = identityOf(res);
    if (!isAuditor(config(), identity) && !isAdmin(config(), identity)) {
      throw fail.forbidden("the audit trail is for auditors and admins");
    }
    next();
  });

  r.get("/", async (req, res) => {
    const q = parse(listQuery, req.query, "query");
    const records = await queryAudit(audit.dir, { ...q, since: q.since ? new Date(q.since) : undefined });
    res.json({ records });
  });

  // Up to the current head (later records may be mid-write), and at least as far as the state knows.
  r.get("/verify", async (_req, res) => {
    const head = audit.head;
    res.json(
      await verifyAudit(audit.dir, {
        anchors: [
          { ...head, source: "daemon's chain head" },
          { seq: store.data.auditSeq, source: "state file" },
        ],
        stopAfterSeq: head.seq,
      }),
    );
  });
  return r;
}
