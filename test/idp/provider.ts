/**
 * A real OpenID Provider for tests: oidc-provider 9 over HTTPS on 127.0.0.1.
 *
 *   node test/idp/provider.ts --config idp.json --tls-dir DIR [--port 0]
 *
 * Prints `idp listening on https://127.0.0.1:PORT` (the issuer) once it serves. It writes a fresh
 * CA (DIR/ca.crt, the relying party's trust anchor) and a server certificate into DIR. The config
 * file is described in ./config.ts; users and lifetimes are re-read on every lookup.
 *
 * What it does, as a company IdP would:
 * - authorization code flow with PKCE S256 required for every client (RFC 7636, RFC 9700 2.1.1);
 *   native clients may use any port on a registered 127.0.0.1 redirect (RFC 8252 section 7.3);
 * - device authorization grant (RFC 8628), pages at /device; the poll interval is `deviceInterval`
 *   (RFC 8628 section 3.2; 5 s when unset). oidc-provider never answers slow_down: the hostile
 *   provider does;
 * - scopes openid, profile, email, groups, offline_access; the claims of the granted scopes are
 *   put into the ID token too (conformIdTokenClaims: false), as Keycloak and Okta do for groups;
 * - refresh tokens are issued to every client allowed the refresh_token grant, with or without
 *   offline_access (as Keycloak does). Without offline_access they end with the sign-in session
 *   (sessionTtl); a refresh re-reads the user, so changed groups show up there too;
 * - sign-in form checked against the users file; consent is granted without a page.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import Provider, { type Configuration } from "oidc-provider";
import { type IdpConfig, readIdpConfig } from "./config.ts";
import { interaction } from "./interactions.ts";
import { confirmPage, deviceDonePage, errorPage, logoutPage, page, userCodePage } from "./pages.ts";
import { writeTestTls } from "./tls.ts";

const { values: args } = parseArgs({
  options: {
    config: { type: "string" },
    "tls-dir": { type: "string" },
    port: { type: "string", default: "0" },
  },
});
if (!args.config || !args["tls-dir"]) {
  console.error("usage: node test/idp/provider.ts --config FILE --tls-dir DIR [--port N]");
  process.exit(2);
}
const configFile = args.config;
const config = (): IdpConfig => readIdpConfig(configFile);
const startConfig = config();

function signingKey() {
  const jwk = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" });
  return { ...jwk, kid: randomBytes(8).toString("base64url"), alg: "RS256", use: "sig" };
}

const html = (body: string) => (ctx: { type: string; body: unknown }) => {
  ctx.type = "html";
  ctx.body = body;
};

function providerConfig(): Configuration {
  return {
    clients: startConfig.clients,
    jwks: { keys: [signingKey()] },
    cookies: { keys: [randomBytes(32).toString("base64url")] },
    responseTypes: ["code"],
    pkce: { required: () => true },
    scopes: ["openid", "offline_access", "profile", "email", "groups"],
    claims: {
      openid: ["sub"],
      profile: ["preferred_username", "name"],
      email: ["email", "email_verified"],
      groups: ["groups"],
    },
    conformIdTokenClaims: false,
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed("refresh_token"),
    // Re-read on every lookup: a test changes a person's groups and the next sign-in sees it.
    findAccount: async (_ctx, sub) => {
      const user = Object.values(config().users).find((u) => u.sub === sub);
      if (!user) return undefined;
      return { accountId: sub, claims: async () => ({ ...user.claims, sub }) };
    },
    ttl: {
      IdToken: () => config().idTokenTtl ?? 600,
      AccessToken: () => config().accessTokenTtl ?? 600,
      Session: () => config().sessionTtl ?? 3600,
      DeviceCode: () => config().deviceCodeTtl ?? 600,
      RefreshToken: () => config().refreshTokenTtl ?? 86_400,
      Interaction: () => 600,
      Grant: () => 86_400,
    },
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      deviceFlow: {
        enabled: true,
        userCodeInputSource: (ctx, form, _out, err) => {
          const error = !err
            ? undefined
            : "userCode" in err || err.name === "NoCodeError"
              ? "That code is not valid. Try again."
              : err.name === "AbortedError"
                ? "Sign-in aborted."
                : `Sign-in failed: ${err.message}`;
          html(userCodePage(form, error))(ctx);
        },
        userCodeConfirmSource: (ctx, form, client, _info, userCode) =>
          html(confirmPage(form, client.clientName ?? client.clientId, userCode))(ctx),
        successSource: (ctx) => html(deviceDonePage())(ctx),
      },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: (ctx, form) => html(logoutPage(form, ctx.host))(ctx),
        postLogoutSuccessSource: (ctx) => html(page("Signed out", "<p>You are signed out.</p>"))(ctx),
      },
    },
    renderError: (ctx, out) => html(errorPage("Sign-in error", { ...out }))(ctx),
  };
}

const tls = writeTestTls(args["tls-dir"]);
let handle: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => {
  res.writeHead(503).end();
};
const server = createServer({ key: tls.key, cert: tls.chain }, (req, res) => handle(req, res));
server.listen(Number(args.port), "127.0.0.1", () => {
  const issuer = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = new Provider(issuer, providerConfig());
  // Why a sign-in failed, on stderr (the helper's log()); never tokens or passwords.
  for (const event of ["server_error", "authorization.error", "grant.error", "userinfo.error"]) {
    (provider as NodeJS.EventEmitter).on(event, (...a: unknown[]) => {
      const err = a.at(-1) as { message?: string; error_description?: string };
      console.error(`idp ${event}: ${err.message ?? ""} ${err.error_description ?? ""}`);
    });
  }
  // RFC 8628 section 3.2: without `interval` a client polls every 5 s; tests set it lower.
  provider.use(async (ctx, next) => {
    await next();
    const interval = config().deviceInterval;
    if (ctx.path === "/device/auth" && ctx.status === 200 && interval !== undefined) {
      ctx.body = { ...(ctx.body as object), interval };
    }
  });
  const oidc = provider.callback();
  handle = (req, res) => {
    interaction(provider, config, req, res).then(
      (done) => {
        if (!done) void oidc(req, res);
      },
      (err: unknown) => {
        console.error("idp interaction failed:", err);
        if (!res.headersSent) res.writeHead(500).end();
      },
    );
  };
  console.log(`idp listening on ${issuer}`);
});

process.on("SIGTERM", () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
