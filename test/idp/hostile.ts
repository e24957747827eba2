/**
 * A hostile OpenID provider for refusal tests: correct in everything (discovery, JWKS, client
 * authentication, PKCE S256, single-use codes, RFC 8252 loopback redirects) except the one defect
 * the control file asks for (./hostile-control.ts), so a relying party that accepts its token has
 * a bug. No login page: the authorization endpoint redirects straight back with a code.
 *
 *   node test/idp/hostile.ts --control control.json --tls-dir DIR [--port 0]
 *
 * Prints `hostile idp listening on https://127.0.0.1:PORT`, then one line per request
 * (`hostile GET /jwks`) and per device poll (`device-poll <epoch ms> <answer>`).
 */
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT } from "jose";
import type { HostileControl } from "./hostile-control.ts";
import { writeTestTls } from "./tls.ts";

const { values: args } = parseArgs({
  options: { control: { type: "string" }, "tls-dir": { type: "string" }, port: { type: "string", default: "0" } },
});
if (!args.control || !args["tls-dir"]) {
  console.error("usage: node test/idp/hostile.ts --control FILE --tls-dir DIR [--port N]");
  process.exit(2);
}
const controlFile = args.control;
const control = (): HostileControl => JSON.parse(readFileSync(controlFile, "utf8")) as HostileControl;
control();

const good = await generateKeyPair("RS256");
const other = await generateKeyPair("RS256");
const kid = randomBytes(8).toString("base64url");
const jwks = { keys: [{ ...(await exportJWK(good.publicKey)), kid, alg: "RS256", use: "sig" }] };

const random = () => randomBytes(24).toString("base64url");
const codes = new Map<string, { redirectUri: string; challenge: string; nonce?: string; expires: number }>();
const devices = new Map<string, { polls: number; slowed: boolean; expires: number }>();
const accessTokens = new Map<string, Record<string, unknown>>();
const refreshTokens = new Set<string>();
let issuer = "";

function claimsOf(c: HostileControl): Record<string, unknown> {
  const claims: Record<string, unknown> = { ...c.claims };
  if (c.mode === "no-groups") delete claims.groups;
  return claims;
}

/** The ID token, broken as the control file says (OpenID Connect Core 1.0 section 3.1.3.7 lists the checks). */
async function idToken(c: HostileControl, nonce: string | undefined): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const p: Record<string, unknown> = {
    ...claimsOf(c),
    iss: issuer,
    aud: c.clientId,
    iat: now,
    exp: now + c.idTokenTtl,
    auth_time: now,
    ...(nonce !== undefined ? { nonce } : {}),
  };
  if (c.mode === "wrong-iss") p.iss = "https://idp.attacker.invalid";
  if (c.mode === "wrong-aud") p.aud = "another-client";
  if (c.mode === "expired") Object.assign(p, { iat: now - 7200, auth_time: now - 7200, exp: now - 3600 });
  if (c.mode === "iat-future") Object.assign(p, { iat: now + 3600, exp: now + 3600 + c.idTokenTtl });
  if (c.mode === "nbf-future") p.nbf = now + 3600;
  if (c.mode === "nonce-mismatch") p.nonce = random();
  if (c.mode === "nonce-missing") delete p.nonce;
  if (c.mode === "alg-none") return new UnsecuredJWT(p).encode();
  const forged = c.mode === "bad-signature" || c.mode === "unknown-kid";
  return new SignJWT(p)
    .setProtectedHeader({ alg: "RS256", typ: "JWT", kid: c.mode === "unknown-kid" ? `${kid}-rotated` : kid })
    .sign(forged ? other.privateKey : good.privateKey);
}

async function tokens(c: HostileControl, nonce: string | undefined) {
  const access = random();
  const refresh = random();
  accessTokens.set(access, claimsOf(c));
  refreshTokens.add(refresh);
  console.log(`hostile issued id_token mode=${c.mode}`);
  return {
    access_token: access,
    token_type: "Bearer",
    expires_in: 600,
    refresh_token: refresh,
    scope: "openid profile email groups",
    id_token: await idToken(c, nonce),
  };
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store", ...headers });
  res.end(JSON.stringify(body));
}
const oauthError = (res: ServerResponse, error: string, description: string, status = 400) =>
  json(res, status, { error, error_description: description });

async function form(req: IncomingMessage): Promise<URLSearchParams> {
  let body = "";
  for await (const chunk of req) {
    body += String(chunk);
    if (body.length > 64 * 1024) throw new Error("body too large");
  }
  return new URLSearchParams(body);
}

/** RFC 6749 section 2.3.1: client_secret_basic (form-urlencoded id:secret) or client_secret_post. */
function clientAuthenticated(req: IncomingMessage, body: URLSearchParams, c: HostileControl): boolean {
  const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? "");
  let id = body.get("client_id");
  let secret = body.get("client_secret");
  if (basic) {
    const decoded = Buffer.from(basic[1]!, "base64").toString();
    const i = decoded.indexOf(":");
    const dec = (s: string) => decodeURIComponent(s.replace(/\+/g, " "));
    [id, secret] = [dec(decoded.slice(0, i)), dec(decoded.slice(i + 1))];
  }
  return id === c.clientId && secret === c.clientSecret;
}

/** RFC 8252 section 7.3: http on the loopback IP, any port, the registered path. */
function loopbackRedirect(uri: string | null): URL | undefined {
  const u = URL.parse(uri ?? "");
  return u && u.protocol === "http:" && u.hostname === "127.0.0.1" && u.pathname === "/callback" ? u : undefined;
}

function authorize(url: URL, res: ServerResponse, c: HostileControl) {
  const q = url.searchParams;
  const redirect = loopbackRedirect(q.get("redirect_uri"));
  // Never redirect to an unchecked URI (RFC 6749 section 4.1.2.1): answer the browser instead.
  if (q.get("client_id") !== c.clientId || !redirect)
    return oauthError(res, "invalid_request", "bad client or redirect");
  const back = (params: Record<string, string>) => {
    const state = q.get("state");
    for (const [k, v] of Object.entries({ ...params, ...(state !== null ? { state } : {}) })) {
      redirect.searchParams.set(k, v);
    }
    res.writeHead(302, { location: redirect.href }).end();
  };
  if (q.get("response_type") !== "code") return back({ error: "unsupported_response_type" });
  if (!(q.get("scope") ?? "").split(" ").includes("openid")) return back({ error: "invalid_scope" });
  const challenge = q.get("code_challenge");
  if (!challenge || q.get("code_challenge_method") !== "S256") {
    return back({ error: "invalid_request", error_description: "PKCE S256 required" });
  }
  const code = random();
  const nonce = q.get("nonce") ?? undefined;
  codes.set(code, { redirectUri: q.get("redirect_uri")!, challenge, nonce, expires: Date.now() + 60_000 });
  back({ code });
}

async function token(req: IncomingMessage, res: ServerResponse, c: HostileControl) {
  const body = await form(req);
  if (!clientAuthenticated(req, body, c)) {
    return json(res, 401, { error: "invalid_client" }, { "www-authenticate": 'Basic realm="hostile"' });
  }
  const grant = body.get("grant_type");
  if (grant === "authorization_code") {
    const code = codes.get(body.get("code") ?? "");
    codes.delete(body.get("code") ?? ""); // single use (RFC 6749 section 4.1.2)
    const verifier = body.get("code_verifier") ?? "";
    if (!code || code.expires < Date.now() || code.redirectUri !== body.get("redirect_uri")) {
      return oauthError(res, "invalid_grant", "unknown, used or expired code, or another redirect_uri");
    }
    if (createHash("sha256").update(verifier).digest("base64url") !== code.challenge) {
      return oauthError(res, "invalid_grant", "PKCE verification failed");
    }
    return json(res, 200, await tokens(c, code.nonce));
  }
  if (grant === "refresh_token") {
    const rt = body.get("refresh_token") ?? "";
    if (!refreshTokens.delete(rt)) return oauthError(res, "invalid_grant", "unknown refresh token");
    return json(res, 200, await tokens(c, undefined));
  }
  if (grant === "urn:ietf:params:oauth:grant-type:device_code") {
    const dc = body.get("device_code") ?? "";
    const d = devices.get(dc);
    if (!d) return oauthError(res, "invalid_grant", "unknown device code");
    d.polls += 1;
    const answer =
      d.polls <= c.device.pending
        ? "authorization_pending"
        : c.device.slowDown && !d.slowed
          ? "slow_down"
          : d.expires < Date.now()
            ? "expired_token"
            : c.device.outcome;
    if (answer === "slow_down") d.slowed = true;
    console.log(`device-poll ${Date.now()} ${answer}`);
    if (answer !== "tokens") return oauthError(res, answer, `device poll ${d.polls}`);
    devices.delete(dc);
    return json(res, 200, await tokens(c, undefined));
  }
  return oauthError(res, "unsupported_grant_type", String(grant));
}

async function deviceAuthorization(req: IncomingMessage, res: ServerResponse, c: HostileControl) {
  const body = await form(req);
  if (!clientAuthenticated(req, body, c)) return json(res, 401, { error: "invalid_client" });
  const deviceCode = random();
  const userCode = `${randomBytes(2).toString("hex")}-${randomBytes(2).toString("hex")}`.toUpperCase();
  devices.set(deviceCode, { polls: 0, slowed: false, expires: Date.now() + 600_000 });
  json(res, 200, {
    device_code: deviceCode,
    user_code: userCode,
    verification_uri: `${issuer}/device`,
    verification_uri_complete: `${issuer}/device?user_code=${userCode}`,
    expires_in: 600,
    interval: c.device.interval,
  });
}

function discovery() {
  return {
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    device_authorization_endpoint: `${issuer}/device/auth`,
    userinfo_endpoint: `${issuer}/userinfo`,
    jwks_uri: `${issuer}/jwks`,
    response_types_supported: ["code"],
    grant_types_supported: ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
    subject_types_supported: ["public"],
    id_token_signing_alg_values_supported: ["RS256"],
    code_challenge_methods_supported: ["S256"],
    token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post"],
    scopes_supported: ["openid", "profile", "email", "groups", "offline_access"],
    claims_supported: ["sub", "iss", "aud", "exp", "iat", "nonce", "preferred_username", "email", "groups"],
  };
}

async function route(req: IncomingMessage, res: ServerResponse) {
  const url = new URL(req.url ?? "/", issuer);
  console.log(`hostile ${req.method} ${url.pathname}`);
  const c = control();
  const at = `${req.method} ${url.pathname}`;
  if (at === "GET /.well-known/openid-configuration") return json(res, 200, discovery());
  if (at === "GET /jwks") return json(res, 200, jwks);
  if (at === "GET /authorize") return authorize(url, res, c);
  if (at === "POST /token") return token(req, res, c);
  if (at === "POST /device/auth") return deviceAuthorization(req, res, c);
  if (at === "GET /userinfo") {
    const claims = accessTokens.get(/^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1] ?? "");
    return claims ? json(res, 200, claims) : json(res, 401, { error: "invalid_token" });
  }
  json(res, 404, { error: "not_found" });
}

const tls = writeTestTls(args["tls-dir"]);
const server = createServer({ key: tls.key, cert: tls.chain }, (req, res) => {
  route(req, res).catch((err: unknown) => {
    console.error("hostile: request failed:", err);
    if (!res.headersSent) oauthError(res, "server_error", "see the hostile provider's log", 500);
  });
});
server.listen(Number(args.port), "127.0.0.1", () => {
  issuer = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  console.log(`hostile idp listening on ${issuer}`);
});
process.on("SIGTERM", () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
