import type { Identity } from "../domain/request.js";
import type { Config } from "../config/schema.js";
import type { StateView } from "../store/state.js";

/**
 * A user's groups: those the config declares plus those given at `sshcad user add`, keeping
 * only groups the current config defines (removing a group from the config revokes it).
 * Undefined when the user is known to neither, or disabled (a disabled user holds no rights:
 * their approvals stop counting and they are told about nothing).
 */
export function resolveIdentity(config: Config, state: Pick<StateView, "users">, user: string): Identity | undefined {
  const fromConfig = Object.hasOwn(config.users, user) ? config.users[user]!.groups : undefined;
  const record = Object.hasOwn(state.users, user) ? state.users[user]! : undefined;
  if (record?.disabled) return undefined;
  const fromState = record?.groups;
  if (fromConfig === undefined && fromState === undefined) return undefined;
  const groups = [...new Set([...(fromConfig ?? []), ...(fromState ?? [])])]
    .filter((g) => Object.hasOwn(config.groups, g))
    .sort();
  return { user, groups };
}

/** Users in any of `groups`, from the config and from `sshcad user add`. */
export function membersOf(config: Config, state: Pick<StateView, "users">, groups: readonly string[]): string[] {
  const names = new Set([...Object.keys(config.users), ...Object.keys(state.users)]);
  return [...names].filter((u) => resolveIdentity(config, state, u)?.groups.some((g) => groups.includes(g))).sort();
}
