import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import { execa } from "execa";
import type { Ctx } from "../context.js";
import { emit } from "../context.js";
import { CliError } from "../errors.js";
import { DEFAULT_KEY, expandHome } from "../keys.js";
import { oidcSignIn } from "../oidc/sign-in.js";
import { updateConfigFile } from "../settings.js";

/** The ssh-keygen -Y namespace of sshca sign-ins (PROTOCOL.sshsig); fixed on both sides. */
const SIGNIN_NAMESPACE = "sshca-auth";

/**
 * Signs the daemon's challenge with `ssh-keygen -Y sign`. With --agent the public key file is
 * given, so ssh-keygen asks ssh-agent (or the hardware token behind it) for the signature; the
 * private key never has to be on this disk.
 */
export async function sign(message: string, namespace: string, keyFile: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "sshca-sign-"));
  try {
    const file = join(dir, "challenge");
    await writeFile(file, message, { mode: 0o600 });
    const r = await execa("ssh-keygen", ["-Y", "sign", "-f", keyFile, "-n", namespace, file], {
      stdin: "inherit",
      reject: false,
      timeout: 120_000,
    });
    if (r.exitCode !== 0) {
      throw new CliError(
        `ssh-keygen -Y sign failed: ${String(r.stderr).trim().split("\n").at(-1) || `exit ${r.exitCode}`}`,
      );
    }
    return await readFile(`${file}.sig`, "utf8");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `text` matched literally inside a RegExp (the server chooses the challenge id). */
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** sshca auth ssh */
export function authCommands(program: Command, ctx: Ctx): void {
  const auth = program.command("auth").description("sign in and out");
  auth
    .command("oidc")
    .description("sign in through your organisation's identity provider (browser, or a code with --device)")
    .option("--device", "sign in with a code on another device (RFC 8628), for terminals without a browser")
    .option("--json", "print JSON (without the token)")
    .action(async (o: { device?: boolean; json?: boolean }) => {
      const client = await ctx.client();
      const session = await oidcSignIn(ctx, client, { device: o.device === true });
      if (o.json)
        ctx.out(JSON.stringify({ user: session.user, groups: session.groups, expiresAt: session.expiresAt }, null, 2));
    });
  auth
    .command("logout")
    .description("end your session on the daemon and forget it here")
    .action(async () => {
      const client = await ctx.client();
      const r = await client.logout();
      await updateConfigFile(ctx.env, { token: undefined });
      ctx.err(`Signed out ${r.user}; the session no longer works anywhere`);
    });
  auth
    .command("ssh")
    .description("sign in with an SSH key (file, ssh-agent or hardware token); stores a session token")
    .option("--user <name>", "your sshca user name (default: your login name)")
    .option("-i, --key <path>", "identity file", DEFAULT_KEY)
    .option("--agent", "let ssh-agent sign (uses <key>.pub; the private key may live only in the agent or on a token)")
    .option("--json", "print JSON (without the token)")
    .action(async (o: { user?: string; key: string; agent?: boolean; json?: boolean }) => {
      const user = o.user ?? userInfo().username;
      const key = expandHome(o.key);
      const client = await ctx.client();
      const { challenge: c, server } = await client.signInChallenge(user);
      // Sign only what a sign-in challenge looks like, in sshca's own namespace: a hostile server
      // must not get a signature it could use elsewhere (git, files, another service).
      const expected = new RegExp(
        `^sshca sign-in\\nuser=${escapeRegExp(user)}\\nchallenge=${escapeRegExp(c.challenge)}\\nnonce=[A-Za-z0-9_-]{43}\\nca=SHA256:[A-Za-z0-9+/]{43}\\ntls=(SHA256:[A-Za-z0-9+/]{43}|none)\\nexpires=[0-9T:.Z-]+\\n$`,
      );
      const form =
        c.namespace === SIGNIN_NAMESPACE && /^ch_[a-z2-7]{20}$/.test(c.challenge) ? expected.exec(c.message) : null;
      if (!form) throw new CliError("the server sent a sign-in challenge in an unexpected form; not signing it");
      // The daemon names the TLS CA it serves under (or none): it must be the one this CLI verified,
      // or the challenge came through another server, which would get the session we sign for.
      if (server === undefined || form[1] !== server) {
        throw new CliError(
          "the sign-in challenge was issued by another server than the one this CLI verified (is something relaying your sign-in?); not signing it",
        );
      }
      const signature = await sign(c.message, SIGNIN_NAMESPACE, o.agent ? `${key}.pub` : key);
      const session = await client.signIn(c.challenge, signature);
      const path = await updateConfigFile(ctx.env, { token: session.token });
      const shown = {
        user: session.user,
        keyFingerprint: session.keyFingerprint,
        expiresAt: session.expiresAt,
        savedTo: path,
      };
      emit(
        ctx,
        o.json,
        shown,
        () => `Signed in as ${session.user} with ${session.keyFingerprint} until ${session.expiresAt}`,
      );
    });
}
