import type { Command } from "commander";
import { parseDuration, type RequestView } from "../../src/http/contract.js";
import type { Ctx } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { DEFAULT_KEY, expandHome, readPublicKey } from "../keys.js";
import { ensureSignedIn, oidcSignIn, sessionRenewable } from "../oidc/sign-in.js";
import { waitAndInstall } from "../wait.js";

/** Options shared by `login` and `request wait`. */
export function waitOptions(cmd: Command): Command {
  return cmd
    .option("-i, --key <path>", "identity file; the certificate is written to <key>-cert.pub", DEFAULT_KEY)
    .option("--no-agent", "do not add the key and certificate to ssh-agent")
    .option("--timeout <duration>", "give up waiting after this long (e.g. 10m)")
    .option("--json", "print the issued request as JSON");
}

export function timeoutMs(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const s = parseDuration(text);
  if (s === undefined || s === 0) throw new CliError(`--timeout ${text} is not a duration (e.g. 90s, 10m)`, EXIT.usage);
  return s * 1000;
}

/**
 * `--start`: a time with a zone (2026-05-04T09:00:00Z, ...+02:00), or a duration from now (+2h,
 * 30m). Sent as an ISO time; the daemon checks it against its own clock.
 */
export function parseStart(text: string, now: Date): string {
  const rel = parseDuration(text.replace(/^\+/, ""));
  if (rel !== undefined) return new Date(Math.floor(now.getTime() / 1000 + rel) * 1000).toISOString();
  if (
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(text) &&
    !Number.isNaN(Date.parse(text))
  )
    return text;
  throw new CliError(
    `--start ${text} is neither a time with a zone (2026-05-04T09:00:00Z) nor a duration from now (+2h)`,
    EXIT.usage,
  );
}

interface LoginOpts {
  role: string;
  host: string[];
  reason: string;
  ttl?: string;
  breakGlass?: boolean;
  new?: boolean;
  start?: string;
  reviewer?: string[];
  key: string;
  wait: boolean;
  agent: boolean;
  timeout?: string;
  json?: boolean;
  device?: boolean;
}

/** sshca login: ask for access, wait for approval, install the certificate. */
export function loginCommand(program: Command, ctx: Ctx): void {
  waitOptions(
    program
      .command("login")
      .description("request a certificate for a role and hosts, wait for approval, install it")
      .requiredOption("-r, --role <role>", "role to request")
      .requiredOption("-H, --host <host...>", "target host(s) from the inventory")
      .requiredOption("--reason <text>", "why (ticket, incident); shown to approvers and audited")
      .option("--ttl <duration>", "access: the certificate's lifetime (default: the role's defaultTtl)")
      .option(
        "--start <time>",
        "schedule the window: valid from this time (ISO with zone, or +2h); approvals may come before",
      )
      .option("--reviewer <name...>", "suggest who should approve: they are told first")
      .option("--new", "ask anew even when a live certificate for the same role, hosts and key exists (else reused)")
      .option(
        "--break-glass",
        "emergency: issued at once without approval (roles with breakGlass); reviewed afterwards",
      )
      .option("--no-wait", "print the request id and return at once")
      .option("--device", "if a sign-in is needed first, sign in with a code (RFC 8628) instead of a browser"),
  ).action(async (o: LoginOpts) => {
    const keyPath = expandHome(o.key);
    const deadline = timeoutMs(o.timeout);
    const pub = await readPublicKey(keyPath);
    const body = {
      role: o.role,
      hosts: o.host,
      reason: o.reason,
      publicKey: pub.line,
      ...(o.ttl !== undefined ? { ttl: o.ttl } : {}),
      ...(o.start !== undefined ? { start: parseStart(o.start, new Date()) } : {}),
      ...(o.reviewer?.length ? { reviewers: o.reviewer } : {}),
      ...(o.breakGlass ? { breakGlass: true } : {}),
      ...(o.new ? { reuse: false } : {}),
    };
    // No session yet: sign in through the identity provider first (when the server offers it).
    let client = await ensureSignedIn(ctx, { device: o.device === true });
    let req: RequestView;
    try {
      req = await client.createRequest(body);
    } catch (err) {
      // A stored session that ended (expired, signed out): sign in again once, then ask.
      if (!(err instanceof CliError && err.code === "unauthenticated") || !(await sessionRenewable(ctx, client)))
        throw err;
      ctx.err(`${err.message}; signing in again`);
      await oidcSignIn(ctx, client, { device: o.device === true });
      client = await ctx.client();
      req = await client.createRequest(body);
    }
    if (!o.wait) {
      ctx.out(o.json ? JSON.stringify(req, null, 2) : req.id);
      if (!o.json)
        ctx.err(
          req.reused
            ? `A live certificate of ${req.id} covers this already (no new request); install it with: sshca request wait ${req.id}`
            : `Request ${req.id} is ${req.state}; pick it up with: sshca request wait ${req.id}`,
        );
      return;
    }
    await waitAndInstall(ctx, client, req, {
      keyPath,
      agent: o.agent,
      json: o.json === true,
      timeoutMs: deadline,
    });
  });
}
