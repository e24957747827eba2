import type { Logger } from "pino";
import type { CaKeyRecord, CaKeySet, CaKind, LiveCert } from "../domain/ca.js";
import { unwrap } from "../domain/decision.js";
import { SshcaError, safeErr } from "../errors.js";
import { type AuditEvent, put, retryStale, type Storage } from "../store/port.js";
import type { KeySource } from "./key-source.js";
import {
  decideAdopt,
  decideCancel,
  decideRetire,
  decideStage,
  decideSwitch,
  dependents,
  initialSet,
  keysNeedingPrivateHalf,
  type NewKey,
  nextKey,
  phaseOf,
  publishedKeys,
  signingKey,
  withHistoricKeys,
} from "./keyset.js";
import type { CaSigner } from "./signer.js";

export interface KeyringDeps {
  kind: CaKind;
  storage: Storage;
  source: KeySource;
  now: () => Date;
  log: Logger;
  /** Certificates this CA signed that are still valid somewhere (not revoked, not expired). */
  live: () => LiveCert[];
  /** CA keys that signed live certificates (for a set started over existing history). */
  historic?: () => NewKey[];
}

/** The user CA (always) and the host CA (absent only with an agent and no host CA public key). */
export interface CaKeys {
  user: CaKeyring;
  host: CaKeyring | undefined;
}

/** One key as `sshcad ca status` shows it. */
export interface CaKeyStatusView {
  fingerprint: string;
  publicKey: string;
  status: string;
  file?: string;
  addedAt: string;
  signingSince?: string;
  signingUntil?: string;
  retiredAt?: string;
  /** Serials of live certificates it signed. */
  liveCertificates: string[];
  /** For the keys a replica must be able to sign with: why this one cannot (absent: it can). */
  problem?: string;
}

export interface CaStatusView {
  ca: CaKind;
  custody: "file" | "agent";
  phase: string;
  nextStep: string;
  version: number;
  signing: string;
  keys: CaKeyStatusView[];
  /** The lines to trust now (TrustedUserCAKeys, or the keys of @cert-authority lines). */
  published: string[];
}

/**
 * One CA's keys at work: the key set in the live state (the one place that says which keys
 * exist and where the rotation stands, see keyset.ts), the signers this process loaded for it,
 * and the phase changes, each one commit with its audit record. Signers are looked up by the
 * set's signing key at each signature, so a switch made here or by another replica takes effect
 * at once.
 */
export class CaKeyring {
  private readonly signers = new Map<string, Promise<CaSigner>>();
  private readonly listeners: (() => void)[] = [];
  /** True when opening it created the CA's first key. */
  created = false;

  private constructor(private readonly deps: KeyringDeps) {
    deps.storage.onExternalChange((changed) => {
      if (changed.some((c) => c.collection === "caKeys" && c.key === deps.kind)) this.changed();
    });
  }

  /**
   * Opens a CA's keys: a new CA's set is started from the configured key (created when `create`
   * and there is none); a configured key the set does not know (the file was replaced outside of
   * a rotation) is adopted as the signing key, keeping the one it replaced as previous, so its
   * certificates can still be revoked. Fails when the signing key cannot be loaded. Undefined when
   * there is no set and no configured key and the CA is optional (`required: false`).
   */
  static async open(
    deps: KeyringDeps,
    /** `created`: the caller made the configured key file in this run. */
    opts: { create: boolean; required: boolean; created?: boolean },
  ): Promise<CaKeyring | undefined> {
    const ring = new CaKeyring(deps);
    const ok = await retryStale(() => ring.settle(opts));
    if (!ok) return undefined;
    const signing = signingKey(ring.set);
    if (deps.source.custody === "file") await ring.signer();
    else {
      const problem = await deps.source.problem(signing);
      if (problem) deps.log.error({ ca: deps.kind }, `${problem}; signing fails until it does`);
    }
    return ring;
  }

  private async settle(opts: { create: boolean; required: boolean; created?: boolean }): Promise<boolean> {
    const { kind, storage, source, now, log } = this.deps;
    const existing = storage.state.caKeys[kind];
    const configured = await source.configured(opts.create && existing === undefined);
    if (existing === undefined) {
      if (!configured) {
        if (!opts.required) return false;
        throw new SshcaError(
          "config_invalid",
          source.custody === "agent"
            ? `no ${kind} CA public key: with ca.signer: agent, put the public key of the CA key the agent holds where the config says (ca.publicKeyFile)`
            : `no ${kind} CA key (run: sshcad init)`,
        );
      }
      const created = configured.created || opts.created === true;
      const set = withHistoricKeys(initialSet(kind, configured.key, now()), this.deps.historic?.() ?? [], now());
      await storage.commit(
        [
          {
            type: created ? "ca.key_created" : "ca.keys_recorded",
            actor: "sshcad",
            fields: {
              ca: kind,
              fingerprint: configured.key.fingerprint,
              path: configured.path,
              custody: source.custody,
            },
          },
        ],
        [put("caKeys", kind, set, { entry: undefined })],
      );
      this.created = created;
      return true;
    }
    if (configured && !existing.keys.some((k) => k.fingerprint === configured.key.fingerprint)) {
      if (storage.backend !== "embedded")
        throw new SshcaError(
          "config_invalid",
          `this replica's ${kind} CA key ${configured.key.fingerprint} (${configured.path}) is not one of the CA's keys (signing: ${signingKey(existing).fingerprint}); copy the CA's key files here, and rotate with sshcad ca rotate`,
        );
      const replaced = signingKey(existing).fingerprint;
      const set = unwrap(decideAdopt(existing, configured.key, now()));
      await storage.commit(
        [
          {
            type: "ca.key_replaced",
            actor: "sshcad",
            fields: { ca: kind, fingerprint: configured.key.fingerprint, replaced, path: configured.path },
          },
        ],
        [put("caKeys", kind, set, { entry: existing })],
      );
      log.warn(
        { ca: kind, fingerprint: configured.key.fingerprint, replaced },
        "the CA key file was replaced outside of a rotation: the new key signs, the old one stays published until retired (sshcad ca rotate retire); next time rotate with sshcad ca rotate",
      );
    }
    return true;
  }

  get kind(): CaKind {
    return this.deps.kind;
  }

  get custody(): "file" | "agent" {
    return this.deps.source.custody;
  }

  /** The key set as the live state holds it now. */
  get set(): CaKeySet {
    const set = this.deps.storage.state.caKeys[this.deps.kind];
    if (!set) throw new SshcaError("internal", `the ${this.deps.kind} CA has no key set`);
    return set;
  }

  /** Told after every change of the set (here or by another replica): the KRL is rebuilt. */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  private changed(): void {
    for (const l of this.listeners) {
      try {
        l();
      } catch (err) {
        this.deps.log.error({ err: safeErr(err) }, "CA key change listener failed");
      }
    }
  }

  /** The signer of the current signing key (loaded once per key). */
  signer(): Promise<CaSigner> {
    const record = signingKey(this.set);
    let loading = this.signers.get(record.fingerprint);
    if (!loading) {
      loading = this.deps.source.load(record);
      this.signers.set(record.fingerprint, loading);
      loading.catch(() => this.signers.delete(record.fingerprint));
    }
    return loading;
  }

  /** Why this replica cannot sign with `key` (undefined: it can). */
  problem(key: CaKeyRecord): Promise<string | undefined> {
    return this.deps.source.problem(key);
  }

  /** Stage a next key: a new key file, or (agent) the public key of one the agent holds. */
  async stage(publicKeyLine: string | undefined, actor: string): Promise<CaStatusView> {
    const key = await this.deps.source.stage(publicKeyLine);
    const { path, ...newKey } = key;
    await this.change(actor, (set, now) => ({
      set: unwrap(decideStage(set, newKey, now)),
      event: {
        type: "ca.rotation_staged",
        fields: { fingerprint: newKey.fingerprint, custody: this.custody, ...(path ? { path } : {}) },
      },
    }));
    return this.status();
  }

  /** The staged key signs from now on; refused when this replica could not sign with it. */
  async switchKeys(actor: string): Promise<CaStatusView> {
    const next = nextKey(this.set);
    if (next) {
      const problem = await this.deps.source.problem(next);
      if (problem) throw new SshcaError("conflict", `cannot switch to ${next.fingerprint}: ${problem}`);
    }
    await this.change(actor, (set, now) => {
      const from = signingKey(set).fingerprint;
      const switched = unwrap(decideSwitch(set, now));
      return {
        set: switched,
        event: { type: "ca.rotation_switched", fields: { from, to: signingKey(switched).fingerprint } },
      };
    });
    return this.status();
  }

  /** Retire the previous key (refused while certificates it signed are live, unless forced). */
  async retire(o: { force: boolean; fingerprint?: string | undefined }, actor: string): Promise<CaStatusView> {
    await this.change(actor, (set, now) => {
      const r = unwrap(decideRetire(set, { live: this.deps.live(), force: o.force, fingerprint: o.fingerprint, now }));
      return {
        set: r.set,
        event: {
          type: "ca.rotation_retired",
          fields: { fingerprint: r.retired.fingerprint, forced: r.dependents.length > 0, dependents: r.dependents },
        },
      };
    });
    return this.status();
  }

  /** Withdraw the staged key (it is revoked in the KRL, since hosts may already trust it). */
  async cancel(actor: string): Promise<CaStatusView> {
    await this.change(actor, (set, now) => {
      const r = unwrap(decideCancel(set, now));
      return { set: r.set, event: { type: "ca.rotation_cancelled", fields: { fingerprint: r.cancelled.fingerprint } } };
    });
    return this.status();
  }

  /** Decides on the set as it is, commits the new set with its record (the phase is durable), tells listeners. */
  private async change(
    actor: string,
    decide: (set: CaKeySet, now: Date) => { set: CaKeySet; event: Pick<AuditEvent, "type" | "fields"> },
  ): Promise<void> {
    await retryStale(async () => {
      const before = this.set;
      const { set, event } = decide(before, this.deps.now());
      await this.deps.storage.commit(
        [{ type: event.type, actor, fields: { ca: this.deps.kind, ...event.fields, version: set.version } }],
        [put("caKeys", this.deps.kind, set, { entry: before })],
      );
    });
    this.changed();
  }

  /** Where the rotation stands, each key with its live certificates, and what this replica can sign with. */
  async status(): Promise<CaStatusView> {
    const set = this.set;
    const live = this.deps.live();
    const needed = new Set(keysNeedingPrivateHalf(set).map((k) => k.fingerprint));
    const keys = await Promise.all(
      set.keys.map(async (k) => {
        const problem = needed.has(k.fingerprint) ? await this.deps.source.problem(k) : undefined;
        return {
          fingerprint: k.fingerprint,
          publicKey: k.publicKey,
          status: k.status,
          ...(k.file ? { file: k.file } : {}),
          addedAt: k.addedAt,
          ...(k.signingSince ? { signingSince: k.signingSince } : {}),
          ...(k.signingUntil ? { signingUntil: k.signingUntil } : {}),
          ...(k.retiredAt ? { retiredAt: k.retiredAt } : {}),
          liveCertificates: dependents(k.fingerprint, live),
          ...(problem ? { problem } : {}),
        };
      }),
    );
    const { phase, nextStep } = phaseOf(set);
    return {
      ca: set.kind,
      custody: this.custody,
      phase,
      nextStep,
      version: set.version,
      signing: signingKey(set).fingerprint,
      keys,
      published: publishedKeys(set).map((k) => k.publicKey),
    };
  }
}
