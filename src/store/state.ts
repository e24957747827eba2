import { Low } from "lowdb";
import type { CaKeySet } from "../domain/ca.js";
import type { HostCertRecord } from "../domain/host-cert.js";
import type { AccessRequest, RevokedSerial } from "../domain/request.js";
import type { HostStatus } from "../domain/scan.js";
import { SshcaError } from "../errors.js";
import { JournaledJsonFile } from "./journaled-file.js";

/**
 * A user registered at run time (`sshcad user add`); config users need no record unless they
 * are disabled (then the record carries only the switch, with no groups of its own).
 */
export interface UserRecord {
  groups: string[];
  createdAt: string;
  /** `sshcad user disable`: no sign-in, no token, no session works until `user enable`. */
  disabled?: { at: string; by: string };
  /**
   * A person from the identity provider: the user name is bound to this issuer and subject, and
   * `groups` are those the provider's groups mapped to at the last sign-in.
   */
  oidc?: { issuer: string; subject: string; signedInAt: string };
}

/**
 * The credential a token or key was obtained through. No credential outlives its parent: a
 * sign-in key registered with a token dies with that token, a session with the key it came from.
 */
export type CredentialRef =
  | { kind: "token"; id: string }
  /**
   * `generation`: the key record's when the session signed in with it. A key removed and added
   * again (or registered anew) is another record, and what the old one signed in stays ended.
   */
  | { kind: "key"; id: string; generation?: string };

/** An SSH public key registered for sign-in, by SHA256 fingerprint. */
export interface SshKeyRecord {
  user: string;
  publicKey: string;
  addedAt: string;
  addedBy: string;
  /** Absent when an admin registered it (sshcad user key add): it then lives until removed. */
  parent?: CredentialRef;
  /** A random id per registration (absent on keys registered before it existed). */
  generation?: string;
}

/** An API token: only the SHA-256 of its secret is kept. */
export interface TokenRecord {
  user: string;
  hash: string;
  createdAt: string;
  expiresAt: string;
  revokedAt?: string;
  /**
   * "api" tokens come from sshcad; "session" tokens from an SSH-key sign-in; "host" tokens are a
   * target host's credential (`sshcad host credential create`), usable only on /v1/host/ routes.
   */
  kind?: "api" | "session" | "host";
  /** A host credential's inventory host: it speaks for that one host and nothing else. */
  host?: string;
  /** What a session token was obtained through (the sign-in key). */
  parent?: CredentialRef;
  /**
   * How a session was signed in: "ssh" (a key), "oidc" (the identity provider), "console" (a web
   * console session, carried in a cookie; see src/console/).
   */
  method?: "ssh" | "oidc" | "console";
  /** Console sessions: through the identity provider, or a one-time link from a CLI session. */
  signedInThrough?: "oidc" | "link";
  /**
   * When the person last proved who they are (the sign-in the session comes from); absent for a
   * console session whose link was minted with an API token (it is never "fresh").
   */
  authenticatedAt?: string;
}

/**
 * A second factor a user enrolled for step-up approvals: a FIDO security key (its public key) or
 * a TOTP seed (sealed; see auth/factors/sealed.ts). Counts only once confirmed.
 */
export interface FactorRecord {
  user: string;
  kind: "sk" | "totp" | "webauthn";
  addedAt: string;
  /** A TOTP factor is confirmed by its first valid code; an sk factor by its enrolment signature. */
  confirmedAt?: string;
  sk?: { publicKey: string; fingerprint: string };
  totp?: { sealed: string };
  /** A WebAuthn credential (W3C WebAuthn level 3): its id and COSE public key, base64url. */
  webauthn?: { credentialId: string; publicKey: string; counter: number; transports?: string[]; name: string };
  /** The last TOTP time step used: a code works once. */
  lastStep?: number;
}

/**
 * What the daemon knows of one target host's companion (sshca host): the stream of login reports
 * it follows and how far it recorded it, when the host last reported, and whether it was found
 * silent. One entry per inventory host that ever reported.
 */
export interface HostReportEntry {
  /** The companion's stream id (made when its state was created); a new stream starts over at 0. */
  stream: string;
  /** The last event of that stream that is recorded (events up to it are ignored when sent again). */
  through: number;
  lastSeenAt: string;
  /** When a host_silent finding was raised; cleared when the host reports again. */
  silentSince?: string;
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
  sshKeys: Record<string, SshKeyRecord>;
  /** Second factors for step-up approvals, by id. */
  factors: Record<string, FactorRecord>;
  /** Revoked certificates still to be listed in the KRL, by serial (until validBefore + skew). */
  revoked: Record<string, RevokedSerial>;
  /** The CA key sets and where their rotation stands ("user", "host"; see src/ca/keyset.ts). */
  caKeys: Record<string, CaKeySet>;
  /** Host certificates until validBefore plus the clock-skew margin, by serial (revoked ones for the host KRL). */
  hostCerts: Record<string, HostCertRecord>;
  /** Each inventory host's latest scan and unresolved drift, by host name (scan-aware approval). */
  hosts: Record<string, HostStatus>;
  /** Followers of the audit log other than webhooks (single use): the sequence number each has read up to. */
  cursors: Record<string, { cursor: number }>;
  /** Target hosts' companions: how far their login reports are recorded, by inventory host. */
  hostReports: Record<string, HostReportEntry>;
  /** Per syslog destination: the audit sequence number up to which events were sent (at-least-once). */
  syslog: Record<string, { cursor: number }>;
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
    factors: {},
    revoked: {},
    caKeys: {},
    hostCerts: {},
    hosts: {},
    cursors: {},
    hostReports: {},
    syslog: {},
  };
}

/** The parts of the document that are collections of entries (journaled entry by entry). */
export const STATE_COLLECTIONS = [
  "users",
  "tokens",
  "requests",
  "webhooks",
  "sshKeys",
  "factors",
  "revoked",
  "caKeys",
  "hostCerts",
  "hosts",
  "cursors",
  "hostReports",
  "syslog",
] as const;
export type Collection = (typeof STATE_COLLECTIONS)[number];
export type EntryOf<C extends Collection> = StateDoc[C][string];

/** The document as everyone but the store sees it: collections change only through put/remove. */
export type StateView = Readonly<Omit<StateDoc, Collection>> & { readonly [C in Collection]: Readonly<StateDoc[C]> };

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

  /** The live document, read-only: change it with put, remove and noteAuditSeq, then persist. */
  get data(): StateView {
    return this.db.data;
  }

  /** Sets one entry (a new object: entries are never mutated in place). */
  put<C extends Collection>(collection: C, key: string, value: EntryOf<C>): void {
    (this.db.data[collection] as Record<string, EntryOf<C>>)[key] = value;
    this.adapter.markDirty(collection, key);
  }

  remove(collection: Collection, key: string): void {
    delete (this.db.data[collection] as Record<string, unknown>)[key];
    this.adapter.markDirty(collection, key);
  }

  /** Records that the document includes the change audited as record `seq`. */
  noteAuditSeq(seq: number): void {
    this.db.data.auditSeq = Math.max(this.db.data.auditSeq, seq);
  }

  /** Durably writes what changed (coalesced with concurrent callers). */
  persist(): Promise<void> {
    return this.db.write();
  }
}
