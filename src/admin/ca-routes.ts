import { Router } from "express";
import { z } from "zod";
import type { CaKeyring, CaKeys } from "../ca/keyring.js";
import { fail } from "../errors.js";
import { FINGERPRINT, jsonBody, parse } from "../http/schemas.js";

/** The keyring a path names: /ca/user/... or /ca/host/... */
export function ringOf(cas: CaKeys, kind: string): CaKeyring {
  if (kind === "user") return cas.user;
  if (kind === "host") {
    if (!cas.host) throw fail.notFound("there is no host CA (with ca.signer: agent, set ca.host.publicKeyFile)");
    return cas.host;
  }
  throw fail.notFound(`no CA ${JSON.stringify(kind)}; user or host`);
}

const stageBody = z.strictObject({
  publicKey: z
    .string()
    .max(16 * 1024)
    .optional(),
});
const retireBody = z.strictObject({ force: z.boolean().default(false), fingerprint: FINGERPRINT.optional() });
const emptyBody = z.strictObject({});

/**
 * `sshcad ca status` and `sshcad ca rotate stage|switch|retire|cancel` on the admin socket: each
 * phase change is one commit with its audit record (actor "admin"), after which the running
 * daemon publishes the new key set and KRL at once.
 */
export function caAdminRoutes(cas: CaKeys): Router {
  const r = Router();
  r.get("/:kind", async (req, res) => {
    res.json(await ringOf(cas, req.params.kind).status());
  });
  r.post("/:kind/stage", async (req, res) => {
    const ring = ringOf(cas, req.params.kind);
    const { publicKey } = parse(stageBody, jsonBody(req), "stage");
    res.json(await ring.stage(publicKey, "admin"));
  });
  r.post("/:kind/switch", async (req, res) => {
    const ring = ringOf(cas, req.params.kind);
    parse(emptyBody, jsonBody(req), "switch");
    res.json(await ring.switchKeys("admin"));
  });
  r.post("/:kind/retire", async (req, res) => {
    const ring = ringOf(cas, req.params.kind);
    const body = parse(retireBody, jsonBody(req), "retire");
    res.json(await ring.retire(body, "admin"));
  });
  r.post("/:kind/cancel", async (req, res) => {
    const ring = ringOf(cas, req.params.kind);
    parse(emptyBody, jsonBody(req), "cancel");
    res.json(await ring.cancel("admin"));
  });
  return r;
}
