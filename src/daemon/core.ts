import { chmod, mkdir } from "node:fs/promises";
import type { Logger } from "pino";
import { AuditLog } from "../audit/log.js";
import { type ConfigOverrides, loadConfigFile } from "../config/load.js";
import type { Config } from "../config/schema.js";
import { SshcaError } from "../errors.js";
import { journalSink } from "../notify/journal.js";
import { EmbeddedStorage } from "../store/embedded.js";
import { StateStore } from "../store/state.js";
import { type CaKeys, openCaKeys } from "./ca-keys.js";
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
  storage: EmbeddedStorage;
  store: StateStore;
  audit: AuditLog;
  close(): Promise<void>;
}

/**
 * Opens config, data directory (0700), lock, audit log, live state and CA keys, and checks
 * that state and audit log belong together: a missing state file next to an audit history,
 * or an audit log shorter than the state remembers, stops the daemon instead of starting
 * from a reset.
 */
export async function openCore(opts: CoreOptions): Promise<Core> {
  const config = loadConfigFile(opts.configPath, opts.overrides);
  const paths = dataPaths(config, opts.dataDirFlag, opts.env);
  await mkdir(paths.dataDir, { recursive: true, mode: 0o700 });
  await chmod(paths.dataDir, 0o700);
  const lock = await acquireLock(paths.lock);
  try {
    const audit = await AuditLog.open({
      dir: paths.auditDir,
      maxSegmentBytes: config.audit.segmentSize,
      now: opts.now,
      log: opts.log,
      ...(opts.journal ? { onCommit: journalSink(opts.log) } : {}),
    });
    const headAtOpen = audit.head.seq;
    const store = await StateStore.open(paths.state, opts.now());
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
    const storage = new EmbeddedStorage(store, audit);
    const cas = await openCaKeys({
      config,
      paths,
      storage,
      env: opts.env,
      now: opts.now,
      log: opts.log,
      create: opts.createCa,
    });
    const caCreated = cas.user.created;
    if (store.isNew) await store.persist();
    return {
      config,
      configPath: opts.configPath,
      overrides: opts.overrides ?? {},
      paths,
      cas,
      caCreated,
      storage,
      store,
      audit,
      close: async () => {
        await audit.close();
        await store.persist();
        await lock.release();
      },
    };
  } catch (err) {
    await lock.release();
    throw err;
  }
}
