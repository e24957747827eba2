import { Router } from "express";
import { z } from "zod";
import { isAdmin, isAuditor } from "../../access/policy.js";
import type { AccessService } from "../../access/service.js";
import type { AuditFilter, AuditQuery } from "../../audit/query.js";
import type { AuditRecord } from "../../audit/record.js";
import { parseDuration } from "../../config/duration.js";
import type { Config } from "../../config/schema.js";
import { fail } from "../../errors.js";
import { buildReport } from "../../evidence/report.js";
import { SUMMARY_TYPES, summarize } from "../../evidence/summary.js";
import { identityOf } from "../auth.js";
import type { ReportSummaryView, ReportView } from "../contract.js";
import { parse, requestIdParam } from "../schemas.js";

/** Records one request's report reads at most (a window has tens; the bound only guards the daemon). */
const MAX_REQUEST_RECORDS = 20_000;
/** Records one summary reads at most; beyond it the answer says it is truncated. */
const MAX_SUMMARY_RECORDS = 200_000;
const PAGE = 1000;

/**
 * Every record matching `filter`, oldest first, through the index a page at a time (never a
 * read of the whole log), up to `max`.
 */
export async function readAll(
  audit: AuditQuery,
  filter: AuditFilter,
  max: number,
): Promise<{ records: AuditRecord[]; truncated: boolean }> {
  const pages: AuditRecord[][] = [];
  let count = 0;
  let cursor: string | undefined;
  do {
    const page = await audit.query(filter, { limit: PAGE, cursor });
    pages.push(page.records);
    count += page.records.length;
    cursor = page.cursor;
  } while (cursor !== undefined && count < max);
  return { records: pages.reverse().flat(), truncated: cursor !== undefined };
}

const summaryQuery = z.strictObject({
  since: z.string().max(40),
  until: z.iso.datetime({ offset: true, message: "until must be an ISO time" }).optional(),
});

/** A period's start: a duration back from now ("7d") or an ISO time. */
function sinceOf(text: string, now: Date): Date {
  const seconds = parseDuration(text);
  if (seconds !== undefined) return new Date(now.getTime() - seconds * 1000);
  const t = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(text) || Number.isNaN(t))
    throw fail.badRequest(
      `since must be a duration back from now (7d, 12h) or an ISO time, not ${JSON.stringify(text)}`,
    );
  return new Date(t);
}

/**
 * /v1/reports: evidence of access windows, read from the audit log. One request's report for
 * whoever may see the request (its requester, the role's approvers, auditors, admins); the
 * summary of a period for auditors and admins.
 */
export function reportRoutes(deps: {
  config: () => Config;
  access: AccessService;
  audit: AuditQuery;
  now: () => Date;
}): Router {
  const r = Router();

  r.get("/requests/:id", async (req, res) => {
    const identity = identityOf(res);
    const id = parse(requestIdParam, req.params.id, "request id");
    const { records } = await readAll(deps.audit, { request: id }, MAX_REQUEST_RECORDS);
    const created = records.find((x) => x.type === "request.created")?.fields as
      { requester?: string; role?: string } | undefined;
    const about = { requester: created?.requester ?? "", role: created?.role ?? "" };
    if (!created || !deps.access.canSee(identity, about)) throw fail.notFound(`no request ${id}`);
    const view: ReportView = buildReport(id, records, deps.now());
    res.json(view);
  });

  r.get("/", async (req, res) => {
    const identity = identityOf(res);
    const config = deps.config();
    if (!isAuditor(config, identity) && !isAdmin(config, identity))
      throw fail.forbidden("summaries of access are for auditors and admins (sshca report ID shows one request)");
    const q = parse(summaryQuery, req.query, "query");
    const now = deps.now();
    const since = sinceOf(q.since, now);
    const until = q.until ? new Date(q.until) : now;
    if (since.getTime() >= until.getTime()) throw fail.badRequest("since must be before until");
    const { records, truncated } = await readAll(
      deps.audit,
      { types: SUMMARY_TYPES, since, until },
      MAX_SUMMARY_RECORDS,
    );
    const view: ReportSummaryView = { ...summarize(records, { since, until }), ...(truncated ? { truncated } : {}) };
    res.json(view);
  });
  return r;
}
