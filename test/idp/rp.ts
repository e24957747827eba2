/**
 * A standard relying party (oauth4webapi) for the provider tests: it proves the test providers
 * speak OpenID Connect as a library expects, independently of sshcad's own client code.
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import * as oauth from "oauth4webapi";
import { fetchTrusting } from "../helpers/idp.js";

export interface Rp {
  as: oauth.AuthorizationServer;
  client: oauth.Client;
  auth: oauth.ClientAuth;
  fetch: ReturnType<typeof fetchTrusting>;
}

/** OpenID Connect Discovery 1.0 over HTTPS, trusting only the provider's CA file. */
export async function discover(p: { issuer: string; caFile: string; clientId: string; clientSecretFile: string }) {
  const fetch = fetchTrusting(p.caFile);
  const issuer = new URL(p.issuer);
  const as = await oauth.processDiscoveryResponse(
    issuer,
    await oauth.discoveryRequest(issuer, { [oauth.customFetch]: fetch }),
  );
  const client: oauth.Client = { client_id: p.clientId };
  return { as, client, auth: oauth.ClientSecretBasic(readFileSync(p.clientSecretFile, "utf8")), fetch };
}

/** A loopback HTTP server standing in for the CLI's callback (RFC 8252 section 7.3), on a free port. */
export async function callbackServer(): Promise<{ redirectUri: string; close(): Promise<void> }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html" }).end("<!DOCTYPE html><title>done</title><p>signed in</p>");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    redirectUri: `http://127.0.0.1:${port}/callback`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface AuthRequest {
  url: string;
  state: string;
  nonce: string;
  verifier: string;
  redirectUri: string;
}

/** Authorization code request with PKCE S256, state and nonce (OpenID Connect Core 3.1.2.1). */
export async function authorizationRequest(rp: Rp, redirectUri: string, scope: string): Promise<AuthRequest> {
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  const url = new URL(rp.as.authorization_endpoint!);
  url.search = new URLSearchParams({
    client_id: rp.client.client_id,
    redirect_uri: redirectUri,
    response_type: "code",
    scope,
    state,
    nonce,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
  }).toString();
  return { url: url.href, state, nonce, verifier, redirectUri };
}

/** Checks the callback (state, iss) and redeems the code; the ID token checks are oauth4webapi's. */
export async function redeem(rp: Rp, req: AuthRequest, callbackUrl: URL) {
  const params = oauth.validateAuthResponse(rp.as, rp.client, callbackUrl, req.state);
  const res = await oauth.authorizationCodeGrantRequest(
    rp.as,
    rp.client,
    rp.auth,
    params,
    req.redirectUri,
    req.verifier,
    {
      [oauth.customFetch]: rp.fetch,
    },
  );
  const tokens = await oauth.processAuthorizationCodeResponse(rp.as, rp.client, res, {
    expectedNonce: req.nonce,
    requireIdToken: true,
  });
  return { tokens, claims: oauth.getValidatedIdTokenClaims(tokens)! };
}

export async function refresh(rp: Rp, refreshToken: string) {
  const res = await oauth.refreshTokenGrantRequest(rp.as, rp.client, rp.auth, refreshToken, {
    [oauth.customFetch]: rp.fetch,
  });
  const tokens = await oauth.processRefreshTokenResponse(rp.as, rp.client, res);
  return { tokens, claims: oauth.getValidatedIdTokenClaims(tokens) };
}

/** RFC 8628 section 3.1. */
export async function startDevice(rp: Rp, scope: string) {
  const res = await oauth.deviceAuthorizationRequest(
    rp.as,
    rp.client,
    rp.auth,
    { scope },
    { [oauth.customFetch]: rp.fetch },
  );
  return oauth.processDeviceAuthorizationResponse(rp.as, rp.client, res);
}

/**
 * RFC 8628 section 3.4/3.5 polling: waits `interval` seconds between polls, 5 more after
 * slow_down; returns the tokens or throws the final error (access_denied, expired_token, ...).
 */
export async function pollDevice(rp: Rp, device: oauth.DeviceAuthorizationResponse, answers: string[] = []) {
  let interval = device.interval ?? 5;
  for (;;) {
    await new Promise((r) => setTimeout(r, interval * 1000));
    const res = await oauth.deviceCodeGrantRequest(rp.as, rp.client, rp.auth, device.device_code, {
      [oauth.customFetch]: rp.fetch,
    });
    try {
      const tokens = await oauth.processDeviceCodeResponse(rp.as, rp.client, res);
      answers.push("tokens");
      return { tokens, claims: oauth.getValidatedIdTokenClaims(tokens)! };
    } catch (err) {
      const code = err instanceof oauth.ResponseBodyError ? err.error : "";
      answers.push(code);
      if (code === "slow_down") interval += 5;
      else if (code !== "authorization_pending") throw err;
    }
  }
}
