import type { OidcSessionView } from "../../src/http/contract.js";
import type { ApiClient } from "../client.js";
import type { Ctx } from "../context.js";
import { CliError } from "../errors.js";
import { updateConfigFile } from "../settings.js";
import { browserSignIn, canOpenBrowser } from "./browser.js";
import { deviceSignIn } from "./device.js";

/**
 * Signs in through the identity provider (browser, or the device flow with `device` or when no
 * browser can be opened) and stores the session in the config file (0600). Returns the session.
 */
export async function oidcSignIn(ctx: Ctx, client: ApiClient, opts: { device?: boolean }): Promise<OidcSessionView> {
  const methods = await client.authMethods();
  if (!methods.oidc)
    throw new CliError("this server has no single sign-on; sign in with a token or an SSH key (sshca auth ssh)");
  let session: OidcSessionView | "no-browser" = "no-browser";
  if (!opts.device && canOpenBrowser(ctx.env)) session = await browserSignIn(client, ctx.env, ctx.err);
  if (session === "no-browser") {
    if (!opts.device) ctx.err("No browser could be opened here; signing in with a code instead.");
    session = await deviceSignIn(client, ctx.err);
  }
  await updateConfigFile(ctx.env, { token: session.token });
  ctx.err(`Signed in as ${session.user} (groups: ${session.groups.join(", ")}) until ${session.expiresAt}`);
  return session;
}

/**
 * Before a command that needs a session: with none (no token anywhere), sign in first when the
 * server offers single sign-on; then go on. Answers the client to use.
 */
export async function ensureSignedIn(ctx: Ctx, opts: { device?: boolean }): Promise<ApiClient> {
  const settings = await ctx.settings();
  const client = await ctx.client();
  if (settings.token) return client;
  const methods = await client.authMethods();
  if (!methods.oidc) return client; // the command itself says how to get a token
  await oidcSignIn(ctx, client, opts);
  return ctx.client();
}

/**
 * A refused session can be renewed by signing in again: the server offers single sign-on and the
 * token came from the config file (a token given by flag or environment is the caller's choice).
 */
export async function sessionRenewable(ctx: Ctx, client: ApiClient): Promise<boolean> {
  if (ctx.globals().tokenFile || ctx.env.SSHCA_TOKEN?.trim()) return false;
  return (await client.authMethods()).oidc !== null;
}
