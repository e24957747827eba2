import { Router } from "express";
import { z } from "zod";
import type { AuditLog } from "../../audit/log.js";
import { registerSshKey, type SshSignIn } from "../../auth/ssh-signin.js";
import { IDENT } from "../../config/names.js";
import { SshcaError } from "../../errors.js";
import type { StateStore } from "../../store/state.js";
import { type AuthDeps, failedSignIn, identityOf, throttled } from "../auth.js";
import { clientOf } from "../client-address.js";
import type { RateLimiter } from "../rate-limit.js";
import { jsonBody, parse } from "../schemas.js";

const challengeBody = z.strictObject({ user: z.string().regex(IDENT, "malformed user name") });
const signInBody = z.strictObject({
  challenge: z.string().regex(/^ch_[a-z2-7]{20}$/, "malformed challenge id"),
  signature: z.string().max(8192),
});
const keyBody = z.strictObject({ publicKey: z.string().max(16 * 1024) });

/**
 * /v1/auth: SSH-key sign-in (unauthenticated). Challenges are rate-limited per client address
 * and capped per address and per user; a valid signature signs in even from an address others
 * locked out, only failed ones are counted.
 */
export function signInRoutes(
  signIn: SshSignIn,
  auth: Pick<AuthDeps, "failures" | "onFailure">,
  challenges: RateLimiter,
): Router {
  const r = Router();
  r.post("/challenge", (req, res) => {
    const { key } = clientOf(req);
    if (!challenges.take(key))
      throw throttled(challenges.waitFor(key), "too many sign-in challenges from this address");
    const { user } = parse(challengeBody, jsonBody(req), "challenge request");
    res.status(201).json(signIn.challenge(user, key));
  });
  r.post("/ssh", async (req, res) => {
    const body = parse(signInBody, jsonBody(req), "sign-in");
    try {
      res.json(await signIn.signIn(body.challenge, body.signature));
    } catch (err) {
      if (err instanceof SshcaError && err.code === "unauthenticated")
        throw failedSignIn(auth, clientOf(req), err.message);
      throw err;
    }
  });
  return r;
}

/** /v1/keys: the caller's SSH keys for sign-in. */
export function keyRoutes(store: StateStore, audit: AuditLog, now: () => Date): Router {
  const r = Router();
  r.get("/", (_req, res) => {
    const { user } = identityOf(res);
    const keys = Object.entries(store.data.sshKeys)
      .filter(([, k]) => k.user === user)
      .map(([fingerprint, k]) => ({ fingerprint, publicKey: k.publicKey, addedAt: k.addedAt, addedBy: k.addedBy }));
    res.json({ keys });
  });
  r.post("/", async (req, res) => {
    const { user } = identityOf(res);
    const { publicKey } = parse(keyBody, jsonBody(req), "key");
    res.status(201).json(await registerSshKey({ store, audit, now }, user, publicKey, user));
  });
  return r;
}
