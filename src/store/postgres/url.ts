import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import type { StorageConfig } from "../../config/storage-schema.js";
import { SshcaError } from "../../errors.js";

/**
 * The PostgreSQL URL carries the database password, so it never sits in the config file, argv
 * or the environment: it is read from a file (storage.urlFile, mode 0600) or from the systemd
 * credential `postgres-url` (LoadCredential=, in $CREDENTIALS_DIRECTORY). No message here
 * ever quotes it.
 */

const CREDENTIAL = "postgres-url";
const SHAPE = "postgresql://USER:PASSWORD@HOST:PORT/DATABASE";

/** Throws config_invalid (without echoing the URL) unless `url` is a postgres(ql):// URL. */
export function checkPostgresUrl(url: string): void {
  let scheme: string | undefined;
  try {
    scheme = new URL(url).protocol;
  } catch {
    scheme = undefined;
  }
  if (scheme !== "postgresql:" && scheme !== "postgres:") {
    throw new SshcaError("config_invalid", `the PostgreSQL URL is not valid: expected ${SHAPE}`);
  }
}

/** The database URL for storage.backend: postgres, from storage.urlFile or the systemd credential. */
export async function readPostgresUrl(storage: StorageConfig, env: NodeJS.ProcessEnv): Promise<string> {
  let file = storage.urlFile;
  let source = file === undefined ? "" : `storage.urlFile ${file}`;
  if (file !== undefined) {
    const mode = await stat(file).then(
      (s) => s.mode & 0o777,
      (err: NodeJS.ErrnoException) => {
        throw new SshcaError("config_invalid", `cannot read ${source}: ${err.code ?? err.message}`);
      },
    );
    if ((mode & 0o077) !== 0) {
      throw new SshcaError(
        "config_invalid",
        `${source} may be read by others (mode ${mode.toString(8).padStart(4, "0")}); the URL carries the database password: chmod 600 it`,
      );
    }
  } else if (env.CREDENTIALS_DIRECTORY) {
    file = join(env.CREDENTIALS_DIRECTORY, CREDENTIAL);
    source = `the systemd credential ${CREDENTIAL}`;
  }
  if (file === undefined) {
    throw new SshcaError(
      "config_invalid",
      `storage.backend: postgres needs the database URL (${SHAPE}): in a file (mode 0600) named by storage.urlFile, or in the systemd credential ${CREDENTIAL} (LoadCredential=${CREDENTIAL}:/etc/sshca/postgres-url)`,
    );
  }
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SshcaError("config_invalid", `cannot read ${source}: ${code ?? (err as Error).message}`);
  }
  const url = text.trim();
  try {
    checkPostgresUrl(url);
  } catch {
    throw new SshcaError("config_invalid", `${source} does not hold a PostgreSQL URL: expected ${SHAPE}`);
  }
  return url;
}
