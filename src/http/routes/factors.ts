import { Router } from "express";
import { z } from "zod";
import type { Factors } from "../../auth/factors/factors.js";
import type { Storage } from "../../store/port.js";
import type { TokenRecord } from "../../store/state.js";
import { identityOf, tokenIdOf } from "../auth.js";
import { jsonBody, parse, webauthnRegistration } from "../schemas.js";

const factorId = z.string().regex(/^fa_[a-z2-7]{16}$/, "malformed factor id");
const codeBody = z.strictObject({ code: z.string().regex(/^\d{6}$/, "a TOTP code is 6 digits") });

/**
 * /v1/factors: the caller's second factors for step-up approvals. Enrolling needs a fresh
 * interactive sign-in (the factors service checks the caller's session).
 */
export function factorRoutes(storage: Pick<Storage, "state">, factors: Factors): Router {
  const r = Router();
  const session = (res: Parameters<typeof tokenIdOf>[0]): TokenRecord => storage.state.tokens[tokenIdOf(res)]!;

  r.get("/", (_req, res) => {
    res.json({ factors: factors.list(identityOf(res).user) });
  });
  r.post("/totp", async (req, res) => {
    parse(z.strictObject({}), jsonBody(req), "factor");
    res.status(201).json(await factors.addTotp(identityOf(res).user, session(res)));
  });
  r.post("/sk/challenge", async (req, res) => {
    const { publicKey } = parse(z.strictObject({ publicKey: z.string().max(16 * 1024) }), jsonBody(req), "factor");
    res.status(201).json(await factors.skChallenge(identityOf(res).user, session(res), publicKey));
  });
  r.post("/sk", async (req, res) => {
    const b = parse(
      z.strictObject({
        challenge: z.string().regex(/^fc_[a-z2-7]{20}$/, "malformed challenge id"),
        signature: z.string().max(8192),
      }),
      jsonBody(req),
      "factor",
    );
    res.status(201).json(await factors.addSk(identityOf(res).user, session(res), b.challenge, b.signature));
  });
  // WebAuthn (the console): options for navigator.credentials.create(), then its response.
  r.post("/webauthn/options", async (req, res) => {
    const { name } = parse(
      z.strictObject({ name: z.string().trim().min(1, "give the authenticator a name").max(64) }),
      jsonBody(req),
      "factor",
    );
    res.status(201).json(await factors.webauthnOptions(identityOf(res).user, session(res), name));
  });
  r.post("/webauthn", async (req, res) => {
    const { response } = parse(z.strictObject({ response: webauthnRegistration }), jsonBody(req), "factor");
    res.status(201).json(await factors.addWebauthn(identityOf(res).user, session(res), response));
  });
  r.post("/:id/confirm", async (req, res) => {
    const id = parse(factorId, req.params.id, "factor id");
    const { code } = parse(codeBody, jsonBody(req), "factor");
    res.json(await factors.confirmTotp(identityOf(res).user, session(res), id, code));
  });
  r.post("/:id/remove", async (req, res) => {
    const id = parse(factorId, req.params.id, "factor id");
    parse(z.strictObject({}), jsonBody(req), "factor");
    const { user } = identityOf(res);
    res.json(await factors.remove(user, id, user));
  });
  return r;
}
