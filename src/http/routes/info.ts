import { Router } from "express";
import { approvableRoles, isAdmin, isAuditor, requestableRoles } from "../../access/policy.js";
import { principalsFileFor } from "../../access/principals.js";
import sshpk from "sshpk";
import { phaseOf, publishedKeys, retiredKeys, signingKey } from "../../ca/keyset.js";
import { signatureAlgorithmFor } from "../../ca/signer.js";
import type { CaKeySet } from "../../domain/ca.js";
import type { Config } from "../../config/schema.js";
import { fail } from "../../errors.js";
import { identityOf } from "../auth.js";
import type { CaKeyView, CaView, PrincipalsView, WhoamiView } from "../contract.js";
import { parse, principalsQuery } from "../schemas.js";

/** What anyone may know about a CA's keys: which to trust now, which signs, which are retired. Pure. */
export function caView(set: CaKeySet): CaView {
  const signing = signingKey(set);
  return {
    publicKey: signing.publicKey,
    fingerprint: signing.fingerprint,
    signatureAlgorithm: signatureAlgorithmFor(sshpk.parseKey(signing.publicKey, "ssh")),
    phase: phaseOf(set).phase,
    keys: publishedKeys(set).map((k) => ({
      publicKey: k.publicKey,
      fingerprint: k.fingerprint,
      status: k.status as CaKeyView["status"],
    })),
    retired: retiredKeys(set).map((k) => k.fingerprint),
  };
}

/**
 * GET /v1/ca: the user CA's keys (public; target hosts fetch them for TrustedUserCAKeys), and
 * GET /v1/ca/host: the host CA's (users' @cert-authority lines).
 */
export function caRoutes(cas: { user: { set: CaKeySet }; host: { set: CaKeySet } | undefined }): Router {
  const r = Router();
  r.get("/", (_req, res) => {
    res.json(caView(cas.user.set));
  });
  r.get("/host", (_req, res) => {
    if (!cas.host) throw fail.notFound("this CA signs no host certificates (no host CA key)");
    res.json(caView(cas.host.set));
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
