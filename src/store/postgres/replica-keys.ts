import { SshcaError } from "../../errors.js";
import type { Queryable } from "./pool.js";

/**
 * Every replica must sign with the same CA key and open sealed secrets with the same sealing
 * key: the database records the fingerprint of each the first replica brings, and a replica
 * holding another refuses to start (two CAs sharing one database would issue certificates no
 * host trusts, and could not read each other's TOTP seeds).
 */

export type ReplicaKey = "ca_fingerprint" | "seal_key_fingerprint";

const WHAT: Record<ReplicaKey, string> = {
  ca_fingerprint: "CA key",
  seal_key_fingerprint: "sealing key (seal.key next to the CA key)",
};

/** The fingerprint the database records for `name`, if any replica recorded one yet. */
export async function recordedKey(db: Queryable, name: ReplicaKey): Promise<string | undefined> {
  const r = await db.query<{ value: unknown }>("SELECT value FROM sshca_meta WHERE key = $1", [name]);
  const v = r.rows[0]?.value;
  return typeof v === "string" ? v : undefined;
}

/** Records `fingerprint` when nothing is recorded yet; refuses when another one is. */
export async function bindKey(db: Queryable, name: ReplicaKey, fingerprint: string, path: string): Promise<void> {
  await db.query("INSERT INTO sshca_meta (key, value) VALUES ($1, to_jsonb($2::text)) ON CONFLICT (key) DO NOTHING", [
    name,
    fingerprint,
  ]);
  const recorded = await recordedKey(db, name);
  if (recorded !== fingerprint) {
    throw new SshcaError(
      "state_invalid",
      `this replica's ${WHAT[name]} ${path} (${fingerprint}) is not the one the database belongs to (${recorded}); every replica needs the same key: copy it from a running replica`,
    );
  }
}

/** Before making a new key: refuses when the database already belongs to another one. */
export async function refuseNewKey(db: Queryable, name: ReplicaKey, path: string): Promise<void> {
  const recorded = await recordedKey(db, name);
  if (recorded !== undefined) {
    throw new SshcaError(
      "state_invalid",
      `${path} is missing, and the database belongs to the ${WHAT[name]} ${recorded}: copy that key from a running replica to ${path} (mode 0600) instead of making a new one`,
    );
  }
}
