import { Router } from "express";
import { principalsFileFor } from "../../access/principals.js";
import type { KrlService } from "../../ca/krl-service.js";
import type { Config } from "../../config/schema.js";
import type { HostWhoamiView, PrincipalsView } from "../contract.js";
import { hostOf } from "../host-auth.js";

/**
 * /v1/host/: what a target host's companion (sshca host) needs, for its own host only. Mounted
 * behind `authenticateHost`, so every route here knows which host calls.
 */
export function hostRoutes(deps: { config: () => Config; krl: KrlService }): Router {
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
  return r;
}
