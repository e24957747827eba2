import { chmod, mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import type { CaKey } from "../ca/ca-key.js";
import { createCaKeyIfMissing, readCaKey } from "../ca/custody.js";
import { type ConfigOverrides, loadConfigFile } from "../config/load.js";
import type { Config } from "../config/schema.js";
import { SshcaError } from "../errors.js";
import { journalSink } from "../notify/journal.js";
import type { Check } from "../ops/readiness.js";
import type { Storage } from "../store/port.js";
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
  ca: CaKey;
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
 * Opens config, data directory (0700), lock, CA key and storage. The embedded storage checks
 * that state and audit log belong together (a missing state file next to an audit history, or
 * an audit log shorter than the state remembers, stops the daemon instead of starting from a
 * reset); PostgreSQL checks that the CA key is the one the database belongs to.
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
    const db = config.storage.backend === "postgres" ? await preparePostgres(so) : undefined;
    const caCreated = opts.createCa ? await createCaKeyIfMissing(paths.caKey, config.ca.keyType) : false;
    let opened: OpenedStorage;
    try {
      const ca = await readCaKey(paths.caKey, await caPassphrase(opts.env));
      opened = db
        ? await openPostgresStorage(so, db, { fingerprint: ca.fingerprint, created: caCreated })
        : await openEmbedded(so);
      if (caCreated) {
        await opened.storage.append("ca.key_created", "sshcad", {
          fingerprint: ca.fingerprint,
          keyType: config.ca.keyType,
          path: paths.caKey,
        });
      }
      return {
        config,
        configPath: opts.configPath,
        overrides: opts.overrides ?? {},
        paths,
        ca,
        caCreated,
        storage: opened.storage,
        ...(opened.embedded ? { embedded: opened.embedded } : {}),
        storageChecks: () => opened.checks(),
        close: async () => {
          await opened.close();
          await lock.release();
        },
      };
    } catch (err) {
      await db?.close().catch(() => undefined);
      throw err;
    }
  } catch (err) {
    await lock.release();
    throw err;
  }
}

/**
 * An encrypted CA key's passphrase: from systemd credentials (LoadCredential=ca-passphrase:...)
 * or a file named by SSHCAD_CA_PASSPHRASE_FILE. Never from argv or a plain variable.
 */
export async function caPassphrase(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const file =
    env.SSHCAD_CA_PASSPHRASE_FILE ??
    (env.CREDENTIALS_DIRECTORY ? join(env.CREDENTIALS_DIRECTORY, "ca-passphrase") : undefined);
  if (!file) return undefined;
  try {
    return (await readFile(file, "utf8")).replace(/\r?\n$/, "");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" && !env.SSHCAD_CA_PASSPHRASE_FILE) return undefined;
    throw new SshcaError("config_invalid", `cannot read the CA passphrase file ${file}: ${(err as Error).message}`);
  }
}
