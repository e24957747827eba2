import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import { mkdtemp, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { OidcSessionView } from "../../src/http/contract.js";
import type { ApiClient } from "../client.js";
import { CliError } from "../errors.js";

/** A browser can be opened here: $BROWSER, or a desktop session for xdg-open (macOS: open). */
export function canOpenBrowser(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.BROWSER || env.DISPLAY || env.WAYLAND_DISPLAY || process.platform === "darwin");
}

/** Opens `url` in the user's browser; resolves false when that failed (the URL is printed anyway). */
export function openBrowser(url: string, env: NodeJS.ProcessEnv): Promise<boolean> {
  const cmd = env.BROWSER?.split(":")[0] || (process.platform === "darwin" ? "open" : "xdg-open");
  return new Promise((resolve) => {
    try {
      const child = spawn(cmd, [url], { stdio: "ignore", detached: true, env });
      child.once("error", () => resolve(false));
      child.once("exit", (code) => resolve(code === 0));
      child.unref();
    } catch {
      resolve(false);
    }
  });
}

/**
 * Opens a URL that carries a secret (a one-time sign-in link) without putting it in the
 * browser's argv, where every local user can read it (/proc/PID/cmdline): the browser gets a
 * 0600 page in a 0700 directory that forwards to the link (as Jupyter does). The page stays until
 * the temp directory is cleaned; the link in it is single-use and expires within a minute.
 */
export async function openSecretUrl(url: string, env: NodeJS.ProcessEnv): Promise<boolean> {
  const dir = await mkdtemp(join(tmpdir(), "sshca-open-"));
  const file = join(dir, "open.html");
  const href = url.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
  await writeFile(
    file,
    `<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=${href}"><title>sshca</title>\n`,
    { mode: 0o600, flag: "wx" },
  );
  return openBrowser(pathToFileURL(file).href, env);
}

const PAGE = (title: string, text: string) =>
  `<!doctype html><meta charset="utf-8"><title>${title}</title><p>${text}</p>`;

/**
 * The authorization code flow with PKCE (RFC 7636) and a loopback redirect on a random port
 * (RFC 8252 section 7.3). The CLI keeps the code verifier until sshcad exchanges the code, and
 * checks the state the callback carries against the one sshcad put in the authorization URL.
 */
export async function browserSignIn(
  client: ApiClient,
  env: NodeJS.ProcessEnv,
  say: (line: string) => void,
  timeoutMs = 300_000,
): Promise<OidcSessionView | "no-browser"> {
  const verifier = randomBytes(32).toString("base64url");
  const codeChallenge = createHash("sha256").update(verifier).digest("base64url");
  let deliver: (params: URLSearchParams) => void = () => undefined;
  const callback = new Promise<URLSearchParams>((resolve) => (deliver = resolve));
  let expectedState = "";
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (url.pathname !== "/callback") {
      res.writeHead(404).end();
      return;
    }
    // A callback with another state is not ours (a stale tab, or a forgery): refuse, keep waiting.
    if (!url.searchParams.has("error") && url.searchParams.get("state") !== expectedState) {
      res
        .writeHead(400, { "content-type": "text/html" })
        .end(PAGE("sshca", "This sign-in link is not the one sshca is waiting for."));
      return;
    }
    res
      .writeHead(200, { "content-type": "text/html", "cache-control": "no-store" })
      .end(PAGE("sshca", "Signed in to sshca. You can close this window and return to the terminal."));
    deliver(url.searchParams);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  try {
    const port = (server.address() as AddressInfo).port;
    const start = await client.oidcStart({ redirectUri: `http://127.0.0.1:${port}/callback`, codeChallenge });
    const authUrl = new URL(start.authorizationUrl);
    if (authUrl.protocol !== "https:")
      throw new CliError("the server sent a sign-in URL that is not https; not opening it");
    expectedState = authUrl.searchParams.get("state") ?? "";
    if (!expectedState || authUrl.searchParams.get("code_challenge") !== codeChallenge)
      throw new CliError("the server sent a sign-in URL without this CLI's state or PKCE challenge; not opening it");
    say(`Signing in at ${authUrl.origin} in your browser. If it does not open, visit:\n  ${authUrl}`);
    if (!(await openBrowser(authUrl.toString(), env))) return "no-browser";
    let timer: NodeJS.Timeout | undefined;
    const params = await Promise.race([
      callback,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new CliError(`no sign-in within ${timeoutMs / 1000}s; run the command again`)),
          timeoutMs,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    const error = params.get("error");
    if (error) {
      const why = params.get("error_description");
      throw new CliError(`the identity provider refused the sign-in: ${error}${why ? ` (${why.slice(0, 200)})` : ""}`);
    }
    const code = params.get("code");
    if (!code) throw new CliError("the identity provider's answer carries no code");
    const iss = params.get("iss");
    return await client.oidcFinish({
      flow: start.flow,
      code,
      state: expectedState,
      ...(iss ? { iss } : {}),
      codeVerifier: verifier,
    });
  } finally {
    server.closeAllConnections();
    server.close();
  }
}
