import { randomBytes } from "node:crypto";
import { constants, existsSync } from "node:fs";
import { unlink } from "node:fs/promises";
import { hostname } from "node:os";
import type { Logger } from "pino";
import { EmbeddedAuditQuery } from "../audit/embedded-query.js";
import { AuditLog } from "../audit/log.js";
import type { AuditRecord } from "../audit/record.js";
import { Sealer } from "../auth/factors/sealed.js";
import type { Config } from "../config/schema.js";
import { SshcaError } from "../errors.js";
import { can, type Check } from "../ops/readiness.js";
import { EmbeddedStorage } from "../store/embedded.js";
import { migrate, requireSchema } from "../store/postgres/migrations.js";
import { openPostgres, type Postgres } from "../store/postgres/pool.js";
import { bindKey, refuseNewKey } from "../store/postgres/replica-keys.js";
import { PostgresStorage } from "../store/postgres/storage.js";
import { readPostgresUrl } from "../store/postgres/url.js";
import type { Storage } from "../store/port.js";
import { StateStore } from "../store/state.js";
import type { DataPaths } from "./paths.js";

/**
 * The one place that knows which storage backend runs (storage.backend): it opens it, checks
 * it belongs with this data directory or this CA, and hands the rest of the daemon the port.
 */

export interface OpenedStorage {
  storage: Storage;
  /** The embedded backend's parts (its audit log's sync times feed a metric; its state anchors verify). */
  embedded?: { store: StateStore; audit: AuditLog; storage: EmbeddedStorage };
  /** Can the storage take writes right now (for /readyz): state and audit, or the database. */
  checks(): Promise<Record<string, Check>>;
  close(): Promise<void>;
}

export interface StorageOptions {
  config: Config;
  paths: DataPaths;
  env: NodeJS.ProcessEnv;
  log: Logger;
  now: () => Date;
  /** serve and init: apply pending migrations (under the migration lock); others insist on the current schema. */
  migrate: boolean;
  /** Called before the first record is written (the journald sink). */
  onCommit?: (records: readonly AuditRecord[]) => void;
}

export async function openEmbedded(o: StorageOptions): Promise<OpenedStorage> {
  const { paths } = o;
  const audit = await AuditLog.open({
    dir: paths.auditDir,
    maxSegmentBytes: o.config.audit.segmentSize,
    now: o.now,
    log: o.log,
    ...(o.onCommit ? { onCommit: o.onCommit } : {}),
  });
  try {
    const headAtOpen = audit.head.seq;
    const store = await StateStore.open(paths.state, o.now());
    if (store.isNew && headAtOpen > 0) {
      throw new SshcaError(
        "state_invalid",
        `state file ${paths.state} is missing but the audit log holds ${headAtOpen} records; restore state.json from a backup (sshcad never starts from an empty state over an existing history)`,
      );
    }
    if (store.data.auditSeq > audit.head.seq) {
      throw new SshcaError(
        "state_invalid",
        `the audit log ends at record ${audit.head.seq} but the state includes record ${store.data.auditSeq}: the audit log was truncated or replaced (run: sshcad audit verify)`,
      );
    }
    if (store.isNew) await store.persist();
    const storage = new EmbeddedStorage(store, audit);
    return {
      storage,
      embedded: { store, audit, storage },
      checks: async () => {
        const failed = (error: string | undefined): Check | undefined =>
          error ? { ok: false, detail: error } : undefined;
        return {
          state: failed(store.lastError) ?? (await can(paths.state, constants.R_OK | constants.W_OK, "state file")),
          audit:
            failed(audit.lastError) ?? (await can(paths.auditDir, constants.W_OK | constants.X_OK, "audit directory")),
        };
      },
      close: () => storage.close(),
    };
  } catch (err) {
    await audit.close();
    throw err;
  }
}

/**
 * PostgreSQL, before the CA key is read: the schema brought up to date (or checked), and no new
 * CA or sealing key made for a database that belongs to existing ones.
 */
export async function preparePostgres(o: StorageOptions, ca: { caKeyFile: boolean }): Promise<Postgres> {
  const url = await readPostgresUrl(o.config.storage, o.env);
  const db = openPostgres({ url, log: o.log, applicationName: `sshcad ${hostname()} ${process.pid}` });
  try {
    if (o.migrate) await migrate(db);
    else await requireSchema(db);
    if (ca.caKeyFile && !existsSync(o.paths.caKey)) await refuseNewKey(db, "ca_fingerprint", o.paths.caKey);
    if (!existsSync(o.paths.sealKey)) await refuseNewKey(db, "seal_key_fingerprint", o.paths.sealKey);
    return db;
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
}

/**
 * PostgreSQL, once the CA key is read: this replica's CA and sealing keys checked against (or,
 * for the first replica, recorded as) those the database belongs to, then the storage opened.
 */
export async function openPostgresStorage(
  o: StorageOptions,
  db: Postgres,
  /** The configured CA key file (ca.signer: file); an agent's keys are checked through the key set. */
  ca: { fingerprint: string; created: boolean } | undefined,
): Promise<OpenedStorage> {
  try {
    if (ca) {
      try {
        await bindKey(db, "ca_fingerprint", ca.fingerprint, o.paths.caKey);
      } catch (err) {
        // Two first replicas raced and this one's new key lost: it must not stay to confuse the next start.
        if (ca.created) await unlink(o.paths.caKey).catch(() => undefined);
        throw err;
      }
    }
    if (o.migrate || existsSync(o.paths.sealKey)) {
      const sealer = await Sealer.open(o.paths.sealKey);
      await bindKey(db, "seal_key_fingerprint", sealer.fingerprint, o.paths.sealKey);
    }
    const replica = `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
    const storage = await PostgresStorage.open({ db, log: o.log, now: o.now, replica });
    if (o.onCommit) storage.onCommit(o.onCommit);
    return {
      storage,
      checks: async () => {
        try {
          await db.query("SELECT 1");
        } catch (err) {
          return { database: { ok: false, detail: (err as Error).message } };
        }
        const error = storage.lastError;
        return { database: error ? { ok: false, detail: error } : { ok: true } };
      },
      close: () => storage.close(),
    };
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
}

/**
 * Starts the audit look-ups where they need starting: the embedded backend builds an index of
 * its segments in a worker (anchored by the state file's sequence number); PostgreSQL answers
 * from its own tables. Returns the index's lag for the metric, when there is an index.
 */
export function startAuditQueries(
  opened: Pick<OpenedStorage, "embedded">,
  indexPath: string,
  log: Logger,
): { indexLag?: () => number } {
  const e = opened.embedded;
  if (!e) return {};
  const query = new EmbeddedAuditQuery({
    audit: e.audit,
    indexPath,
    anchors: () => [{ seq: e.store.data.auditSeq, source: "state file" }],
    log,
  });
  e.storage.attachQuery(query);
  return { indexLag: () => query.indexLag };
}
