import { Router } from "express";
import { z } from "zod";
import { isAdmin, isApprover, isAuditor } from "../../access/policy.js";
import type { Identity } from "../../access/types.js";
import type { AuditLog } from "../../audit/log.js";
import { findAudit, queryAudit } from "../../audit/query.js";
import type { AuditRecord } from "../../audit/record.js";
import type { Config } from "../../config/schema.js";
import { fail } from "../../errors.js";
import { hasDrift } from "../../scan/drift.js";
import type { ScanService } from "../../scan/service.js";
import type { Drift } from "../../scan/types.js";
import { identityOf, throttled } from "../auth.js";
import type { ScanView } from "../contract.js";
import type { RateLimiter } from "../rate-limit.js";
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
  const view = { id: scan as string, ...(rest as Omit<ScanView, "id">) };
  return view.drift ? { ...view, driftFound: hasDrift(view.drift as Drift) } : view;
}

/** Is this identity an approver of some role that covers `host`? */
const approvesHost = (config: Config, identity: Identity, host: string) =>
  Object.values(config.roles).some((role) => role.hosts.includes(host) && isApprover(role, identity));

/** Who may see scans of a host: auditors, admins, approvers of a role covering it, and requesters of their own. */
function canSee(config: Config, identity: Identity, r: AuditRecord): boolean {
  const f = r.fields as { host?: string; requester?: string };
  if (isAuditor(config, identity) || isAdmin(config, identity)) return true;
  if (f.requester === identity.user) return true;
  return approvesHost(config, identity, f.host ?? "");
}

/** /v1/scans: scan history (from the audit log) and manual scans (rate limited per user by `manualScans`). */
export function scanRoutes(
  config: () => Config,
  audit: AuditLog,
  scans: ScanService | undefined,
  manualScans: RateLimiter,
): Router {
  const r = Router();

  r.get("/", async (req, res) => {
    const identity = identityOf(res);
    const q = parse(listQuery, req.query, "query");
    const records = await queryAudit(audit.dir, {
      types: RESULT_TYPES,
      request: q.request,
      host: q.host,
      limit: q.limit,
      where: (x) => canSee(config(), identity, x),
    });
    res.json({ scans: records.map(scanView) });
  });

  r.get("/:id", async (req, res) => {
    const identity = identityOf(res);
    const id = parse(scanId, req.params.id, "scan id");
    const found = await findAudit(
      audit.dir,
      (x) => RESULT_TYPES.includes(x.type) && (x.fields as { scan?: unknown }).scan === id,
    );
    if (!found || !canSee(config(), identity, found)) throw fail.notFound(`no scan ${id}`);
    res.json(scanView(found));
  });

  r.post("/", async (req, res) => {
    const identity = identityOf(res);
    const { host } = parse(manualBody, jsonBody(req), "scan");
    const cfg = config();
    const admin = isAdmin(cfg, identity);
    const forbidden = () => fail.forbidden(`only approvers of a role covering ${host}, and admins, may scan it`);
    // Someone who may scan nothing hears the same for every name, so cannot probe the inventory.
    if (!admin && !Object.values(cfg.roles).some((role) => isApprover(role, identity))) throw forbidden();
    if (!Object.hasOwn(cfg.hosts, host)) throw fail.notFound(`unknown host ${host} (not in the inventory)`);
    if (!admin && !approvesHost(cfg, identity, host)) throw forbidden();
    if (!scans) throw fail.conflict("scanning is turned off in the config (scanning.enabled: false)");
    if (!manualScans.take(identity.user)) {
      throw throttled(
        manualScans.waitFor(identity.user),
        "too many manual scans from you (limits.manualScansPerMinute)",
      );
    }
    const record = await scans.manual(host);
    res
      .status(201)
      .json({ ...record, ...(record.drift ? { driftFound: hasDrift(record.drift) } : {}) } satisfies ScanView);
  });
  return r;
}
