/**
 * The provider's own interaction routes (oidc-provider's devInteractions accept any login without a
 * password and load external fonts): a login form checked against the users file, consent granted
 * without asking (a first-party provider, as a company IdP is for its own CA), and Cancel.
 *   GET  /interaction/:uid         login form, or consent granted at once
 *   POST /interaction/:uid/login   login + password
 *   POST /interaction/:uid/abort   error=access_denied back to the client
 */
import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type Provider from "oidc-provider";
import type { IdpConfig } from "./config.ts";
import { errorPage, loginPage } from "./pages.ts";

const MAX_FORM = 16 * 1024;

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  let body = "";
  for await (const chunk of req) {
    body += String(chunk);
    if (body.length > MAX_FORM) throw new Error("form too large");
  }
  return new URLSearchParams(body);
}

function send(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
  res.end(html);
}

const same = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/** Handles /interaction/... requests; returns false for any other path. */
export async function interaction(
  provider: Provider,
  config: () => IdpConfig,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<boolean> {
  const m = /^\/interaction\/([\w-]+)(\/login|\/abort)?$/.exec(new URL(req.url ?? "/", "http://x").pathname);
  if (!m) return false;
  const [, uid, action] = m;
  try {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) return (send(res, 400, errorPage("Sign-in error", { error: "wrong interaction" })), true);
    const client = String(details.params.client_id);
    const paths = { action: `/interaction/${uid}/login`, abort: `/interaction/${uid}/abort`, client };

    if (action === "/abort" && req.method === "POST") {
      await provider.interactionFinished(
        req,
        res,
        { error: "access_denied", error_description: "End-User aborted interaction" },
        { mergeWithLastSubmission: false },
      );
    } else if (action === "/login" && req.method === "POST") {
      const form = await readForm(req);
      const login = form.get("login") ?? "";
      const { users } = config();
      const user = Object.hasOwn(users, login) ? users[login] : undefined;
      if (!user || !same(form.get("password") ?? "", user.password)) {
        send(res, 401, loginPage({ ...paths, login, error: "Invalid username or password." }));
        return true;
      }
      await provider.interactionFinished(
        req,
        res,
        { login: { accountId: user.sub } },
        { mergeWithLastSubmission: false },
      );
    } else if (action === undefined && req.method === "GET" && details.prompt.name === "login") {
      send(res, 200, loginPage(paths));
    } else if (action === undefined && req.method === "GET" && details.prompt.name === "consent") {
      await grantConsent(provider, req, res, details);
    } else {
      send(res, 405, errorPage("Sign-in error", { error: `${req.method} ${action ?? ""} not allowed here` }));
    }
  } catch (err) {
    // An expired or unknown interaction (SessionNotFound) and the like: a page, never a crash.
    const e = err as { message?: string; error_description?: string };
    if (!res.headersSent) send(res, 400, errorPage("Sign-in error", { error: e.error_description ?? e.message }));
  }
  return true;
}

type Details = Awaited<ReturnType<Provider["interactionDetails"]>>;

/** Grants what the client asked for, as oidc-provider's own consent step does. */
async function grantConsent(provider: Provider, req: IncomingMessage, res: ServerResponse, details: Details) {
  const { prompt, params, session, grantId } = details;
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session!.accountId, clientId: String(params.client_id) });
  if (!grant) throw new Error("grant not found");
  const missing = prompt.details as {
    missingOIDCScope?: string[];
    missingOIDCClaims?: string[];
    missingResourceScopes?: Record<string, string[]>;
  };
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(" "));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(" "));
  }
  await provider.interactionFinished(
    req,
    res,
    { consent: { grantId: await grant.save() } },
    { mergeWithLastSubmission: true },
  );
}
