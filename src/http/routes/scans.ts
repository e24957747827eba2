import { Router } from "express";
import { z } from "zod";
import { isAdmin, isApprover, isAuditor } from "../../access/policy.js";
import type { Identity } from "../../access/types.js";
import type { AuditLog } from "../../audit/log.js";
import { queryAudit } from "../../audit/query.js";
import type { AuditRecord } from "../../audit/record.js";
import type { Config } from "../../config/schema.js";
import { fail } from "../../errors.js";
import type { ScanService } from "../../scan/service.js";
import { identityOf } from "../auth.js";
import type { ScanView } from "../contract.js";
import { jsonBody, parse } from "../schemas.js";

const listQuery = z.strictObject({
  request: z.string().max(64).optional(),
  host: z.string().max(253).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
const scanId = z.string().regex(/^sc_[a-z2-7]{16}$/, "malformed scan id");
const manualBody = z.strictObject({ host: z.string().max(253) });
const RESULT_TYPES = ["scan.finished", "scan.failed"];

/** A scan record from the audit log, as the API shows it. */
function scanView(r: AuditRecord): ScanView {
  const { scan, requester: _r, role: _o, approvers: _a, ...rest } = r.fields as Record<string, unknown>;
  return { id: scan as string, ...(rest as Omit<ScanView, "id">) };
}

/** Who may see scans of a host: auditors, admins, approvers of a role covering it, and requesters of their own. */
function canSee(config: Config, identity: Identity, r: AuditRecord): boolean {
  const f = r.fields as { host?: string; requester?: string };
  if (isAuditor(config, identity) || isAdmin(config, identity)) return true;
  if (f.requester === identity.user) return true;
  return Object.values(config.roles).some((role) => role.hosts.includes(f.host ?? "") && isApprover(role, identity));
}

/** /v1/scans: scan history (from the audit log) and manual scans. */
export function scanRoutes(config: () => Config, audit: AuditLog, scans: ScanService | undefined): Router {
  const r = Router();

  r.get("/", async (req, res) => {
    const identity = identityOf(res);
    const q = parse(listQuery, req.query, "query");
    const records = await queryAudit(audit.dir, {
      types: RESULT_TYPES,
      request: q.request,
      host: q.host,
      limit: q.limit,
    });
    res.json({ scans: records.filter((x) => canSee(config(), identity, x)).map(scanView) });
  });

  r.get("/:id", async (req, res) => {
    const identity = identityOf(res);
    const id = parse(scanId, req.params.id, "scan id");
    const found = (await queryAudit(audit.dir, { types: RESULT_TYPES, limit: 1_000_000 })).find(
      (x) => (x.fields as { scan?: unknown }).scan === id,
    );
    if (!found || !canSee(config(), identity, found)) throw fail.notFound(`no scan ${id}`);
    res.json(scanView(found));
  });

  r.post("/", async (req, res) => {
    const identity = identityOf(res);
    const { host } = parse(manualBody, jsonBody(req), "scan");
    const cfg = config();
    const approverHere = Object.values(cfg.roles).some(
      (role) => role.hosts.includes(host) && isApprover(role, identity),
    );
    if (!approverHere && !isAdmin(cfg, identity)) {
      throw fail.forbidden(`only approvers of a role covering ${host}, and admins, may scan it`);
    }
    if (!scans) throw fail.conflict("scanning is turned off in the config (scanning.enabled: false)");
    const record = await scans.manual(host);
    const { id, ...rest } = record;
    res.status(201).json({ id, ...rest } satisfies ScanView);
  });
  return r;
}
