import { canonicalJson } from "../canonical-json.js";
import type { Config } from "../config/schema.js";

/** Parts of the config that only a restart applies (sockets, keys, files, background workers). */
export const RESTART_ONLY = [
  "listen",
  "dataDir",
  "ca",
  "audit",
  "webhooks",
  "approverBots",
  "scanning",
  "revocation",
] as const;

/**
 * What a reload (SIGHUP) applies: users, groups, rights, hosts, roles, auth, limits, syslog
 * destinations (the caller restarts their exporters) and request retention from the new file; everything else stays as it was, and is named so the
 * operator knows a restart is needed. Pure.
 */
export function applyReload(current: Config, next: Config): { config: Config; needsRestart: string[] } {
  const config = { ...next };
  const needsRestart: string[] = [];
  for (const key of RESTART_ONLY) {
    if (canonicalJson(current[key] ?? null) !== canonicalJson(next[key] ?? null)) needsRestart.push(key);
    (config as Record<string, unknown>)[key] = current[key];
  }
  return { config, needsRestart };
}
