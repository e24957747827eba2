import { mkdir, readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { CliError } from "./errors.js";
import { writeFileSafely } from "./safe-write.js";

/** What the CLI needs to talk to sshcad. */
export interface Settings {
  url: string;
  token: string | undefined;
  /** SHA-256 fingerprint pinning the daemon's TLS CA (set by `sshca bootstrap`). */
  tlsFingerprint: string | undefined;
  /** PEM of the pinned TLS CA certificate. */
  tlsCa: string | undefined;
  /** No pin: trust Node's default CAs (only after `sshca bootstrap --system-ca`). */
  systemCa: boolean;
}

/** The stored file: $XDG_CONFIG_HOME/sshca/config.json (mode 0600). */
export interface ConfigFile {
  url?: string;
  token?: string;
  tlsFingerprint?: string;
  tlsCa?: string;
  systemCa?: boolean;
}

export function configFilePath(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.length > 0 ? env.XDG_CONFIG_HOME : join(homedir(), ".config");
  return join(base, "sshca", "config.json");
}

export async function readConfigFile(env: NodeJS.ProcessEnv): Promise<ConfigFile> {
  const path = configFilePath(env);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new CliError(`cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not an object");
    return parsed as ConfigFile;
  } catch (err) {
    throw new CliError(`${path} is not valid JSON (${(err as Error).message})`);
  }
}

/** Merges a patch into the config file, written atomically with mode 0600 (it may hold a token). */
export async function updateConfigFile(env: NodeJS.ProcessEnv, patch: ConfigFile): Promise<string> {
  const path = configFilePath(env);
  const next = { ...(await readConfigFile(env)), ...patch };
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFileSafely(path, `${JSON.stringify(next, null, 2)}\n`, 0o600);
  return path;
}

/**
 * Flags first, then the environment (SSHCA_URL, SSHCA_TOKEN), then the config file. The token
 * never comes from argv (it would show in ps): only from --token-file, the environment or the file.
 */
export async function resolveSettings(
  flags: { url?: string | undefined; tokenFile?: string | undefined },
  env: NodeJS.ProcessEnv,
): Promise<Settings> {
  const file = await readConfigFile(env);
  const url = flags.url ?? nonEmpty(env.SSHCA_URL) ?? file.url;
  if (!url) {
    throw new CliError("no server URL: pass --url, set SSHCA_URL, or run: sshca bootstrap --url URL");
  }
  let token: string | undefined;
  if (flags.tokenFile) {
    try {
      token = (await readFile(flags.tokenFile, "utf8")).trim();
    } catch (err) {
      throw new CliError(`cannot read token file ${flags.tokenFile}: ${(err as Error).message}`);
    }
  }
  token ??= nonEmpty(env.SSHCA_TOKEN) ?? file.token;
  return { url, token, tlsFingerprint: file.tlsFingerprint, tlsCa: file.tlsCa, systemCa: file.systemCa === true };
}

const nonEmpty = (v: string | undefined) => (v && v.trim().length > 0 ? v.trim() : undefined);
