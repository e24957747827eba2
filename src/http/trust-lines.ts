import type { CaKeyView, CaView } from "./contract.js";

/**
 * The lines hosts and users install to trust the CA's keys, from what the API publishes; shared by
 * the daemon (sshcad init) and the CLI. Each line names its key's place in the rotation in the
 * comment, so an operator reading the file sees which one to drop later. Pure.
 */

const comment = (base: string, k: CaKeyView) => (k.status === "current" ? base : `${base}-${k.status}`);

/** TrustedUserCAKeys (sshd_config(5)): one key per line, every key the current phase needs. */
export function trustedUserCaKeys(view: Pick<CaView, "keys">): string {
  return view.keys.map((k) => `${k.publicKey} ${comment("sshca-user-ca", k)}\n`).join("");
}

/**
 * known_hosts (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"): "@cert-authority PATTERNS KEY", one line per
 * host CA key the phase needs, so a host certified by the current, the next or a previous key is
 * accepted without a prompt.
 */
export function certAuthorityLines(keys: readonly CaKeyView[], patterns: readonly string[]): string {
  const hosts = patterns.join(",");
  return keys.map((k) => `@cert-authority ${hosts} ${k.publicKey} ${comment("sshca-host-ca", k)}\n`).join("");
}

/**
 * known_hosts patterns for hosts reached by these names: each bare (port 22) and as "[name]:*"
 * (any other port; ssh looks such hosts up as "[name]:port").
 */
export function knownHostsPatterns(names: readonly string[]): string[] {
  const unique = [...new Set(names)];
  return [...unique, ...unique.map((n) => `[${n}]:*`)];
}
