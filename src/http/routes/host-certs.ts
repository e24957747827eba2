import { Router } from "express";
import { z } from "zod";
import type { CaKeySet } from "../../domain/ca.js";
import type { Config } from "../../config/schema.js";
import { inventoryNames } from "../../hostcerts/decide.js";
import type { HostCertService } from "../../hostcerts/service.js";
import { hostActor } from "../../auth/host-credential.js";
import { fail } from "../../errors.js";
import { identityOf } from "../auth.js";
import { hostOf } from "../host-auth.js";
import type { KnownHostsView } from "../contract.js";
import { jsonBody, parse } from "../schemas.js";
import { caView } from "./info.js";

const certBody = z.strictObject({
  /** The host's public host key, e.g. the line of /etc/ssh/ssh_host_ed25519_key.pub. */
  publicKey: z
    .string()
    .min(1)
    .max(16 * 1024),
});

/**
 * POST /v1/host/certificate: a target host asks for a certificate of one of its host keys, with
 * its host credential. Which host, and so the principals, come from the credential and the
 * inventory, never from the request. Mounted behind `authenticateHost` with the companion's
 * routes; without a host CA it answers 404.
 */
export function hostCertRoutes(deps: { certs: HostCertService | undefined }): Router {
  const r = Router();
  r.post("/certificate", async (req, res) => {
    const { host } = hostOf(res);
    if (!deps.certs) throw fail.notFound("this CA signs no host certificates (no host CA key)");
    const { publicKey } = parse(certBody, jsonBody(req), "host certificate");
    res.json(await deps.certs.sign(host, publicKey, hostActor(host)));
  });
  return r;
}

/**
 * GET /v1/known-hosts (any user): the host CA keys to trust and the inventory names they vouch
 * for — what `sshca known-hosts` and `sshca ssh-config` write. Authenticated: it lists the
 * inventory.
 */
export function knownHostsRoutes(deps: { config: () => Config; hostCa: () => CaKeySet | undefined }): Router {
  const r = Router();
  r.get("/", (_req, res) => {
    identityOf(res);
    const set = deps.hostCa();
    if (!set) throw fail.notFound("this CA signs no host certificates (no host CA key)");
    const view = caView(set);
    const body: KnownHostsView = { hosts: inventoryNames(deps.config()), keys: view.keys, retired: view.retired };
    res.json(body);
  });
  return r;
}
