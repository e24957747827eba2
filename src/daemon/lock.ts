import { open, readFile, unlink } from "node:fs/promises";
import { SshcaError } from "../errors.js";

/**
 * One process at a time owns the data directory (lowdb is single-process). The lock file
 * holds the owner's pid; a lock whose pid is gone is stale and taken over.
 */
export async function acquireLock(path: string): Promise<{ release: () => Promise<void> }> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, "wx", 0o600);
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      return {
        release: async () => {
          await unlink(path).catch(() => undefined);
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const pid = Number((await readFile(path, "utf8").catch(() => "")).trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
      throw new SshcaError("conflict", `another sshcad (pid ${pid}) is using this data directory`);
    }
    await unlink(path).catch(() => undefined);
  }
  throw new SshcaError("conflict", `cannot take the lock ${path}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
