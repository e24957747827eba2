import { Router } from "express";
import { z } from "zod";
import type { AccessService } from "../../access/service.js";
import type { KrlService } from "../../ca/krl-service.js";
import { identityOf } from "../auth.js";
import { jsonBody, parse } from "../schemas.js";
import { requestView } from "../views.js";

const revokeBody = z
  .strictObject({
    serial: z
      .string()
      .regex(/^[1-9]\d{0,19}$/, "serial must be the certificate's decimal serial")
      .optional(),
    request: z
      .string()
      .regex(/^rq_[a-z2-7]{16}$/, "malformed request id")
      .optional(),
    reason: z
      .string()
      .max(500)
      .refine((r) => r.trim().length > 0, "a reason is required"),
  })
  .refine((b) => (b.serial === undefined) !== (b.request === undefined), "give exactly one of serial or request");

/** POST /v1/revocations (approvers of the role, admins). */
export function revocationRoutes(access: AccessService): Router {
  const r = Router();
  r.post("/", async (req, res) => {
    const identity = identityOf(res);
    const body = parse(revokeBody, jsonBody(req), "revocation");
    const target = body.serial !== undefined ? { serial: body.serial } : { request: body.request! };
    res.json(requestView(await access.revoke(identity, target, body.reason.trim()), identity));
  });
  return r;
}

/** GET /v1/krl: the current KRL (public, like the CA key; target hosts fetch it over the pinned TLS). */
export function krlRoutes(krl: KrlService): Router {
  const r = Router();
  r.get("/", (_req, res) => {
    res.type("application/octet-stream").send(krl.current);
  });
  return r;
}
