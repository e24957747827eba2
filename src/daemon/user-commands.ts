import { constants } from "node:fs";
import { open, readFile, unlink } from "node:fs/promises";
import type { Command } from "commander";
import { adminRequest } from "../admin/client.js";
import { type CutOffReport, disableUser, enableUser, removeUser, removeUserKey } from "../admin/offboarding.js";
import {
  type AdminDeps,
  addUser,
  addUserKey,
  createToken,
  type IssuedToken,
  listTokens,
  listUsers,
  revokeToken,
} from "../admin/users.js";
import { parseToken } from "../auth/tokens.js";
import { SshcaError } from "../errors.js";

/** Runs an admin operation through the running daemon's socket, or on the data directory when none runs. */
export type Admin = <T>(
  viaSocket: (socket: string) => Promise<T | undefined>,
  offline: (deps: AdminDeps) => Promise<T> | T,
) => Promise<T>;

const enc = encodeURIComponent;
const TOKEN_FILE = "--token-file <file>";
const TOKEN_FILE_HELP = "write the token to this new file (mode 0600) instead of stdout";

/** `sshcad user ...` and `sshcad token ...`: people and their credentials, from the CA host. */
export function userCommands(program: Command, { admin, say }: { admin: Admin; say: (line: string) => void }): void {
  const out = (text: string) => process.stdout.write(`${text}\n`);
  /**
   * Mints through `mint` and hands the token out once: into a new 0600 file (created before the
   * token exists, so a bad path costs nothing) or on stdout.
   */
  const issueToken = async (
    mint: () => Promise<IssuedToken>,
    o: { json?: boolean; tokenFile?: string },
    verb: string,
    explain: string,
  ): Promise<void> => {
    const file = o.tokenFile ? await createSecretFile(o.tokenFile) : undefined;
    let t: IssuedToken;
    try {
      t = await mint();
      await file?.write(`${t.token}\n`);
    } catch (err) {
      await file?.discard();
      throw err;
    }
    await file?.close();
    if (o.json) {
      out(JSON.stringify(o.tokenFile ? { ...t, token: undefined, tokenFile: o.tokenFile } : t, null, 2));
      return;
    }
    say(`${verb} ${t.user} (groups: ${t.groups.join(", ")}). ${explain}`);
    if (o.tokenFile) {
      say(`API token written to ${o.tokenFile} (mode 0600; only its hash is kept), expires ${t.expiresAt}`);
      return;
    }
    say(`API token, shown once (only its hash is kept), expires ${t.expiresAt}:`);
    out(t.token);
  };

  const addKey = async (name: string, publicKey: string) => {
    const r = await admin(
      (s) => adminRequest<{ fingerprint: string }>(s, "POST", `/users/${enc(name)}/keys`, { publicKey }),
      (deps) => addUserKey(deps, name, publicKey),
    );
    say(`Registered SSH key ${r.fingerprint} for ${name}`);
  };

  const user = program.command("user").description("manage users: add, list, disable, enable, remove, sign-in keys");
  user
    .command("add <name>")
    .description("add a user and print their API token once")
    .requiredOption("-g, --group <group...>", "group(s) from the config")
    .option("--ssh-key <file>", "also register this public key for SSH sign-in (sshca auth ssh)")
    .option(TOKEN_FILE, TOKEN_FILE_HELP)
    .option("--json", "print JSON")
    .action(async (name: string, o: { group: string[]; sshKey?: string; json?: boolean; tokenFile?: string }) => {
      const publicKey = o.sshKey ? await readPublicKeyFile(o.sshKey) : undefined;
      const explain = publicKey
        ? `${name} signs in with the SSH key (sshca auth ssh); the API token also works (sshca token set), for scripts or as a fallback; revoke it with sshcad token revoke if unused.`
        : `Give ${name} this token (they run: sshca token set < file); it is their credential until it expires or is revoked.`;
      const mint = () =>
        admin(
          (s) => adminRequest<IssuedToken>(s, "POST", "/users", { name, groups: o.group }),
          (deps) => addUser(deps, name, o.group, "admin"),
        );
      await issueToken(mint, o, "Added user", explain);
      if (publicKey) await addKey(name, publicKey);
    });

  user
    .command("list")
    .description("list users, their groups and whether they are disabled")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      const { users } = await admin(
        (s) => adminRequest<{ users: ReturnType<typeof listUsers> }>(s, "GET", "/users"),
        (deps) => ({ users: listUsers(deps) }),
      );
      if (o.json) out(JSON.stringify(users, null, 2));
      else
        for (const u of users)
          out(`${u.user}\t${u.groups.join(",")}\t${u.source}\ttokens=${u.tokens}${u.disabled ? "\tDISABLED" : ""}`);
    });

  const cutOffOptions = (cmd: Command) =>
    cmd
      .option("--keep-certificates", "leave the user's live certificates valid (default: revoke them into the KRL)")
      .option("--json", "print JSON");
  const report = (r: CutOffReport, verb: string, json: boolean | undefined) => {
    if (json) return out(JSON.stringify(r, null, 2));
    say(`${verb} ${r.user}: ${r.tokens.length} token(s) and session(s) stopped working`);
    if (r.cancelled.length) say(`  their waiting requests ended: ${r.cancelled.join(", ")}`);
    if (r.withdrawn.length) say(`  their approvals stopped counting on: ${r.withdrawn.join(", ")}`);
    if (r.revoked.length) say(`  their certificates were revoked (in the KRL): ${r.revoked.join(", ")}`);
  };

  cutOffOptions(
    user
      .command("disable <name>")
      .description(
        "cut a user off now: no sign-in, token or session works; waiting requests end, approvals stop counting, live certificates are revoked",
      ),
  ).action(async (name: string, o: { keepCertificates?: boolean; json?: boolean }) => {
    const body = { keepCertificates: o.keepCertificates === true };
    const r = await admin(
      (s) => adminRequest<CutOffReport>(s, "POST", `/users/${enc(name)}/disable`, body),
      (deps) => disableUser(deps, name, "admin", body),
    );
    report(r, "Disabled", o.json);
  });

  user
    .command("enable <name>")
    .description("let a disabled user sign in again (their old tokens stay revoked)")
    .action(async (name: string) => {
      const r = await admin(
        (s) => adminRequest<{ user: string; tokensRevoked?: string[] }>(s, "POST", `/users/${enc(name)}/enable`, {}),
        (deps) => enableUser(deps, name, "admin"),
      );
      // Tokens stored while the disable was being committed (see enableUser): say so, they were
      // live. A daemon from before this field was added does not send it.
      const revoked = r.tokensRevoked ?? [];
      if (revoked.length > 0)
        say(`Revoked ${revoked.length} token(s) stored as ${name} was being disabled: ${revoked.join(", ")}`);
      say(`Enabled ${name}. Their old tokens stay revoked; a new one: sshcad token create ${name}`);
    });

  cutOffOptions(
    user
      .command("remove <name>")
      .description(
        "remove a user added with 'user add', with all their tokens, sessions and keys (as disable, then gone)",
      ),
  ).action(async (name: string, o: { keepCertificates?: boolean; json?: boolean }) => {
    const body = { keepCertificates: o.keepCertificates === true };
    const r = await admin(
      (s) => adminRequest<CutOffReport & { keys: string[] }>(s, "POST", `/users/${enc(name)}/remove`, body),
      (deps) => removeUser(deps, name, "admin", body),
    );
    report(r, "Removed", o.json);
    if (!o.json && r.keys.length) say(`  sign-in keys removed: ${r.keys.join(", ")}`);
  });

  const key = user.command("key").description("SSH keys a user signs in with");
  key
    .command("add <name> <file>")
    .description("register a public key the user signs in with (sshca auth ssh)")
    .action(async (name: string, file: string) => {
      await addKey(name, await readPublicKeyFile(file));
    });
  key
    .command("remove <name> <fingerprint>")
    .description("remove a sign-in key; sessions signed in with it stop working at once")
    .action(async (name: string, fingerprint: string) => {
      await admin(
        (s) => adminRequest(s, "POST", `/users/${enc(name)}/keys/remove`, { fingerprint }),
        (deps) => removeUserKey(deps, name, fingerprint, "admin"),
      );
      say(`Removed sign-in key ${fingerprint} of ${name}`);
    });

  const token = program.command("token").description("manage API tokens");
  token
    .command("create <user>")
    .description("mint another API token for a user (printed once)")
    .option(TOKEN_FILE, TOKEN_FILE_HELP)
    .option("--json", "print JSON")
    .action(async (name: string, o: { json?: boolean; tokenFile?: string }) => {
      const mint = () =>
        admin(
          (s) => adminRequest<IssuedToken>(s, "POST", `/users/${enc(name)}/tokens`),
          (deps) => createToken(deps, name, "admin"),
        );
      await issueToken(mint, o, "New token for", `Give it to ${name} (sshca token set < file).`);
    });
  token
    .command("revoke <tokenId>")
    .description("revoke an API token at once, and what was obtained through it (the id is the part after sshca_)")
    .action(async (tokenId: string) => {
      const id = parseToken(tokenId)?.id ?? tokenId;
      const r = await admin(
        (s) => adminRequest<{ tokenId: string; user: string }>(s, "POST", `/tokens/${enc(id)}/revoke`),
        (deps) => revokeToken(deps, id, "admin"),
      );
      say(`Revoked token ${r.tokenId} of ${r.user}`);
    });
  token
    .command("list")
    .description("token ids, owners and expiry (never the tokens themselves)")
    .option("--user <name>", "only this user's tokens")
    .option("--json", "print JSON")
    .action(async (o: { user?: string; json?: boolean }) => {
      const q = o.user ? `?user=${enc(o.user)}` : "";
      const { tokens } = await admin(
        (s) => adminRequest<{ tokens: ReturnType<typeof listTokens> }>(s, "GET", `/tokens${q}`),
        (deps) => ({ tokens: listTokens(deps, o.user) }),
      );
      if (o.json) out(JSON.stringify(tokens, null, 2));
      else
        for (const t of tokens)
          out(`${t.tokenId}\t${t.user}\texpires ${t.expiresAt}${t.revokedAt ? `\trevoked ${t.revokedAt}` : ""}`);
    });
}

/**
 * A public key file's one line. A private key is refused here, before anything is sent: an
 * operator who pointed at the wrong file must not ship a secret to the daemon (or its logs).
 */
export async function readPublicKeyFile(file: string): Promise<string> {
  let text: string;
  try {
    text = (await readFile(file, "utf8")).trim();
  } catch (err) {
    throw new SshcaError(
      "bad_request",
      `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  if (/PRIVATE KEY-----/.test(text)) {
    throw new SshcaError(
      "bad_request",
      `${file} is a private key; give the public key (${file.endsWith(".pub") ? file : `${file}.pub`}); nothing was sent`,
    );
  }
  return text;
}

/**
 * A new file for a secret: mode 0600 from the first byte, never an existing file and never
 * through a symlink planted where it should go. Discarded again if the secret never comes.
 */
export async function createSecretFile(
  path: string,
): Promise<{ write: (text: string) => Promise<void>; close: () => Promise<void>; discard: () => Promise<void> }> {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  const fh = await open(path, flags, 0o600).catch((err: NodeJS.ErrnoException) => {
    throw new SshcaError(
      "bad_request",
      err.code === "EEXIST"
        ? `${path} exists; a token is written only to a new file (nothing was changed)`
        : `cannot create ${path}: ${err.code ?? err.message}`,
    );
  });
  return {
    write: async (text) => {
      await fh.writeFile(text, "utf8");
      await fh.sync();
    },
    close: () => fh.close(),
    discard: async () => {
      await fh.close().catch(() => undefined);
      await unlink(path).catch(() => undefined);
    },
  };
}
