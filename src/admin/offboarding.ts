import { userStatus } from "../auth/credentials.js";
import { removeSshKey } from "../auth/ssh-signin.js";
import { type Change, put, remove, retryStale } from "../store/port.js";
import { fail } from "../errors.js";
import type { AdminDeps } from "./users.js";

export interface CutOffReport {
  user: string;
  /** Requests of theirs that were waiting and ended. */
  cancelled: string[];
  /** Others' waiting requests whose approval by this user stopped counting. */
  withdrawn: string[];
  /** Their live certificates put in the KRL (none with keepCertificates). */
  revoked: string[];
  /** API tokens and sessions that stopped working. */
  tokens: string[];
}

/**
 * `sshcad user disable NAME`: from this moment no sign-in method, token or session of the user
 * works (every call re-checks), long-polls they hold answer at once, their tokens are revoked
 * for good (enabling the user again does not bring them back), their waiting requests end,
 * their approvals of waiting requests stop counting, and their live certificates go into the
 * KRL unless `keepCertificates`. Config users can be disabled too (the state records the switch).
 */
export async function disableUser(
  deps: AdminDeps,
  name: string,
  actor: string,
  opts: { keepCertificates?: boolean } = {},
): Promise<CutOffReport> {
  // Another replica's newest tokens and changes to the user's record (PostgreSQL): decide on them too.
  await deps.storage.sync();
  const config = deps.config();
  const status = userStatus(config, deps.storage.state, name);
  if (status === "unknown") throw fail.notFound(`no user ${name}`);
  if (status === "disabled") throw fail.conflict(`user ${name} is already disabled (sshcad user enable ${name})`);
  const now = deps.now().toISOString();
  const tokens = liveTokenIds(deps, name);
  const state = deps.storage.state;
  const record = Object.hasOwn(state.users, name) ? state.users[name] : undefined;
  await deps.storage.commit(
    [
      {
        type: "user.disabled",
        actor,
        fields: { user: name, tokensRevoked: tokens, keepCertificates: opts.keepCertificates === true },
      },
    ],
    [
      // Everything else about the user stays (their provider binding, so enable restores sign-in).
      put(
        "users",
        name,
        {
          ...record,
          groups: record?.groups ?? [],
          createdAt: record?.createdAt ?? now,
          disabled: { at: now, by: actor },
        },
        { entry: record },
      ),
      ...revocations(state, tokens, now),
    ],
  );
  return { user: name, tokens, ...(await endWhatTheyHold(deps, name, actor, "disabled", opts)) };
}

/**
 * `sshcad user enable NAME`: the user may sign in again; old tokens stay revoked. A disabled user
 * gets no new token, yet one can still be stored unrevoked while disabled: a sign-in or
 * `sshcad token create` that checked the user just before the disable and committed just after
 * it read the tokens to revoke. Every call refuses it while the user is disabled; enable revokes
 * it here, in the same commit, so it does not come back with the user.
 */
export async function enableUser(
  deps: AdminDeps,
  name: string,
  actor: string,
): Promise<{ user: string; tokensRevoked: string[] }> {
  // One of those tokens revoked by an admin meanwhile makes the commit stale: decide again.
  return retryStale(async () => {
    // A token another replica stored a moment ago is in the sweep too (PostgreSQL).
    await deps.storage.sync();
    if (userStatus(deps.config(), deps.storage.state, name) !== "disabled")
      throw fail.conflict(`user ${name} is not disabled`);
    const state = deps.storage.state;
    const current = state.users[name]!;
    const { disabled: _disabled, ...record } = current;
    const now = deps.now().toISOString();
    // Expired ones were expired at the disable too (it revoked only live ones): not among these.
    const tokens = liveTokenIds(deps, name);
    await deps.storage.commit(
      [
        {
          type: "user.enabled",
          actor,
          fields: { user: name, ...(tokens.length > 0 ? { tokensRevoked: tokens } : {}) },
        },
      ],
      [put("users", name, record, { entry: current }), ...revocations(state, tokens, now)],
    );
    return { user: name, tokensRevoked: tokens };
  });
}

/**
 * `sshcad user remove NAME`: the user added with `sshcad user add` is gone, with every token,
 * session and sign-in key, and what they hold ends as for `disable`. A user the config file
 * defines is removed there (then reload); until then `disable` cuts them off.
 */
export async function removeUser(
  deps: AdminDeps,
  name: string,
  actor: string,
  opts: { keepCertificates?: boolean } = {},
): Promise<CutOffReport & { keys: string[] }> {
  const config = deps.config();
  if (Object.hasOwn(config.users, name)) {
    throw fail.conflict(
      `user ${name} is defined in the config file (users.${name}); remove it there and reload (systemctl reload sshcad); until then: sshcad user disable ${name}`,
    );
  }
  if (!Object.hasOwn(deps.storage.state.users, name)) throw fail.notFound(`no user ${name}`);
  const tokens = Object.entries(deps.storage.state.tokens)
    .filter(([, t]) => t.user === name)
    .map(([id]) => id);
  const keys = Object.entries(deps.storage.state.sshKeys)
    .filter(([, k]) => k.user === name)
    .map(([fp]) => fp);
  // Second factors go too: a later user of the same name must not inherit them.
  const factors = Object.entries(deps.storage.state.factors)
    .filter(([, f]) => f.user === name)
    .map(([id]) => id);
  await deps.storage.commit(
    [
      {
        type: "user.removed",
        actor,
        fields: {
          user: name,
          tokensRemoved: tokens,
          keysRemoved: keys,
          factorsRemoved: factors,
          keepCertificates: opts.keepCertificates === true,
        },
      },
    ],
    [
      remove("users", name, { entry: deps.storage.state.users[name] }),
      ...tokens.map((id) => remove("tokens", id)),
      ...keys.map((fp) => remove("sshKeys", fp)),
      ...factors.map((id) => remove("factors", id)),
    ],
  );
  return { user: name, tokens, keys, ...(await endWhatTheyHold(deps, name, actor, "removed", opts)) };
}

/** `sshcad user key remove NAME FINGERPRINT`: sessions signed in with it stop working at once. */
export async function removeUserKey(
  deps: AdminDeps,
  name: string,
  fingerprint: string,
  actor: string,
): Promise<{ user: string; fingerprint: string }> {
  const removed = await removeSshKey(deps, name, fingerprint, actor);
  deps.access.watch.wakeUser(name);
  return removed;
}

/** The changes that revoke these tokens (compare-and-set on each, as read from `state`). */
function revocations(state: AdminDeps["storage"]["state"], ids: string[], at: string): Change[] {
  return ids.map((id) => put("tokens", id, { ...state.tokens[id]!, revokedAt: at }, { entry: state.tokens[id] }));
}

function liveTokenIds(deps: AdminDeps, user: string): string[] {
  const now = deps.now().getTime();
  return Object.entries(deps.storage.state.tokens)
    .filter(([, t]) => t.user === user && t.revokedAt === undefined && Date.parse(t.expiresAt) > now)
    .map(([id]) => id);
}

function endWhatTheyHold(
  deps: AdminDeps,
  user: string,
  actor: string,
  how: "disabled" | "removed",
  opts: { keepCertificates?: boolean },
) {
  return deps.access.cutOff(user, {
    actor,
    reason: `${user} was ${how} by ${actor}`,
    revokeCertificates: opts.keepCertificates !== true,
  });
}
