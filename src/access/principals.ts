import { PRINCIPAL } from "../config/names.js";

/**
 * Host-scoped principals: a role granting login "debug" on web-1 puts "debug@web-1" in the
 * certificate. Each target host lists only its own principals in its AuthorizedPrincipalsFile
 * (sshd_config(5): a cert is accepted when one of its principals is listed for the login
 * user), so a certificate approved for web-1 does not log in to web-2.
 */
export function hostScopedPrincipals(logins: readonly string[], hosts: readonly string[]): string[] {
  const out = new Set<string>();
  for (const host of hosts) for (const login of logins) out.add(`${login}@${host}`);
  const sorted = [...out].sort();
  for (const p of sorted) {
    if (!PRINCIPAL.test(p)) throw new Error(`principal ${JSON.stringify(p)} fails the strict charset`);
  }
  return sorted;
}

/** The AuthorizedPrincipalsFile content of one host: login user -> principals to list. */
export function principalsFileFor(
  host: string,
  roles: Iterable<{ principals: readonly string[]; hosts: readonly string[] }>,
): Record<string, string[]> {
  const byLogin: Record<string, Set<string>> = {};
  for (const role of roles) {
    if (!role.hosts.includes(host)) continue;
    for (const login of role.principals) {
      const set = byLogin[login] ?? new Set<string>();
      set.add(`${login}@${host}`);
      byLogin[login] = set;
    }
  }
  return Object.fromEntries(
    Object.keys(byLogin)
      .sort()
      .map((login) => [login, [...byLogin[login]!].sort()]),
  );
}
