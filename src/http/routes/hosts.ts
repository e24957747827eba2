import { Router } from "express";
import type { HostStatus } from "../../domain/scan.js";
import type { HostHealth } from "../../scan/hosts.js";
import { identityOf } from "../auth.js";
import type { HostStatusView } from "../contract.js";
import { emptyBody, hostParam, jsonBody, parse, resolveBody } from "../schemas.js";

const hostView = (host: string, s: HostStatus | undefined): HostStatusView => ({
  host,
  ...(s?.latest ? { latest: s.latest } : {}),
  ...(s?.drift ? { drift: s.drift } : {}),
  ...(s?.resolved ? { resolved: s.resolved } : {}),
});

/**
 * /v1/hosts: each inventory host's latest scan and unresolved drift (approvers of a role covering
 * it, auditors, admins), and an approver marking drift resolved.
 */
export function hostStatusRoutes(hosts: HostHealth): Router {
  const r = Router();
  r.get("/", (req, res) => {
    parse(emptyBody, req.query, "query");
    res.json({ hosts: hosts.list(identityOf(res)).map((h) => hostView(h.host, h.status)) });
  });
  r.post("/:host/resolve", async (req, res) => {
    const host = parse(hostParam, req.params.host, "host");
    const body = parse(resolveBody, jsonBody(req), "resolution");
    res.json(hostView(host, await hosts.resolve(identityOf(res), host, body.comment)));
  });
  return r;
}
