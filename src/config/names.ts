import { isIP } from "node:net";

/**
 * Strict charsets for every name that ends up in a certificate, a file path on a target
 * host, or a subprocess argument. Nothing that fails these reaches sshd or nmap.
 */

/** Users, groups, roles: lowercase, start with a letter. */
export const IDENT = /^[a-z][a-z0-9_-]{0,31}$/;

/**
 * Names the daemon writes as the actor of audit records it makes itself. A person with one of
 * these names could not be told apart from the daemon in the audit log or in notifications.
 */
export const DAEMON_ACTORS = ["sshcad", "policy", "admin", "auto-approve", "anonymous", "system"] as const;

export function isReservedName(name: string): boolean {
  return (DAEMON_ACTORS as readonly string[]).includes(name);
}

/**
 * Login names a role grants (POSIX portable user names, lowercase). They become the user
 * part of a host-scoped principal and the %u of AuthorizedPrincipalsFile on the host.
 * No ",", "*", "?", "@", whitespace, NUL or leading "-": a comma in a principal splits it in
 * ssh-keygen -n and AuthorizedPrincipalsFile parsing (CVE-2026-35414).
 */
export const LOGIN = /^[a-z_][a-z0-9_-]{0,31}$/;

/** Inventory host names: DNS-label-like, used inside principals ("login@host"). */
export const HOST_NAME = /^[a-z0-9](?:[a-z0-9.-]{0,61}[a-z0-9])?$/;

/** A principal as sshca writes it: LOGIN "@" HOST_NAME. */
export const PRINCIPAL = /^[a-z_][a-z0-9_-]{0,31}@[a-z0-9](?:[a-z0-9.-]{0,61}[a-z0-9])?$/;

/** RFC 1123 host name, each label 1-63 characters; no leading "-" anywhere. */
const DNS_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * A scan/connect target from the inventory: one IP literal or one strict DNS name.
 * Refuses CIDR ranges, spaces, option-looking text ("-oN/tmp/x") and shell metacharacters,
 * because the value is handed to nmap as a single target after "--".
 */
export function isValidAddress(value: string): boolean {
  if (isIP(value) !== 0) return !value.includes("%");
  return DNS_NAME.test(value) && !/^\d+(\.\d+){3}$/.test(value);
}

/** Printable ASCII without control characters: safe for key ids, reasons, force-command. */
export function isPrintable(value: string): boolean {
  return /^[\x20-\x7e]*$/.test(value);
}
