import { type FileHandle, open, readFile, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { Adapter } from "lowdb";
import { SshcaError } from "../errors.js";
import { fsyncDir } from "../files/fsync-dir.js";

type Doc = Record<string, unknown>;

/** Adapter bookkeeping kept inside the snapshot: which journal generation continues it. */
const META = "_persist";

/** One journal line: an entry put or deleted in a collection, a top-level value set, or a batch end. */
type Line =
  | { c: string; k: string; v: unknown }
  | { c: string; k: string; d: 1 }
  | { s: string; v: unknown }
  | { commit: number };

/**
 * A lowdb adapter for a document made of collections (id -> entry) and a few scalars, whose
 * writes cost what changed, not what exists.
 *
 * - The snapshot is written as the durable adapter writes any file: a temp file with mode 0600
 *   whatever the umask, fsync, rename over the old one, fsync the directory.
 * - Between snapshots, each write appends only the entries that changed to a journal and
 *   fdatasyncs it. Entries are compared by reference, so the document's entries must be
 *   replaced, never mutated in place. A batch counts only once its commit line is on disk, so a
 *   torn tail (a write that was never acknowledged) is ignored.
 * - When the journal outgrows the snapshot, a new snapshot starts the next journal generation;
 *   a crash at any point leaves a snapshot plus the journal that continues it.
 *
 * Concurrent writes are coalesced exactly like DurableJsonFile. An empty or unparsable snapshot,
 * or a journal that is corrupt before its tail, is refused: live state is never reset.
 */
export class JournaledJsonFile<T extends object> implements Adapter<T> {
  private latest: T | undefined;
  private requested = 0;
  private completed = 0;
  private running: Promise<void> | undefined;
  private generation = 0;
  private journalBytes = 0;
  private snapshotBytes = 0;
  private scalars = new Map<string, unknown>();
  private dirty = new Map<string, Set<string>>();
  private needsSnapshot = true;
  private batch = 0;
  /** Why the last write failed, until one succeeds again (for /readyz). */
  lastError: string | undefined;

  constructor(
    readonly path: string,
    private readonly collections: readonly string[],
    private readonly minJournalBytes = 4 * 1024 * 1024,
  ) {}

  private journalPath(generation: number): string {
    return `${this.path}.journal-${generation}`;
  }

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
    let doc: Doc & { [META]?: { journal?: number } };
    try {
      doc = JSON.parse(text) as typeof doc;
    } catch (err) {
      throw new SshcaError(
        "state_invalid",
        `state file ${this.path} is corrupt (${(err as Error).message}); refusing to start (restore it from a backup; sshcad never resets state)`,
      );
    }
    this.snapshotBytes = Buffer.byteLength(text);
    this.generation = doc[META]?.journal ?? 0;
    delete doc[META];
    const clean = await this.replay(doc);
    this.remember(doc);
    // A torn or uncommitted tail must not be appended to: the next write starts a new snapshot.
    this.needsSnapshot = !clean;
    return doc as T;
  }

  /** Applies the committed batches of the current journal generation; false when its tail is torn or uncommitted. */
  private async replay(doc: Doc): Promise<boolean> {
    let text: string;
    try {
      text = await readFile(this.journalPath(this.generation), "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return true;
      throw new SshcaError("state_invalid", `cannot read state journal: ${(err as Error).message}`);
    }
    this.journalBytes = Buffer.byteLength(text);
    const lines = text.split("\n");
    const torn = lines.pop(); // "" when the file ends with a newline
    let pending: Line[] = [];
    for (let i = 0; i < lines.length; i++) {
      let line: Line;
      try {
        line = JSON.parse(lines[i]!) as Line;
      } catch {
        throw new SshcaError(
          "state_invalid",
          `state journal ${this.journalPath(this.generation)} is corrupt at line ${i + 1}; refusing to start`,
        );
      }
      if ("commit" in line) {
        for (const op of pending) apply(doc, op);
        pending = [];
        this.batch = line.commit;
      } else pending.push(line);
    }
    // A batch without its commit line, or a torn last line, was never acknowledged.
    return torn === "" && pending.length === 0;
  }

  /** The scalars last made durable (collections are tracked by dirty keys instead). */
  private remember(doc: Doc): void {
    this.scalars = scalarsOf(doc, this.collections);
    this.needsSnapshot = false;
  }

  /** An entry of `collection` was set or removed; the next write journals it. */
  markDirty(collection: string, key: string): void {
    let keys = this.dirty.get(collection);
    if (!keys) {
      keys = new Set();
      this.dirty.set(collection, keys);
    }
    keys.add(key);
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
      this.running = this.persist(this.latest).then(
        () => {
          this.completed = Math.max(this.completed, covers);
          this.lastError = undefined;
        },
        (err: NodeJS.ErrnoException) => {
          this.lastError = `write failed (${err.code ?? err.message})`;
          // After a failure nothing is assumed about the journal: the next write is a snapshot.
          this.needsSnapshot = true;
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

  private async persist(doc: T): Promise<void> {
    if (this.needsSnapshot || this.journalBytes > Math.max(this.minJournalBytes, this.snapshotBytes)) {
      await this.snapshot(doc);
      return;
    }
    const lines = this.diff(doc);
    if (lines.length === 0) return;
    lines.push({ commit: ++this.batch });
    const bytes = Buffer.from(`${lines.map((l) => JSON.stringify(l)).join("\n")}\n`, "utf8");
    let fh: FileHandle | undefined;
    try {
      fh = await open(this.journalPath(this.generation), "a", 0o600);
      await fh.chmod(0o600);
      await fh.write(bytes);
      await fh.datasync();
    } finally {
      await fh?.close();
    }
    // The first batch of a generation created the file: make its name durable too.
    if (this.journalBytes === 0) await fsyncDir(dirname(this.path));
    this.journalBytes += bytes.length;
    for (const line of lines) if ("s" in line) this.scalars.set(line.s, line.v);
  }

  /** The lines that turn what was last written into `doc`: dirty entries and changed scalars. */
  private diff(data: T): Line[] {
    const doc = data as Doc;
    const out: Line[] = [];
    const dirty = this.dirty;
    this.dirty = new Map(); // taken now; changes made while this write runs go into the next one
    for (const [c, keys] of dirty) {
      const coll = (doc[c] as Doc | undefined) ?? {};
      for (const k of keys) out.push(Object.hasOwn(coll, k) ? { c, k, v: coll[k] } : { c, k, d: 1 });
    }
    for (const [s, v] of Object.entries(doc)) {
      if (!this.collections.includes(s) && this.scalars.get(s) !== v) out.push({ s, v });
    }
    return out;
  }

  private async snapshot(doc: T): Promise<void> {
    const next = this.generation + 1;
    // Serialised and captured now: the document may change while the file is written.
    const text = JSON.stringify({ ...doc, [META]: { journal: next } });
    const scalars = scalarsOf(doc as Doc, this.collections);
    this.dirty = new Map(); // everything is in this snapshot
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
    const old = this.journalPath(this.generation);
    this.generation = next;
    this.journalBytes = 0;
    this.snapshotBytes = Buffer.byteLength(text);
    this.scalars = scalars; // what was written, not what the document holds by now
    this.needsSnapshot = false;
    await unlink(old).catch(() => undefined);
  }
}

function scalarsOf(doc: Doc, collections: readonly string[]): Map<string, unknown> {
  return new Map(Object.entries(doc).filter(([k]) => !collections.includes(k)));
}

function apply(doc: Doc, line: Line): void {
  if ("s" in line) {
    doc[line.s] = line.v;
  } else if ("c" in line) {
    const coll = ((doc[line.c] as Doc | undefined) ??= {}) as Doc;
    if ("d" in line) delete coll[line.k];
    else coll[line.k] = line.v;
  }
}
