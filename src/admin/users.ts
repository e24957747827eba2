import type { AccessService } from "../access/service.js";
import { localSignInRefusal, userStatus } from "../auth/credentials.js";
import { registerSshKey } from "../auth/ssh-signin.js";
import { mintToken } from "../auth/tokens.js";
import { IDENT, isReservedName } from "../config/names.js";
import type { Config } from "../config/schema.js";
import { fail } from "../errors.js";
import { put, type Storage } from "../store/port.js";

export interface AdminDeps {
  config: () => Config;
  storage: Storage;
  now: () => Date;
  random: (n: number) => Buffer;
  /** Ends what a cut-off user holds, and answers the long-polls of a user whose credentials changed. */
  access: AccessService;
}

export interface IssuedToken {
  user: string;
  groups: string[];
  tokenId: string;
  /** The token itself: shown once, stored only as a hash. */
  token: string;
  expiresAt: string;
}

/** `sshcad user add NAME --group G...`: registers a user and mints their first API token. */
export async function addUser(
  deps: AdminDeps,
  name: string,
  groups: readonly string[],
  actor: string,
): Promise<IssuedToken> {
  if (!IDENT.test(name)) throw fail.badRequest(`user name must match ${IDENT.source}`);
  if (isReservedName(name))
    throw fail.badRequest(`"${name}" names the daemon itself in the audit log; choose another user name`);
  const config = deps.config();
  const wanted = [...new Set(groups)].sort();
  if (wanted.length === 0) throw fail.badRequest("give at least one --group");
  const unknown = wanted.filter((g) => !Object.hasOwn(config.groups, g));
  if (unknown.length > 0) {
    throw fail.badRequest(
      `unknown group ${unknown.join(", ")} (config groups: ${Object.keys(config.groups).join(", ")})`,
    );
  }
  const local = localSignInRefusal(config, name);
  if (local) throw fail.conflict(`cannot add ${name}: ${local}`);
  if (Object.hasOwn(deps.storage.state.users, name)) {
    throw fail.conflict(`user ${name} already exists; for a new token run: sshcad token create ${name}`);
  }
  const now = deps.now();
  await deps.storage.commit(
    [{ type: "user.added", actor, fields: { user: name, groups: wanted } }],
    [put("users", name, { groups: wanted, createdAt: now.toISOString() }, { entry: undefined })],
  );
  return { ...(await createToken(deps, name, actor)), groups: wanted };
}

/** `sshcad token create NAME`: another token for an existing user. */
export async function createToken(deps: AdminDeps, user: string, actor: string): Promise<IssuedToken> {
  const config = deps.config();
  const known = Object.hasOwn(deps.storage.state.users, user) || Object.hasOwn(config.users, user);
  if (!known) throw fail.notFound(`no user ${user} (add one with: sshcad user add ${user} --group G)`);
  if (userStatus(config, deps.storage.state, user) === "disabled")
    throw fail.conflict(`user ${user} is disabled; enable them first: sshcad user enable ${user}`);
  const local = localSignInRefusal(config, user);
  if (local) throw fail.conflict(`no API token for ${user}: ${local}`);
  const now = deps.now();
  const minted = mintToken(deps.random);
  const expiresAt = new Date(now.getTime() + config.auth.tokenTtl * 1000).toISOString();
  await deps.storage.commit(
    [{ type: "token.created", actor, fields: { user, tokenId: minted.id, expiresAt } }],
    [put("tokens", minted.id, { user, hash: minted.hash, createdAt: now.toISOString(), expiresAt })],
  );
  const groups = deps.storage.state.users[user]?.groups ?? config.users[user]?.groups ?? [];
  return { user, groups, tokenId: minted.id, token: minted.token, expiresAt };
}

/** Users known to the daemon, with where their groups come from and whether they are disabled. Never tokens. */
export function listUsers(
  deps: AdminDeps,
): { user: string; groups: string[]; source: string; tokens: number; disabled: boolean }[] {
  const config = deps.config();
  const names = new Set([...Object.keys(config.users), ...Object.keys(deps.storage.state.users)]);
  const liveTokens = (user: string) =>
    Object.values(deps.storage.state.tokens).filter(
      (t) => t.user === user && t.revokedAt === undefined && Date.parse(t.expiresAt) > deps.now().getTime(),
    ).length;
  return [...names].sort().map((user) => {
    const inConfig = Object.hasOwn(config.users, user);
    const inState = Object.hasOwn(deps.storage.state.users, user);
    const groups = [
      ...new Set([...(config.users[user]?.groups ?? []), ...(deps.storage.state.users[user]?.groups ?? [])]),
    ].sort();
    return {
      user,
      groups,
      source: inConfig && inState ? "config+cli" : inConfig ? "config" : "cli",
      tokens: liveTokens(user),
      disabled: userStatus(config, deps.storage.state, user) === "disabled",
    };
  });
}

/** `sshcad token revoke ID`: the token stops working at once. */
export async function revokeToken(
  deps: AdminDeps,
  tokenId: string,
  actor: string,
): Promise<{ tokenId: string; user: string }> {
  const tokens = deps.storage.state.tokens;
  const record = Object.hasOwn(tokens, tokenId) ? tokens[tokenId] : undefined;
  if (!record) throw fail.notFound(`no token ${tokenId} (sshcad token list shows them)`);
  if (record.revokedAt) throw fail.conflict(`token ${tokenId} was already revoked at ${record.revokedAt}`);
  const now = deps.now().toISOString();
  await deps.storage.commit(
    [{ type: "token.revoked", actor, fields: { tokenId, user: record.user } }],
    [put("tokens", tokenId, { ...record, revokedAt: now }, { entry: record })],
  );
  // Long-polls held with this token (or a session or key that came from it) answer, refused.
  deps.access.watch.wakeUser(record.user);
  return { tokenId, user: record.user };
}

/** Token ids, owners and lifetimes; never secrets or hashes. */
export function listTokens(deps: AdminDeps, user?: string) {
  return Object.entries(deps.storage.state.tokens)
    .filter(([, t]) => user === undefined || t.user === user)
    .map(([id, t]) => ({
      tokenId: id,
      user: t.user,
      createdAt: t.createdAt,
      expiresAt: t.expiresAt,
      revokedAt: t.revokedAt ?? null,
    }))
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

/** `sshcad user key add NAME FILE`: registers an SSH key the user can sign in with. */
export async function addUserKey(
  deps: AdminDeps,
  user: string,
  publicKey: string,
): Promise<{ user: string; fingerprint: string }> {
  const known = Object.hasOwn(deps.storage.state.users, user) || Object.hasOwn(deps.config().users, user);
  if (!known) throw fail.notFound(`no user ${user}`);
  return registerSshKey(deps, user, publicKey, "admin");
}
