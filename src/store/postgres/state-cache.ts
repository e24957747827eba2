import { type Collection, emptyState, STATE_COLLECTIONS, type StateDoc } from "../state.js";

/**
 * A replica's copy of the live state (state_entries), read synchronously by the decisions and
 * kept current from the database's change feed. Each entry carries the version it was written
 * with: a commit that decided on an entry names that version, and the database refuses the
 * commit if the row moved on meanwhile (compare-and-set; see storage.ts).
 */

export interface EntryRow {
  collection: string;
  key: string;
  /** null: a tombstone (the entry was removed). */
  value: unknown;
  version: number;
}

export interface EntryId {
  collection: Collection;
  key: string;
}

const known = new Set<string>(STATE_COLLECTIONS);
const id = (collection: string, key: string) => `${collection}\u0000${key}`;

export class StateCache {
  readonly doc: StateDoc;
  /** The newest version seen per entry, tombstones included (a late older row never wins). */
  private readonly versions = new Map<string, number>();
  /** The version each cached entry object was written with. */
  private readonly entryVersions = new WeakMap<object, number>();
  /** Every row up to this version has been applied (the change feed reads on from here). */
  lastVersion = 0;

  constructor(now: Date) {
    this.doc = emptyState(now);
  }

  get(collection: Collection, key: string): unknown {
    const coll = this.doc[collection] as Record<string, unknown>;
    return Object.hasOwn(coll, key) ? coll[key] : undefined;
  }

  /**
   * The version a commit expects for an entry the caller decided on: 0 for "absent", the
   * entry's version, or undefined when the caller's object is not the cached entry any more
   * (it decided on something already replaced: stale before asking the database).
   */
  expectedVersion(collection: Collection, key: string, entry: unknown): number | undefined {
    const current = this.get(collection, key);
    if (current !== entry) return undefined;
    if (current === undefined) return 0;
    return this.entryVersions.get(current as object);
  }

  /**
   * Applies a row when it is newer than what is cached (`own`: this replica's own write, which
   * also replaces an equal version read back from the feed, so the caller's object stays the
   * cached one). Rows of collections this sshcad does not know (a newer replica's) are ignored.
   * True when the cache changed.
   */
  apply(row: EntryRow, own = false): boolean {
    if (!known.has(row.collection)) return false;
    const k = id(row.collection, row.key);
    const have = this.versions.get(k) ?? 0;
    if (row.version < have || (row.version === have && !own)) return false;
    this.versions.set(k, row.version);
    const coll = this.doc[row.collection as Collection] as Record<string, unknown>;
    if (row.value === null || row.value === undefined) {
      if (!Object.hasOwn(coll, row.key)) return false;
      delete coll[row.key];
      return true;
    }
    coll[row.key] = row.value;
    if (typeof row.value === "object") this.entryVersions.set(row.value, row.version);
    return true;
  }

  /**
   * Replaces the cache with `rows` (every live entry, as a full reload reads them in one
   * snapshot at `upToVersion`): for a replica that may have missed changes (the change feed was
   * down, or tombstones it had not read were pruned). An entry cached with a version above the
   * snapshot's stays: it is this replica's own commit that landed while the snapshot was read,
   * which the feed will not read back, so the snapshot's older row must not undo it. Returns
   * the entries that differ from what was cached.
   */
  replaceAll(rows: readonly EntryRow[], upToVersion: number): EntryId[] {
    const changed: EntryId[] = [];
    const seen = new Set<string>();
    for (const row of rows) {
      if (!known.has(row.collection)) continue;
      const k = id(row.collection, row.key);
      seen.add(k);
      const before = this.versions.get(k);
      if (before !== undefined && before > row.version) continue; // newer than the snapshot: keep
      if (before !== row.version || this.get(row.collection as Collection, row.key) === undefined) {
        this.versions.delete(k);
        this.apply(row);
        changed.push({ collection: row.collection as Collection, key: row.key });
      }
    }
    for (const collection of STATE_COLLECTIONS) {
      const coll = this.doc[collection] as Record<string, unknown>;
      for (const key of Object.keys(coll)) {
        const k = id(collection, key);
        if (seen.has(k) || (this.versions.get(k) ?? 0) > upToVersion) continue;
        delete coll[key];
        changed.push({ collection, key });
      }
    }
    for (const [k, v] of this.versions) if (!seen.has(k) && v <= upToVersion) this.versions.delete(k);
    this.lastVersion = Math.max(this.lastVersion, upToVersion);
    return changed;
  }
}
