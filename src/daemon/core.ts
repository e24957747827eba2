import { chmod, mkdir } from "node:fs/promises";
import type { Logger } from "pino";
import { createCaKeyIfMissing, readCaKey } from "../ca/custody.js";
import { type ConfigOverrides, loadConfigFile } from "../config/load.js";
import type { Config } from "../config/schema.js";
import { journalSink } from "../notify/journal.js";
import type { Check } from "../ops/readiness.js";
import type { Storage } from "../store/port.js";
import { type CaKeys, caPassphrase, openCaKeys } from "./ca-keys.js";
import {
  type OpenedStorage,
  openEmbedded,
  openPostgresStorage,
  preparePostgres,
  type StorageOptions,
} from "./storage.js";
import { acquireLock } from "./lock.js";
import { type DataPaths, dataPaths } from "./paths.js";

export interface CoreOptions {
  configPath: string;
  /** Command-line settings in place of the file's (serve --port, --address); kept for reloads. */
  overrides?: ConfigOverrides | undefined;
  dataDirFlag?: string | undefined;
  env: NodeJS.ProcessEnv;
  log: Logger;
  now: () => Date;
  /** Create the CA key when missing (init, serve) or insist that it exists. */
  createCa: boolean;
  /**
   * Every audit event also becomes one JSON line on stdout, from the first one on (the daemon,
   * for journald). Admin commands leave it off: their stdout carries tokens and JSON answers.
   */
  journal?: boolean;
}

/** The daemon's durable parts, opened together under the data-directory lock. */
export interface Core {
  config: Config;
  configPath: string;
  overrides: ConfigOverrides;
  paths: DataPaths;
  /** The user and host CAs' keys (their sets live in the storage; see src/ca/keyset.ts). */
  cas: CaKeys;
  /** True when this run created the user CA key. */
  caCreated: boolean;
  /** Live state and audit chain, as the rest of the daemon uses them (the storage port). */
  storage: Storage;
  /** The embedded backend's own parts, when it runs (audit sync metric, verify anchors, index). */
  embedded?: OpenedStorage["embedded"];
  /** Can the storage take writes (for /readyz)? */
  storageChecks(): Promise<Record<string, Check>>;
  close(): Promise<void>;
}

/**
 * Opens config, data directory (0700), lock, storage and CA keys. The embedded storage checks
 * that state and audit log belong together (a missing state file next to an audit history, or
 * an audit log shorter than the state remembers, stops the daemon instead of starting from a
 * reset); PostgreSQL checks that the CA key file is the one the database belongs to. The CA key
 * sets then come from the storage (see src/ca/keyset.ts); a new CA's are started here.
 */
export async function openCore(opts: CoreOptions): Promise<Core> {
  const config = loadConfigFile(opts.configPath, opts.overrides);
  const paths = dataPaths(config, opts.dataDirFlag, opts.env);
  await mkdir(paths.dataDir, { recursive: true, mode: 0o700 });
  await chmod(paths.dataDir, 0o700);
  const lock = await acquireLock(paths.lock);
  const so: StorageOptions = {
    config,
    paths,
    env: opts.env,
    log: opts.log,
    now: opts.now,
    migrate: opts.createCa,
    ...(opts.journal ? { onCommit: journalSink(opts.log) } : {}),
  };
  try {
    // PostgreSQL with key files: no replica makes a new CA for a database that has one, and the
    // first key file is bound to the database (an agent's keys are checked through the key set).
    const files = config.ca.signer === "file";
    const db = config.storage.backend === "postgres" ? await preparePostgres(so, { caKeyFile: files }) : undefined;
    const passphrase = await caPassphrase(opts.env);
    const fileCreated =
      db && files && opts.createCa
        ? await createCaKeyIfMissing(paths.caKey, config.ca.keyType, "sshca user CA", passphrase)
        : false;
    let opened: OpenedStorage;
    try {
      const bound = db && files ? await readCaKey(paths.caKey, passphrase) : undefined;
      opened = db
        ? await openPostgresStorage(
            so,
            db,
            bound ? { fingerprint: bound.fingerprint, created: fileCreated } : undefined,
          )
        : await openEmbedded(so);
    } catch (err) {
      await db?.close().catch(() => undefined);
      throw err;
    }
    try {
      const cas = await openCaKeys({
        config,
        paths,
        storage: opened.storage,
        env: opts.env,
        now: opts.now,
        log: opts.log,
        create: opts.createCa,
        userCreated: fileCreated,
      });
      return {
        config,
        configPath: opts.configPath,
        overrides: opts.overrides ?? {},
        paths,
        cas,
        caCreated: cas.user.created,
        storage: opened.storage,
        ...(opened.embedded ? { embedded: opened.embedded } : {}),
        storageChecks: () => opened.checks(),
        close: async () => {
          await opened.close();
          await lock.release();
        },
      };
    } catch (err) {
      await opened.close().catch(() => undefined);
      throw err;
    }
  } catch (err) {
    await lock.release();
    throw err;
  }
}

export { caPassphrase } from "./ca-keys.js";
