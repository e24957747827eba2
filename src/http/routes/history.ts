import { Router } from "express";
import type { AccessService } from "../../access/service.js";
import type { AuditQuery } from "../../audit/query.js";
import type { AuditRecord } from "../../audit/record.js";
import { fail } from "../../errors.js";
import { identityOf } from "../auth.js";
import type { WindowView } from "../contract.js";
import { parse, requestIdParam } from "../schemas.js";

const WINDOW_TYPES = ["certificate.issued", "certificate.revoked", "scan.drift"];
/** Windows shown per requester: the recent past is what an approver weighs. */
const RECENT_WINDOWS = 10;

/** The windows (issued certificates) in these records, newest first: when, for what, how they ended, drift. */
export function windowsOf(records: AuditRecord[]): WindowView[] {
  const byRequest = new Map<string, WindowView>();
  for (const r of records) {
    const f = r.fields as Record<string, unknown>;
    const id = f.request as string;
    if (r.type === "certificate.issued") {
      byRequest.set(id, {
        request: id,
        role: f.role as string,
        hosts: (f.hosts as string[]) ?? [],
        principals: (f.principals as string[]) ?? [],
        serial: f.serial as string,
        issuedAt: r.time,
        validAfter: f.validAfter as string,
        validBefore: f.validBefore as string,
        approvers: (f.approvers as string[]) ?? [],
        drift: false,
      });
    }
    const w = byRequest.get(id);
    if (!w) continue;
    if (r.type === "certificate.revoked")
      w.ended = { kind: f.kind as "revoke" | "relinquish", by: r.actor, at: r.time, reason: f.reason as string };
    if (r.type === "scan.drift") w.drift = true;
  }
  return [...byRequest.values()].reverse();
}

/**
 * Read views the console needs that come from the audit log, under AccessService's visibility
 * rule (the requester, the role's approvers, auditors, admins): a request's whole history, and
 * its requester's recent access windows.
 */
export function historyRoutes(access: AccessService, audit: AuditQuery): Router {
  const r = Router();

  r.get("/:id/timeline", async (req, res) => {
    const identity = identityOf(res);
    const id = parse(requestIdParam, req.params.id, "request id");
    // The index answers by request at once, however long the log (never a read of the whole log).
    const { records } = await audit.query({ request: id }, { limit: 1000 });
    const first = records[0]?.fields as { requester?: string; role?: string } | undefined;
    const about = { requester: first?.requester ?? "", role: first?.role ?? "" };
    if (!first || !access.canSee(identity, about)) throw fail.notFound(`no request ${id}`);
    res.json({ request: id, ...about, records });
  });

  // Recent windows of the requester of this (live) request, in roles the caller may see.
  r.get("/:id/windows", async (req, res) => {
    const identity = identityOf(res);
    const id = parse(requestIdParam, req.params.id, "request id");
    await access.seen(id);
    const current = access.visible(identity, id);
    const page = await audit.query({ user: current.requester, types: WINDOW_TYPES }, { limit: 500 });
    const records = page.records.filter((x) => {
      const f = x.fields as { requester?: string; role?: string; request?: string };
      return (
        f.requester === current.requester &&
        f.request !== id &&
        access.canSee(identity, { requester: f.requester, role: f.role ?? "" })
      );
    });
    res.json({ requester: current.requester, windows: windowsOf(records).slice(0, RECENT_WINDOWS) });
  });
  return r;
}
