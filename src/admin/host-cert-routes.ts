import { Router } from "express";
import { z } from "zod";
import { HOST_NAME } from "../config/names.js";
import { fail } from "../errors.js";
import type { HostCertService } from "../hostcerts/service.js";
import { jsonBody, parse } from "../http/schemas.js";

const revokeBody = z
  .strictObject({
    serial: z
      .string()
      .regex(/^[1-9]\d{0,19}$/, "serial must be the certificate's decimal serial")
      .optional(),
    host: z.string().regex(HOST_NAME, "malformed host name").optional(),
    reason: z
      .string()
      .max(500)
      .refine((r) => r.trim().length > 0, "a reason is required"),
  })
  .refine((b) => (b.serial === undefined) !== (b.host === undefined), "give exactly one of serial or host");

/** `sshcad host cert list|revoke` on the admin socket. */
export function hostCertAdminRoutes(certs: HostCertService | undefined): Router {
  const r = Router();
  const need = (): HostCertService => {
    if (!certs) throw fail.notFound("there is no host CA (with ca.signer: agent, set ca.host.publicKeyFile)");
    return certs;
  };
  r.get("/", (req, res) => {
    const host = typeof req.query.host === "string" ? req.query.host : undefined;
    res.json({ certificates: need().list(host) });
  });
  r.post("/revoke", async (req, res) => {
    const service = need();
    const body = parse(revokeBody, jsonBody(req), "host certificate revocation");
    const target = body.serial !== undefined ? { serial: body.serial } : { host: body.host! };
    res.json({ revoked: await service.revoke(target, body.reason, "admin") });
  });
  return r;
}
