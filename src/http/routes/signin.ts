import { Router } from "express";
import { z } from "zod";
import type { KeyRegistration } from "../../auth/key-registration.js";
import { removeSshKey, type SshSignIn } from "../../auth/ssh-signin.js";
import { IDENT } from "../../config/names.js";
import type { Config } from "../../config/schema.js";
import { fail, SshcaError } from "../../errors.js";
import { put, type Storage } from "../../store/port.js";
import { type AuthDeps, cookieSecretOf, failedSignIn, identityOf, throttled, tokenIdOf } from "../auth.js";
import { clearCookie, SESSION_COOKIE } from "../cookies.js";
import { clientOf } from "../client-address.js";
import type { RateLimiter } from "../rate-limit.js";
import { FINGERPRINT, jsonBody, parse } from "../schemas.js";

const challengeBody = z.strictObject({ user: z.string().regex(IDENT, "malformed user name") });
const signInBody = z.strictObject({
  challenge: z.string().regex(/^ch_[a-z2-7]{20}$/, "malformed challenge id"),
  signature: z.string().max(8192),
});
const keyChallengeBody = z.strictObject({ publicKey: z.string().max(16 * 1024) });
const keyBody = z.strictObject({
  challenge: z.string().regex(/^kc_[a-z2-7]{20}$/, "malformed challenge id"),
  signature: z.string().max(8192),
});

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
  r.post("/challenge", async (req, res) => {
    const { key } = clientOf(req);
    if (!challenges.take(key))
      throw throttled(challenges.waitFor(key), "too many sign-in challenges from this address");
    const { user } = parse(challengeBody, jsonBody(req), "challenge request");
    res.status(201).json(await signIn.challenge(user, key));
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

/** GET /v1/auth/methods: how people sign in here (public, so the CLI knows what to offer). */
export function methodRoutes(config: () => Config): Router {
  const r = Router();
  r.get("/", (_req, res) => {
    const oidc = config().auth.oidc;
    res.json({
      oidc: oidc ? { issuer: oidc.issuer, required: oidc.required } : null,
      ssh: true,
      token: true,
    });
  });
  return r;
}

/** POST /v1/auth/logout: the caller's token or session stops working now (audited). */
export function logoutRoutes(storage: Storage, now: () => Date, wakeUser: (user: string) => void): Router {
  const r = Router();
  r.post("/", async (req, res) => {
    const { user } = identityOf(res);
    parse(z.strictObject({}), jsonBody(req), "logout");
    const tokenId = tokenIdOf(res);
    const record = storage.state.tokens[tokenId]!;
    await storage.commit(
      [{ type: "auth.signed_out", actor: user, fields: { user, tokenId, kind: record.kind ?? "api" } }],
      [put("tokens", tokenId, { ...record, revokedAt: now().toISOString() }, { entry: record })],
    );
    wakeUser(user);
    if (cookieSecretOf(res)) clearCookie(res, SESSION_COOKIE);
    res.json({ user, tokenId, signedOut: true });
  });
  return r;
}

/**
 * /v1/keys: the caller's SSH keys for sign-in. Registering one proves possession of it (sign the
 * challenge from POST /v1/keys/challenge with the new key); it then lives only as long as the
 * token or session it was registered through.
 */
export function keyRoutes(
  storage: Storage,
  registration: KeyRegistration,
  /** Answers the caller's long-polls: sessions from a removed key must not keep waiting. */
  wakeUser: (user: string) => void,
  now: () => Date,
): Router {
  const r = Router();
  r.get("/", (_req, res) => {
    const { user } = identityOf(res);
    const keys = Object.entries(storage.state.sshKeys)
      .filter(([, k]) => k.user === user)
      .map(([fingerprint, k]) => ({ fingerprint, publicKey: k.publicKey, addedAt: k.addedAt, addedBy: k.addedBy }));
    res.json({ keys });
  });
  r.post("/challenge", async (req, res) => {
    const { user } = identityOf(res);
    const { publicKey } = parse(keyChallengeBody, jsonBody(req), "key");
    res.status(201).json(await registration.challenge(user, publicKey));
  });
  r.post("/", async (req, res) => {
    const { user } = identityOf(res);
    const body = jsonBody(req);
    if (typeof body === "object" && body !== null && !("challenge" in body)) {
      throw fail.badRequest(
        "registering a key needs proof that you hold it: sign the challenge from POST /v1/keys/challenge with the new key (sshca key add does this)",
      );
    }
    const b = parse(keyBody, body, "key");
    res
      .status(201)
      .json(await registration.register(user, { kind: "token", id: tokenIdOf(res) }, b.challenge, b.signature));
  });
  r.post("/remove", async (req, res) => {
    const { user } = identityOf(res);
    const { fingerprint } = parse(z.strictObject({ fingerprint: FINGERPRINT }), jsonBody(req), "key");
    const removed = await removeSshKey({ storage, now }, user, fingerprint, user);
    wakeUser(user);
    res.json(removed);
  });
  return r;
}
