import { randomBytes } from "node:crypto";
import { link, readFile, unlink, writeFile } from "node:fs/promises";
import { SshcaError } from "../errors.js";

/**
 * One process at a time owns the data directory (lowdb is single-process). The lock file holds
 * the owner's pid and appears with that content or not at all (written to a private temp file,
 * then hard-linked into place, which fails if a lock exists). A lock whose pid is gone, or is
 * not an sshcad (a pid reused after a reboot), is stale and taken over.
 */
export async function acquireLock(path: string): Promise<{ release: () => Promise<void> }> {
  const mine = `${process.pid}\n`;
  for (let attempt = 0; attempt < 5; attempt++) {
    const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}`;
    await writeFile(tmp, mine, { mode: 0o600 });
    try {
      await link(tmp, path);
      return {
        release: async () => {
          if ((await readFile(path, "utf8").catch(() => "")) === mine) await unlink(path).catch(() => undefined);
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
    const holder = await readFile(path, "utf8").catch(() => "");
    const pid = Number(holder.trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && (await isSshcad(pid))) {
      throw new SshcaError("state_invalid", `another sshcad (pid ${pid}) is using this data directory`);
    }
    // Stale: remove it only if it is still the same stale lock (another starter may have won).
    if ((await readFile(path, "utf8").catch(() => undefined)) === holder) await unlink(path).catch(() => undefined);
  }
  throw new SshcaError("state_invalid", `cannot take the lock ${path}`);
}

/** Is `pid` a live sshcad process? (Where /proc hides other processes, alive is enough.) */
async function isSshcad(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  try {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8");
    return /sshcad|main\.js/.test(cmdline);
  } catch {
    return true;
  }
}
