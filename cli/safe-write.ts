import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { lstat, open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** Random bytes in each temp file name: 128 bits, so a name cannot be guessed and planted in advance. */
const NONCE_BYTES = 16;
/** Names tried before giving up (each one taken means someone planted it: never write through it). */
const ATTEMPTS = 4;

/** The temp file next to `path` for one nonce: `.<name>.<hex>.tmp` in the same directory (rename stays atomic). */
export function tempPathFor(path: string, nonce: Buffer): string {
  return join(dirname(path), `.${basename(path)}.${nonce.toString("hex")}.tmp`);
}

/**
 * Replaces `path` with `data` so that nothing planted in its directory is ever written through:
 * a new temp file with a random name opened O_CREAT|O_EXCL|O_NOFOLLOW (an existing name or a
 * symlink there is an error, open(2)), its mode set explicitly (fchmod, whatever the umask),
 * written, fsync'd, renamed over the target (rename(2) replaces a symlink at the target, it does
 * not follow it), then the directory fsync'd so the rename survives a crash. Says whether a file
 * was replaced.
 */
export async function writeFileSafely(
  path: string,
  data: string | Buffer,
  mode: number,
  random: (n: number) => Buffer = randomBytes,
): Promise<{ replaced: boolean }> {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  let tmp = "";
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  for (let attempt = 1; fh === undefined; attempt++) {
    tmp = tempPathFor(path, random(NONCE_BYTES));
    try {
      fh = await open(tmp, flags, mode);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST" || attempt >= ATTEMPTS) throw err;
    }
  }
  try {
    try {
      await fh.chmod(mode);
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    const replaced = await lstat(path).then(
      () => true,
      () => false,
    );
    await rename(tmp, path);
    const dir = await open(dirname(path), constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    return { replaced };
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}
