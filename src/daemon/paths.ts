import { dirname, isAbsolute, join, resolve } from "node:path";
import type { Config } from "../config/schema.js";

/** Where sshcad keeps its files. One function decides, so every command agrees. */
export interface DataPaths {
  dataDir: string;
  caKey: string;
  /** The host CA key (ca.host.keyFile, default beside the user CA key). */
  hostCaKey: string;
  state: string;
  auditDir: string;
  /** The audit index, derived from the log (rebuilt from it when missing or stale). */
  auditIndex: string;
  adminSocket: string;
  lock: string;
  /** TLS CA and server certificate. */
  tlsDir: string;
  /** The KRL sshcad keeps (served at /v1/krl). */
  krl: string;
  /** The key that seals secrets kept for reuse (TOTP seeds); every replica needs the same one. */
  sealKey: string;
}

/**
 * The data directory: --data-dir, else the config's dataDir, else $STATE_DIRECTORY (set by
 * systemd's StateDirectory=), else ./data. Relative paths are taken from the working directory.
 */
export function dataPaths(config: Config, flag: string | undefined, env: NodeJS.ProcessEnv): DataPaths {
  const stateDirectory = env.STATE_DIRECTORY?.split(":")[0];
  const dataDir = resolve(flag ?? config.dataDir ?? stateDirectory ?? "data");
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(p));
  const caKey = config.ca.keyFile ? abs(config.ca.keyFile) : join(dataDir, "ca", "ca_key");
  const hostCaKey = config.ca.host.keyFile ? abs(config.ca.host.keyFile) : join(dataDir, "ca", "host_ca_key");
  return {
    dataDir,
    caKey,
    hostCaKey,
    state: join(dataDir, "state.json"),
    auditDir: join(dataDir, "audit"),
    auditIndex: join(dataDir, "audit", "index.sqlite"),
    adminSocket: join(dataDir, "admin.sock"),
    lock: join(dataDir, "sshcad.lock"),
    tlsDir: join(dataDir, "tls"),
    krl: join(dataDir, "krl", "revoked.krl"),
    sealKey: join(dirname(caKey), "seal.key"),
  };
}
