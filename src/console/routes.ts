import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import express, { type RequestHandler, Router } from "express";
import { z } from "zod";
import type { Decision } from "../domain/decision.js";
import type { OidcSignIn } from "../auth/oidc/signin.js";
import type { Config } from "../config/schema.js";
import { fail, SshcaError } from "../errors.js";
import { cookieSecretOf, identityOf, tokenIdOf } from "../http/auth.js";
import { clientOf } from "../http/client-address.js";
import { jsonBody, parse } from "../http/schemas.js";
import { clearCookie, readCookie, setSessionCookie, setSignInCookie, SIGNIN_COOKIE } from "../http/cookies.js";
import { continuePage, errorPage } from "./pages.js";
import type { ConsoleSessions } from "./sessions.js";

/** The built console (npm run build writes it next to dist/src). */
export const CONSOLE_DIST = resolve(import.meta.dirname, "..", "..", "console");

/**
 * The console's Content-Security-Policy: only its own bundled script and style, no inline code,
 * no framing, no other origin (W3C CSP level 3).
 */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export interface ConsoleRouteDeps {
  config: () => Config;
  sessions: ConsoleSessions;
  oidc: OidcSignIn | undefined;
  origin: () => string;
  /** Re-checks a credential (the CLI token behind a sign-in link). */
  stillValid: (tokenId: string) => Decision<unknown>;
  dist?: string;
}

const codeQuery = z.object({ code: z.string().regex(/^[A-Za-z0-9_-]{43}$/, "malformed sign-in link") });
const callbackQuery = z.object({
  code: z.string().min(1).max(4096).optional(),
  state: z.string().min(1).max(512).optional(),
  iss: z.string().max(1024).optional(),
  error: z.string().max(256).optional(),
  error_description: z.string().max(1024).optional(),
});

const consoleHeaders: RequestHandler = (_req, res, next) => {
  res.set("Content-Security-Policy", CONSOLE_CSP);
  next();
};

/** /console: the pages, their assets, and the two ways to sign in (identity provider, one-time link). */
export function consoleRoutes(deps: ConsoleRouteDeps): Router {
  const r = Router();
  const dist = deps.dist ?? CONSOLE_DIST;
  r.use(consoleHeaders);
  // Hashed file names: cached for good; a new build has new names.
  r.use(
    "/assets",
    express.static(join(dist, "assets"), { immutable: true, maxAge: "365d", index: false, fallthrough: false }),
  );

  const html = (res: express.Response, status: number, body: string) =>
    res.status(status).type("html").set("Cache-Control", "no-store").send(body);
  const refused = (res: express.Response, err: unknown) => {
    if (!(err instanceof SshcaError)) throw err;
    html(
      res,
      err.code === "rate_limited" ? 429 : err.code === "unauthenticated" ? 401 : 400,
      errorPage("Sign-in failed", err.message),
    );
  };

  r.get("/signin", async (req, res) => {
    if (!deps.oidc || !deps.config().auth.oidc) {
      html(res, 404, errorPage("No single sign-on here", "Sign in from your terminal: sshca console"));
      return;
    }
    try {
      const { flow, authorizationUrl } = await deps.oidc.startConsole(
        clientOf(req).key,
        `${deps.origin()}/console/callback`,
      );
      setSignInCookie(res, flow, 600);
      res.redirect(303, authorizationUrl);
    } catch (err) {
      refused(res, err);
    }
  });

  r.get("/callback", async (req, res) => {
    const flow = readCookie(req, SIGNIN_COOKIE);
    clearCookie(res, SIGNIN_COOKIE);
    try {
      const q = parse(callbackQuery, req.query, "callback");
      if (q.error)
        throw fail.unauthenticated(
          `the identity provider answered ${q.error}${q.error_description ? `: ${q.error_description}` : ""}`,
        );
      if (!deps.oidc || !flow || !/^of_[a-z2-7]{20}$/.test(flow) || !q.code || !q.state)
        throw fail.unauthenticated("this sign-in was not started in this browser, or it expired; start again");
      const session = await deps.oidc.finishConsole(flow, { code: q.code, state: q.state, iss: q.iss });
      setSessionCookie(res, session.token, session.maxAge);
      html(res, 200, continuePage("/console/"));
    } catch (err) {
      refused(res, err);
    }
  });

  r.get("/link", async (req, res) => {
    try {
      const { code } = parse(codeQuery, req.query, "sign-in link");
      const session = await deps.sessions.redeem(code, deps.stillValid);
      setSessionCookie(res, session.token, session.maxAge);
      // The code leaves the address bar (and history) at once; it is used up anyway.
      res.redirect(303, "/console/");
    } catch (err) {
      refused(res, err);
    }
  });

  const index = join(dist, "index.html");
  r.get(["/", "/*pages"], (_req, res) => {
    if (!existsSync(index)) {
      html(res, 503, errorPage("Console not built", "Run npm run build to build the console."));
      return;
    }
    res.set("Cache-Control", "no-cache").sendFile(index);
  });
  return r;
}

/** /v1/console: the signed-in state for the page, and one-time sign-in links for the CLI. */
export function consoleApiRoutes(sessions: ConsoleSessions): Router {
  const r = Router();
  r.get("/session", (_req, res) => {
    const secret = cookieSecretOf(res);
    if (!secret) throw fail.badRequest("this is the console's session; call it from the console");
    res.json(sessions.describe(tokenIdOf(res), secret));
  });
  r.post("/links", async (req, res) => {
    parse(z.strictObject({}), jsonBody(req), "link request");
    if (cookieSecretOf(res)) throw fail.forbidden("sign-in links are made from the CLI (sshca console)");
    res.status(201).json(await sessions.link(identityOf(res).user, tokenIdOf(res)));
  });
  return r;
}
