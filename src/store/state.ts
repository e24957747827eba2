import { Low } from "lowdb";
import type { AccessRequest } from "../access/types.js";
import { SshcaError } from "../errors.js";
import { JournaledJsonFile } from "./journaled-file.js";

/** A user registered at run time (`sshcad user add`); config users need no record. */
export interface UserRecord {
  groups: string[];
  createdAt: string;
}

/** An API token: only the SHA-256 of its secret is kept. */
export interface TokenRecord {
  user: string;
  hash: string;
  createdAt: string;
  expiresAt: string;
  revokedAt?: string;
  /** "api" tokens come from sshcad; "session" tokens from an SSH-key sign-in. */
  kind?: "api" | "session";
}

/**
 * The live state: what is true now, never history (history is the audit log). Finished
 * requests leave this document, so each write stays proportional to live work.
 */
export interface StateDoc {
  format: "sshca-state/1";
  createdAt: string;
  users: Record<string, UserRecord>;
  tokens: Record<string, TokenRecord>;
  requests: Record<string, AccessRequest>;
  /** Sequence number of the newest audit record whose change this document includes. */
  auditSeq: number;
  /** Per webhook: the audit sequence number up to which events were delivered (at-least-once). */
  webhooks: Record<string, { cursor: number }>;
  /** SSH public keys registered for sign-in, by SHA256 fingerprint. */
  sshKeys: Record<string, { user: string; publicKey: string; addedAt: string; addedBy: string }>;
}

export function emptyState(now: Date): StateDoc {
  return {
    format: "sshca-state/1",
    createdAt: now.toISOString(),
    users: {},
    tokens: {},
    requests: {},
    auditSeq: 0,
    webhooks: {},
    sshKeys: {},
  };
}

/**
 * The parts of the document that are collections of entries (journaled entry by entry).
 * Entries are replaced, never mutated in place.
 */
const STATE_COLLECTIONS = ["users", "tokens", "requests", "webhooks", "sshKeys"];

/** lowdb over the journaled durable adapter, plus the checks a loaded document must pass. */
export class StateStore {
  private constructor(
    private readonly adapter: JournaledJsonFile<StateDoc>,
    private readonly db: Low<StateDoc>,
    readonly path: string,
    readonly isNew: boolean,
  ) {}

  static async open(path: string, now: Date): Promise<StateStore> {
    const adapter = new JournaledJsonFile<StateDoc>(path, STATE_COLLECTIONS);
    const db = new Low<StateDoc>(adapter, emptyState(now));
    const raw = await adapter.read();
    if (raw !== null) {
      if (typeof raw !== "object" || (raw as Partial<StateDoc>).format !== "sshca-state/1") {
        throw new SshcaError("state_invalid", `state file ${path} is not an sshca state document; refusing to start`);
      }
      for (const key of ["users", "tokens", "requests"] as const) {
        if (typeof raw[key] !== "object" || raw[key] === null) {
          throw new SshcaError("state_invalid", `state file ${path} has no "${key}" object; refusing to start`);
        }
      }
      db.data = { ...emptyState(now), ...raw };
    }
    return new StateStore(adapter, db, path, raw === null);
  }

  /** Why the last write failed, if it did (cleared by the next successful write). */
  get lastError(): string | undefined {
    return this.adapter.lastError;
  }

  get data(): StateDoc {
    return this.db.data;
  }

  /** Durably writes the current document (coalesced with concurrent callers). */
  persist(): Promise<void> {
    return this.db.write();
  }
}
