import * as jose from "jose";
import * as oauth from "oauth4webapi";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { HOSTILE_MODES, type HostileIdp, type HostileMode, startHostileIdp } from "../helpers/idp.js";
import { type AuthRequest, authorizationRequest, discover, redeem, type Rp } from "./rp.js";

const REDIRECT = "http://127.0.0.1:4567/callback";
let h: HostileIdp;
let rp: Rp;
let jwks: ReturnType<typeof jose.createLocalJWKSet>;

beforeAll(async () => {
  h = await startHostileIdp();
  rp = await discover(h);
  jwks = jose.createLocalJWKSet((await (await rp.fetch(rp.as.jwks_uri!)).json()) as jose.JSONWebKeySet);
});
afterAll(() => h?.stop());

/** Follows the authorization endpoint's redirect (no login page) and returns the callback URL. */
async function authorize(scope = "openid profile email groups"): Promise<{ req: AuthRequest; callback: URL }> {
  const req = await authorizationRequest(rp, REDIRECT, scope);
  const res = await rp.fetch(req.url);
  expect(res.status).toBe(302);
  return { req, callback: new URL(res.headers.get("location")!) };
}

/** The raw token response, without oauth4webapi's ID token checks (those are what is being fooled). */
async function tokenResponse(req: AuthRequest, callback: URL) {
  const params = oauth.validateAuthResponse(rp.as, rp.client, callback, req.state);
  const res = await oauth.authorizationCodeGrantRequest(rp.as, rp.client, rp.auth, params, REDIRECT, req.verifier, {
    [oauth.customFetch]: rp.fetch,
  });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

/**
 * Every check OpenID Connect Core 3.1.3.7 asks of a relying party, strictly (signature against the
 * JWKS, RS256 only, iss, aud, exp, nbf, iat not in the future, nonce) plus the groups claim. Names
 * the first failed check, or "ok".
 */
async function verdict(idToken: string, nonce: string): Promise<string> {
  try {
    const { payload } = await jose.jwtVerify(idToken, jwks, {
      issuer: h.issuer,
      audience: h.clientId,
      algorithms: ["RS256"],
      maxTokenAge: "10 minutes",
      requiredClaims: ["iat", "exp", "nonce"],
    });
    if (payload.nonce !== nonce) return "nonce";
    if (!Array.isArray(payload.groups)) return "groups";
    return "ok";
  } catch (err) {
    if (err instanceof jose.errors.JWTClaimValidationFailed || err instanceof jose.errors.JWTExpired) return err.claim;
    if (err instanceof jose.errors.JWSSignatureVerificationFailed) return "signature";
    if (err instanceof jose.errors.JWKSNoMatchingKey) return "kid";
    if (err instanceof jose.errors.JOSEAlgNotAllowed) return "alg";
    throw err;
  }
}

const FAILS: Record<HostileMode, string> = {
  good: "ok",
  "wrong-iss": "iss",
  "wrong-aud": "aud",
  expired: "exp",
  "iat-future": "iat",
  "nbf-future": "nbf",
  "bad-signature": "signature",
  "unknown-kid": "kid",
  "nonce-mismatch": "nonce",
  "nonce-missing": "nonce",
  "no-groups": "groups",
  "alg-none": "alg",
};

describe("hostile provider: each mode breaks exactly one ID token check", () => {
  test.each(HOSTILE_MODES.map((m) => [m, FAILS[m]]))("%s fails the %s check", async (mode, check) => {
    h.set({ mode });
    const { req, callback } = await authorize();
    const { status, body } = await tokenResponse(req, callback);
    expect(status).toBe(200);
    expect(await verdict(body.id_token!, req.nonce)).toBe(check);
    const header = jose.decodeProtectedHeader(body.id_token!);
    const published = (await (await rp.fetch(rp.as.jwks_uri!)).json()) as jose.JSONWebKeySet;
    // bad-signature reuses the published kid: a client that trusts the kid alone is fooled.
    if (mode === "bad-signature") expect(published.keys.map((k) => k.kid)).toContain(header.kid);
    if (mode === "unknown-kid") expect(published.keys.map((k) => k.kid)).not.toContain(header.kid);
    expect(h.log()).toContain(`hostile issued id_token mode=${mode}`);
  });

  test("good passes a standard relying party's checks, userinfo included; no-groups lacks groups there too", async () => {
    h.set({ mode: "good" });
    const good = await authorize();
    const { claims, tokens } = await redeem(rp, good.req, good.callback);
    expect(claims).toMatchObject({ iss: h.issuer, aud: h.clientId, sub: "u-alice", groups: ["dev"] });
    const info = await oauth.processUserInfoResponse(
      rp.as,
      rp.client,
      "u-alice",
      await oauth.userInfoRequest(rp.as, rp.client, tokens.access_token, { [oauth.customFetch]: rp.fetch }),
    );
    expect(info.groups).toEqual(["dev"]);
    h.set({ mode: "no-groups" });
    const bare = await authorize();
    const second = await redeem(rp, bare.req, bare.callback);
    expect(second.claims.groups).toBeUndefined();
  });
});

describe("hostile provider: the protocol around the token is correct", () => {
  test("state is echoed; PKCE, client secret and single-use codes are enforced", async () => {
    h.set({ mode: "good" });
    const { req, callback } = await authorize();
    expect(callback.searchParams.get("state")).toBe(req.state);
    const wrongVerifier = { ...req, verifier: oauth.generateRandomCodeVerifier() };
    expect((await tokenResponse(wrongVerifier, callback)).body.error).toBe("invalid_grant");
    const fresh = await authorize();
    expect((await tokenResponse(fresh.req, fresh.callback)).status).toBe(200);
    expect((await tokenResponse(fresh.req, fresh.callback)).body.error).toBe("invalid_grant");
    const again = await authorize();
    const params = oauth.validateAuthResponse(rp.as, rp.client, again.callback, again.req.state);
    const res = await oauth.authorizationCodeGrantRequest(
      rp.as,
      rp.client,
      oauth.ClientSecretBasic("not the secret"),
      params,
      REDIRECT,
      again.req.verifier,
      { [oauth.customFetch]: rp.fetch },
    );
    expect(res.status).toBe(401);
  });

  test("no PKCE: error redirect; a redirect off the loopback callback: no redirect at all", async () => {
    const req = await authorizationRequest(rp, REDIRECT, "openid");
    const noPkce = new URL(req.url);
    noPkce.searchParams.delete("code_challenge");
    const back = new URL((await rp.fetch(noPkce)).headers.get("location")!);
    expect(back.searchParams.get("error")).toBe("invalid_request");
    for (const uri of ["http://evil.test/callback", "http://127.0.0.1:4567/elsewhere"]) {
      const bad = new URL(req.url);
      bad.searchParams.set("redirect_uri", uri);
      const res = await rp.fetch(bad);
      expect(res.status).toBe(400);
      expect(res.headers.get("location")).toBeNull();
    }
  });
});

describe("hostile provider: device grant answers as the control file says (RFC 8628 3.5)", () => {
  async function pollAll(): Promise<string[]> {
    const res = await oauth.deviceAuthorizationRequest(
      rp.as,
      rp.client,
      rp.auth,
      { scope: "openid groups" },
      {
        [oauth.customFetch]: rp.fetch,
      },
    );
    const device = await oauth.processDeviceAuthorizationResponse(rp.as, rp.client, res);
    expect(device.interval).toBe(1);
    const answers: string[] = [];
    // The hostile provider does not time polls, so this test need not wait the interval.
    for (let i = 0; i < 10; i++) {
      const poll = await oauth.deviceCodeGrantRequest(rp.as, rp.client, rp.auth, device.device_code, {
        [oauth.customFetch]: rp.fetch,
      });
      const body = (await poll.json()) as { error?: string; id_token?: string };
      answers.push(body.error ?? "tokens");
      if (!["authorization_pending", "slow_down"].includes(body.error ?? "")) return answers;
    }
    return answers;
  }

  test.each([
    [
      { pending: 2, slowDown: true, outcome: "tokens" as const },
      ["authorization_pending", "authorization_pending", "slow_down", "tokens"],
    ],
    [{ pending: 0, slowDown: false, outcome: "access_denied" as const }, ["access_denied"]],
    [{ pending: 1, slowDown: false, outcome: "expired_token" as const }, ["authorization_pending", "expired_token"]],
  ])("%j answers %j", async (device, expected) => {
    h.set({ mode: "good", device });
    const before = h.devicePolls().length;
    expect(await pollAll()).toEqual(expected);
    // The provider logs each poll on stdout, which may reach us just after its HTTP answer.
    const logged = await h.waitForDevicePolls(before + expected.length);
    expect(logged.slice(before).map((p) => p.answer)).toEqual(expected);
  });
});
