import type { Logger } from "pino";
import { KRL_SKEW_MS } from "../access/revoked.js";
import type { CaKeyring } from "../ca/keyring.js";
import { randomSerial } from "../ca/serial.js";
import { signCertificate } from "../ca/sign.js";
import { parseSubjectKey } from "../ca/subject-key.js";
import type { Config } from "../config/schema.js";
import { unwrap } from "../domain/decision.js";
import type { HostCertRecord } from "../domain/host-cert.js";
import { fail, safeErr } from "../errors.js";
import { type Change, put, remove, retryStale, type Storage } from "../store/port.js";
import { decideHostCert } from "./decide.js";

export interface HostCertDeps {
  config: () => Config;
  storage: Storage;
  /** The host CA's keys. */
  ca: CaKeyring;
  now: () => Date;
  random: (n: number) => Buffer;
  log: Logger;
  /** Publishes the host KRL after a revocation (resolves once rebuilt). */
  publishRevocations: () => Promise<void>;
}

/** What a host receives: its certificate and what is in it. */
export interface IssuedHostCert {
  host: string;
  certificate: string;
  serial: string;
  principals: string[];
  validAfter: string;
  validBefore: string;
  caFingerprint: string;
}

/**
 * Host certificates: signed for inventory hosts that ask with their own credential, audited
 * before anyone sees them, kept in the live state while they can be used (for revocation and
 * for the host CA's retirement check), revocable into the host KRL (users' RevokedHostKeys).
 */
export class HostCertService {
  constructor(private readonly deps: HostCertDeps) {}

  private live(): HostCertRecord[] {
    return Object.values(this.deps.storage.state.hostCerts);
  }

  /** Signs the host key `publicKey` of `host` (the host its credential speaks for). */
  async sign(host: string, publicKey: string, actor: string): Promise<IssuedHostCert> {
    const subject = parseSubjectKey(publicKey);
    const now = this.deps.now();
    const plan = unwrap(decideHostCert(this.deps.config(), host, this.live(), now));
    const signer = await this.deps.ca.signer();
    const serial = randomSerial(this.deps.random);
    const certificate = await signCertificate(
      {
        type: "host",
        subjectKey: subject.key,
        serial: serial.bytes,
        keyId: plan.keyId,
        principals: plan.principals,
        validAfter: plan.validAfter,
        validBefore: plan.validBefore,
        criticalOptions: {},
        extensions: [],
      },
      signer,
    );
    const record: HostCertRecord = {
      serial: serial.decimal,
      host,
      principals: plan.principals,
      keyFingerprint: subject.fingerprint,
      keyId: plan.keyId,
      validAfter: plan.validAfter.toISOString(),
      validBefore: plan.validBefore.toISOString(),
      caFingerprint: signer.fingerprint,
      issuedAt: now.toISOString(),
    };
    // The record is durable before the certificate leaves (invariant 1, for hosts too).
    await this.deps.storage.commit(
      [
        {
          type: "host.certificate_issued",
          actor,
          fields: {
            host,
            serial: record.serial,
            keyId: record.keyId,
            principals: record.principals,
            hostKeyFingerprint: record.keyFingerprint,
            validAfter: record.validAfter,
            validBefore: record.validBefore,
            caKeyFingerprint: record.caFingerprint,
          },
        },
      ],
      [put("hostCerts", record.serial, record, { entry: undefined })],
    );
    return {
      host,
      certificate,
      serial: record.serial,
      principals: record.principals,
      validAfter: record.validAfter,
      validBefore: record.validBefore,
      caFingerprint: record.caFingerprint,
    };
  }

  /** Live host certificates (all hosts, or one), newest first. */
  list(host?: string): HostCertRecord[] {
    return this.live()
      .filter((c) => host === undefined || c.host === host)
      .sort((a, b) => b.issuedAt.localeCompare(a.issuedAt));
  }

  /**
   * Revokes one certificate by serial, or every live one of a host, into the host KRL. Each is
   * audited; the KRL is rebuilt before this answers.
   */
  async revoke(
    target: { serial: string } | { host: string },
    reason: string,
    actor: string,
  ): Promise<HostCertRecord[]> {
    if (reason.trim().length === 0) throw fail.badRequest("a reason is required");
    const revoked = await retryStale(async () => {
      const now = this.deps.now();
      const chosen =
        "serial" in target
          ? this.live().filter((c) => c.serial === target.serial)
          : this.live().filter((c) => c.host === target.host);
      if ("serial" in target && chosen.length === 0)
        throw fail.notFound(`no live host certificate with serial ${target.serial}`);
      const todo = chosen.filter((c) => !c.revocation);
      if ("serial" in target && todo.length === 0)
        throw fail.conflict(`host certificate ${target.serial} was already revoked`);
      const at = now.toISOString();
      const changes: Change[] = [];
      const done: HostCertRecord[] = [];
      for (const c of todo) {
        const next = { ...c, revocation: { by: actor, at, reason: reason.trim() } };
        changes.push(put("hostCerts", c.serial, next, { entry: c }));
        done.push(next);
      }
      if (done.length === 0) return done;
      await this.deps.storage.commit(
        done.map((c) => ({
          type: "host.certificate_revoked" as const,
          actor,
          fields: { host: c.host, serial: c.serial, reason: reason.trim(), caKeyFingerprint: c.caFingerprint },
        })),
        changes,
      );
      return done;
    });
    if (revoked.length > 0) {
      try {
        await this.deps.publishRevocations();
      } catch (err) {
        throw fail.unavailable(
          `host certificates recorded as revoked, but the host KRL could not be rebuilt (${safeErr(err).message}); it is retried every minute`,
        );
      }
    }
    return revoked;
  }

  /** Revoked host certificates still to be listed in the host KRL (until validBefore plus the skew margin). */
  revokedEntries(now: Date): HostCertRecord[] {
    return this.live().filter((c) => c.revocation && Date.parse(c.validBefore) + KRL_SKEW_MS > now.getTime());
  }

  /** Certificates past validBefore plus the skew margin leave the live state (history stays in the audit log). */
  async prune(now: Date): Promise<void> {
    const done = this.live().filter((c) => Date.parse(c.validBefore) + KRL_SKEW_MS <= now.getTime());
    if (done.length === 0) return;
    await this.deps.storage
      .commit(
        [],
        done.map((c) => remove("hostCerts", c.serial, { entry: c })),
      )
      .catch((err) => this.deps.log.debug({ err: safeErr(err) }, "host certificate pruning deferred"));
  }
}
