import { Router } from "express";
import { z } from "zod";
import { isAdmin, isApprover, isAuditor } from "../../access/policy.js";
import type { Identity } from "../../domain/request.js";
import type { AuditFilter, AuditQuery } from "../../audit/query.js";
import type { AuditRecord } from "../../audit/record.js";
import type { Config } from "../../config/schema.js";
import { fail } from "../../errors.js";
import { hasDrift } from "../../scan/drift.js";
import type { ScanService } from "../../scan/service.js";
import type { Drift } from "../../domain/scan.js";
import { identityOf, throttled } from "../auth.js";
import type { ScanView } from "../contract.js";
import type { RateLimiter } from "../rate-limit.js";
import { jsonBody, parse } from "../schemas.js";

const listQuery = z.strictObject({
  request: z.string().max(64).optional(),
  host: z.string().max(253).optional(),
  cursor: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, "cursor must be one the server handed out")
    .optional(),
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

/**
 * Which scans an identity may see: all of them (auditors, admins), else those of its own
 * requests and of hosts covered by a role it approves. As data, so the audit backend applies it
 * before paging.
 */
function scanVisibility(config: Config, identity: Identity): AuditFilter["visibleTo"] {
  if (isAuditor(config, identity) || isAdmin(config, identity)) return undefined;
  const hosts = Object.values(config.roles)
    .filter((role) => isApprover(role, identity))
    .flatMap((role) => role.hosts);
  return { requester: identity.user, hosts: [...new Set(hosts)].sort() };
}

/** The same rule for one record. */
function canSee(visibleTo: AuditFilter["visibleTo"], r: AuditRecord): boolean {
  const f = r.fields as { host?: unknown; requester?: unknown };
  return (
    visibleTo === undefined ||
    f.requester === visibleTo.requester ||
    (typeof f.host === "string" && visibleTo.hosts.includes(f.host))
  );
}

/** /v1/scans: scan history (from the audit log) and manual scans (rate limited per user by `manualScans`). */
export function scanRoutes(
  config: () => Config,
  query: AuditQuery,
  scans: ScanService | undefined,
  manualScans: RateLimiter,
): Router {
  const r = Router();

  r.get("/", async (req, res) => {
    const identity = identityOf(res);
    const q = parse(listQuery, req.query, "query");
    const { records, cursor } = await query.query(
      {
        types: RESULT_TYPES,
        request: q.request,
        host: q.host,
        visibleTo: scanVisibility(config(), identity),
      },
      { limit: q.limit, cursor: q.cursor },
    );
    res.json({ scans: records.map(scanView), ...(cursor ? { cursor } : {}) });
  });

  r.get("/:id", async (req, res) => {
    const identity = identityOf(res);
    const id = parse(scanId, req.params.id, "scan id");
    const found = await query.findScan(id);
    if (!found || !canSee(scanVisibility(config(), identity), found)) throw fail.notFound(`no scan ${id}`);
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
