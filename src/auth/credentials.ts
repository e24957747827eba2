import type { Config } from "../config/schema.js";
import type { CredentialRef, SshKeyRecord, StateView, TokenRecord } from "../store/state.js";

/**
 * Whether a credential still works, by the rule that no credential outlives the one it came
 * from: a session dies with the sign-in key it was obtained with, a key registered through a
 * token dies with that token (revoked, expired or gone). Pure: state and time are passed in.
 */

/** A user who may act, one an admin disabled, or one nobody knows. */
export type UserStatus = "active" | "disabled" | "unknown";

export function userStatus(config: Config, state: Pick<StateView, "users">, user: string): UserStatus {
  const record = Object.hasOwn(state.users, user) ? state.users[user] : undefined;
  if (record?.disabled) return "disabled";
  return record !== undefined || Object.hasOwn(config.users, user) ? "active" : "unknown";
}

/** Parents are created before their children, so a chain is short; the bound only guards a corrupt state. */
const MAX_CHAIN = 16;

/** Why `ref` no longer works, or undefined when it does (its whole chain of parents included). */
export function credentialProblem(
  state: Pick<StateView, "tokens" | "sshKeys">,
  ref: CredentialRef,
  now: Date,
  depth = 0,
): string | undefined {
  if (depth > MAX_CHAIN) return "its chain of credentials is too long";
  if (ref.kind === "token") {
    const token = Object.hasOwn(state.tokens, ref.id) ? state.tokens[ref.id] : undefined;
    if (!token) return `token ${ref.id} no longer exists`;
    const own = tokenLapse(token, now);
    if (own) return `token ${ref.id} ${own}`;
    return token.parent ? inherited(state, token.parent, now, depth) : undefined;
  }
  const key = Object.hasOwn(state.sshKeys, ref.id) ? state.sshKeys[ref.id] : undefined;
  if (!key) return `sign-in key ${ref.id} was removed`;
  // Checked at every use, so no race with a removal can let a session outlive its key record.
  if (ref.kind === "key" && ref.generation !== undefined && ref.generation !== keyGeneration(key))
    return `sign-in key ${ref.id} was removed or registered again since`;
  return key.parent ? inherited(state, key.parent, now, depth) : undefined;
}

function inherited(
  state: Pick<StateView, "tokens" | "sshKeys">,
  parent: CredentialRef,
  now: Date,
  depth: number,
): string | undefined {
  const why = credentialProblem(state, parent, now, depth + 1);
  return why === undefined ? undefined : `it was obtained through a credential that no longer works: ${why}`;
}

/**
 * The generation a session records for the key record it signed in with ("none" for a key
 * registered before generations existed; sessions from before then record none and are not
 * checked, and end within their lifetime).
 */
export function keyGeneration(key: SshKeyRecord): string {
  return key.generation ?? "none";
}

/** A token's own end: revoked or expired. */
export function tokenLapse(token: TokenRecord, now: Date): string | undefined {
  if (token.revokedAt !== undefined) return "was revoked";
  if (now.getTime() >= Date.parse(token.expiresAt)) return "has expired";
  return undefined;
}

/**
 * With single sign-on required (auth.oidc.required), the identity provider is the one place that
 * decides who exists: API tokens and SSH-key sign-in remain only for the users named in
 * auth.localUsers (machines). Why `user` may not use them, or undefined when they may.
 */
export function localSignInRefusal(config: Config, user: string): string | undefined {
  if (!config.auth.oidc?.required || config.auth.localUsers.includes(user)) return undefined;
  return `${user} signs in through the identity provider here (sshca auth oidc); API tokens and SSH keys are only for the users in auth.localUsers`;
}

/**
 * When the person behind `token` last proved who they are interactively, or undefined when that
 * cannot be said. A second factor may be enrolled only with a recent one (an attacker holding a
 * stolen token or an old session must not add a factor of their own):
 * - API tokens: never (they prove nothing about the person now);
 * - identity-provider sessions: the provider's auth_time (else the sign-in itself);
 * - SSH-key sessions: the sign-in, when an admin registered the key; when the key was registered
 *   by the user through another credential, whatever that credential can say (so a key added
 *   with a stolen token never makes a session "fresh");
 * - console sessions: what they were minted with (recorded at sign-in).
 */
export function interactiveSignInAt(
  state: Pick<StateView, "tokens" | "sshKeys">,
  token: TokenRecord,
  depth = 0,
): string | undefined {
  if (token.kind !== "session" || depth > MAX_CHAIN) return undefined;
  if (token.method === "console" || token.method === "oidc") return token.authenticatedAt;
  if (token.parent?.kind !== "key") return undefined;
  const key = Object.hasOwn(state.sshKeys, token.parent.id) ? state.sshKeys[token.parent.id] : undefined;
  if (!key) return undefined;
  if (!key.parent) return token.authenticatedAt ?? token.createdAt;
  if (key.parent.kind !== "token") return undefined;
  const via = Object.hasOwn(state.tokens, key.parent.id) ? state.tokens[key.parent.id] : undefined;
  return via ? interactiveSignInAt(state, via, depth + 1) : undefined;
}

/** Has the person behind `token` proved themselves interactively within `seconds`? */
export function signedInWithin(
  state: Pick<StateView, "tokens" | "sshKeys">,
  token: TokenRecord,
  now: Date,
  seconds: number,
): boolean {
  const at = interactiveSignInAt(state, token);
  return at !== undefined && now.getTime() - Date.parse(at) <= seconds * 1000;
}
