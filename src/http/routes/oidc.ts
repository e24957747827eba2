import { Router } from "express";
import { z } from "zod";
import type { OidcSignIn } from "../../auth/oidc/signin.js";
import type { Config } from "../../config/schema.js";
import { fail, SshcaError } from "../../errors.js";
import { type AuthDeps, throttled } from "../auth.js";
import { clientOf } from "../client-address.js";
import type { RateLimiter } from "../rate-limit.js";
import { jsonBody, parse } from "../schemas.js";

const flowId = z.string().regex(/^of_[a-z2-7]{20}$/, "malformed sign-in id");
const startBody = z.strictObject({
  redirectUri: z.string().max(128),
  /** RFC 7636: BASE64URL(SHA256(code_verifier)), 43 characters. */
  codeChallenge: z.string().regex(/^[A-Za-z0-9_-]{43}$/, "codeChallenge must be an S256 PKCE challenge"),
});
const finishBody = z.strictObject({
  flow: flowId,
  code: z.string().min(1).max(4096),
  state: z.string().min(1).max(512),
  /** RFC 9207: the issuer the callback named, when the provider sends it. */
  iss: z.string().max(1024).optional(),
  /** RFC 7636: 43 to 128 characters of [A-Za-z0-9-._~]. */
  codeVerifier: z.string().regex(/^[A-Za-z0-9._~-]{43,128}$/, "codeVerifier must be a PKCE code verifier"),
});
const pollBody = z.strictObject({ flow: flowId });

/**
 * /v1/auth/oidc: single sign-on through the identity provider, for the CLI. Unauthenticated,
 * so a client address with too many failed sign-ins is turned away (429) before anything runs.
 */
export function oidcRoutes(
  config: () => Config,
  signIn: OidcSignIn | undefined,
  auth: Pick<AuthDeps, "failures">,
  /** New sign-ins per client address (each costs a flow and, for the device grant, a call to the provider). */
  starts: RateLimiter,
): Router {
  const r = Router();
  const admitted = (key: string) => {
    if (!starts.take(key)) throw throttled(starts.waitFor(key), "too many sign-ins started from this address");
  };
  const ready = (): OidcSignIn => {
    if (!signIn || !config().auth.oidc)
      throw fail.notFound("single sign-on is not configured on this server (auth.oidc)");
    return signIn;
  };
  /**
   * Counts a refused sign-in against the client (it is audited already); past the limit the
   * answer is 429 with Retry-After, as for any failed sign-in.
   */
  const counted = async <T>(key: string, work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (err) {
      const refused = err instanceof SshcaError && (err.code === "unauthenticated" || err.code === "forbidden");
      if (refused && !auth.failures.take(key))
        throw throttled(auth.failures.waitFor(key), "too many failed sign-ins from this address");
      throw err;
    }
  };

  r.post("/start", async (req, res) => {
    const ip = clientOf(req).key;
    const body = parse(startBody, jsonBody(req), "sign-in");
    const s = ready();
    admitted(ip);
    res.status(201).json(await s.startBrowser(ip, body.redirectUri, body.codeChallenge));
  });
  r.post("/finish", async (req, res) => {
    const ip = clientOf(req).key;
    const body = parse(finishBody, jsonBody(req), "sign-in");
    const s = ready();
    res.json(
      await counted(ip, () =>
        s.finishBrowser(body.flow, { code: body.code, state: body.state, iss: body.iss }, body.codeVerifier),
      ),
    );
  });
  r.post("/device", async (req, res) => {
    const ip = clientOf(req).key;
    parse(z.strictObject({}), jsonBody(req), "sign-in");
    const s = ready();
    admitted(ip);
    res.status(201).json(await s.startDevice(ip));
  });
  r.post("/device/poll", async (req, res) => {
    const ip = clientOf(req).key;
    const { flow } = parse(pollBody, jsonBody(req), "sign-in");
    const s = ready();
    const answer = await counted(ip, () => s.pollDevice(flow));
    res.json(answer.status === "done" ? { status: "done", ...answer.session } : answer);
  });
  return r;
}
