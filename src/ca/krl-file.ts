import { randomBytes } from "node:crypto";
import { chmod, mkdir, open, rename } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fsyncDir } from "../files/fsync-dir.js";

/**
 * Replaces a KRL file atomically (temp file, fsync, rename, directory fsync), mode 0644 so sshd
 * can read it. sshd re-reads RevokedKeys on every public-key login; a half-written or missing
 * file would make it refuse every login, so readers only ever see a complete old or new file.
 */
export async function writeKrlFile(path: string, bytes: Buffer): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  const fh = await open(tmp, "w", 0o644);
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await chmod(tmp, 0o644);
  await rename(tmp, path);
  await fsyncDir(dirname(path));
}
