import { Router } from "express";
import { approvableRoles, isAdmin, isAuditor, requestableRoles } from "../../access/policy.js";
import { principalsFileFor } from "../../access/principals.js";
import type { CaKey } from "../../ca/ca-key.js";
import type { Config } from "../../config/schema.js";
import { fail } from "../../errors.js";
import { identityOf } from "../auth.js";
import type { CaView, PrincipalsView, WhoamiView } from "../contract.js";
import { parse, principalsQuery } from "../schemas.js";

/** GET /v1/ca: the CA public key (public; target hosts fetch it for TrustedUserCAKeys). */
export function caRoutes(ca: CaKey): Router {
  const r = Router();
  r.get("/", (_req, res) => {
    const view: CaView = {
      publicKey: ca.publicKeyLine,
      fingerprint: ca.fingerprint,
      signatureAlgorithm: ca.signatureAlgorithm,
    };
    res.json(view);
  });
  return r;
}

/** Authenticated read-only views: who am I, what to put in a host's principals files. */
export function infoRoutes(config: () => Config): Router {
  const r = Router();

  r.get("/whoami", (_req, res) => {
    const identity = identityOf(res);
    const cfg = config();
    const view: WhoamiView = {
      user: identity.user,
      groups: [...identity.groups],
      requestableRoles: requestableRoles(cfg, identity),
      approvableRoles: approvableRoles(cfg, identity),
      admin: isAdmin(cfg, identity),
      auditor: isAuditor(cfg, identity),
    };
    res.json(view);
  });

  r.get("/principals", (req, res) => {
    identityOf(res);
    const { host } = parse(principalsQuery, req.query, "query");
    const cfg = config();
    if (!Object.hasOwn(cfg.hosts, host)) throw fail.notFound(`no host ${host} in the inventory`);
    const view: PrincipalsView = {
      host,
      principals: principalsFileFor(host, Object.values(cfg.roles)),
    };
    res.json(view);
  });

  return r;
}
