import { hostActor } from "../auth/host-credential.js";
import { mintToken } from "../auth/tokens.js";
import { fail } from "../errors.js";
import { put } from "../store/port.js";
import type { AdminDeps } from "./users.js";

/** A new host credential, as handed out once. */
export interface IssuedHostCredential {
  host: string;
  credentialId: string;
  /** Shown once, stored only as a hash. */
  token: string;
  expiresAt: string;
}

/** The longest a host credential may live (it is rotated by creating a new one and revoking the old). */
export const MAX_HOST_CREDENTIAL_SECONDS = 5 * 365 * 86400;

/**
 * `sshcad host credential create NAME`: a credential for one inventory host's companion
 * (`sshca host`). Stored hashed like API tokens; it works only on /v1/host/ routes.
 */
export async function createHostCredential(
  deps: AdminDeps,
  host: string,
  ttlSeconds: number,
  actor: string,
): Promise<IssuedHostCredential> {
  const config = deps.config();
  if (!Object.hasOwn(config.hosts, host))
    throw fail.notFound(`no host ${host} in the inventory (hosts: ${Object.keys(config.hosts).join(", ") || "none"})`);
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 60 || ttlSeconds > MAX_HOST_CREDENTIAL_SECONDS)
    throw fail.badRequest("a host credential lives between 1 minute and 5 years (--ttl)");
  const now = deps.now();
  const minted = mintToken(deps.random);
  const expiresAt = new Date(now.getTime() + ttlSeconds * 1000).toISOString();
  await deps.storage.commit(
    [{ type: "host.credential_created", actor, fields: { host, credentialId: minted.id, expiresAt } }],
    [
      put(
        "tokens",
        minted.id,
        { user: hostActor(host), kind: "host", host, hash: minted.hash, createdAt: now.toISOString(), expiresAt },
        { entry: undefined },
      ),
    ],
  );
  return { host, credentialId: minted.id, token: minted.token, expiresAt };
}

/** `sshcad host credential revoke ID`: the host's companion is refused from its next call on. */
export async function revokeHostCredential(
  deps: AdminDeps,
  id: string,
  actor: string,
): Promise<{ credentialId: string; host: string }> {
  const tokens = deps.storage.state.tokens;
  const record = Object.hasOwn(tokens, id) ? tokens[id] : undefined;
  if (!record || record.kind !== "host" || record.host === undefined)
    throw fail.notFound(`no host credential ${id} (sshcad host credential list shows them)`);
  if (record.revokedAt) throw fail.conflict(`host credential ${id} was already revoked at ${record.revokedAt}`);
  await deps.storage.commit(
    [{ type: "host.credential_revoked", actor, fields: { host: record.host, credentialId: id } }],
    [put("tokens", id, { ...record, revokedAt: deps.now().toISOString() }, { entry: record })],
  );
  return { credentialId: id, host: record.host };
}

/** Host credentials: ids, hosts and lifetimes; never secrets or hashes. */
export function listHostCredentials(deps: AdminDeps, host?: string) {
  return Object.entries(deps.storage.state.tokens)
    .filter(([, t]) => t.kind === "host" && t.host !== undefined && (host === undefined || t.host === host))
    .map(([id, t]) => ({
      credentialId: id,
      host: t.host!,
      createdAt: t.createdAt,
      expiresAt: t.expiresAt,
      revokedAt: t.revokedAt ?? null,
    }))
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}
