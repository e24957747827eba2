import { open, readFile, rename } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { Adapter } from "lowdb";
import { SshcaError } from "../errors.js";

/**
 * A lowdb adapter that survives power loss, not just a crash: write a temp file with mode
 * 0600, fsync it, rename it over the old file, fsync the directory (lowdb's own TextFile
 * adapter renames without any fsync). Concurrent writes are coalesced: every caller's
 * promise resolves once a write that includes its change is durable, and at most one write
 * runs at a time, so a burst of N changes costs one or two writes, not N.
 *
 * A missing file reads as null (a fresh install). An empty or unparsable file is refused:
 * resetting live state to defaults would forget issued certificates.
 */
export class DurableJsonFile<T> implements Adapter<T> {
  private latest: T | undefined;
  private requested = 0;
  private completed = 0;
  private running: Promise<void> | undefined;
  /** Why the last write failed, until one succeeds again (for /readyz). */
  lastError: string | undefined;

  constructor(
    readonly path: string,
    private readonly encode: (data: T) => string = (d) => JSON.stringify(d),
  ) {}

  async read(): Promise<T | null> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw new SshcaError("state_invalid", `cannot read state file ${this.path}: ${(err as Error).message}`);
    }
    if (text.trim() === "") {
      throw new SshcaError(
        "state_invalid",
        `state file ${this.path} is empty; refusing to start (restore it from a backup; sshcad never resets state)`,
      );
    }
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new SshcaError(
        "state_invalid",
        `state file ${this.path} is corrupt (${(err as Error).message}); refusing to start (restore it from a backup; sshcad never resets state)`,
      );
    }
  }

  async write(data: T): Promise<void> {
    this.latest = data;
    const mine = ++this.requested;
    while (this.completed < mine) {
      if (this.running) {
        await this.running.catch(() => undefined);
        continue;
      }
      const covers = this.requested;
      const text = this.encode(this.latest);
      this.running = this.writeFile(text).then(
        () => {
          this.completed = Math.max(this.completed, covers);
          this.lastError = undefined;
        },
        (err: NodeJS.ErrnoException) => {
          this.lastError = `write failed (${err.code ?? err.message})`;
          throw err;
        },
      );
      try {
        await this.running;
      } finally {
        this.running = undefined;
      }
    }
  }

  private async writeFile(text: string): Promise<void> {
    const tmp = join(dirname(this.path), `.${basename(this.path)}.tmp`);
    const fh = await open(tmp, "w", 0o600);
    try {
      await fh.chmod(0o600); // whatever the umask was
      await fh.writeFile(text, "utf8");
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.path);
    await fsyncDir(dirname(this.path));
  }
}

/** fsync a directory so a rename or a new file in it is durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
