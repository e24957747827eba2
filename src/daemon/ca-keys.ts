import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import sshpk from "sshpk";
import { KRL_SKEW_MS } from "../access/revoked.js";
import { AgentClient } from "../ca/agent/client.js";
import { agentKeySource, fileKeySource, type KeySource } from "../ca/key-source.js";
import { type CaKeys, CaKeyring } from "../ca/keyring.js";
import type { NewKey } from "../ca/keyset.js";
import { describeKey } from "../ca/signer.js";
import type { Config } from "../config/schema.js";
import type { CaKind, LiveCert } from "../domain/ca.js";
import { SshcaError } from "../errors.js";
import type { Storage } from "../store/port.js";
import type { StateView } from "../store/state.js";
import type { DataPaths } from "./paths.js";

export type { CaKeys } from "../ca/keyring.js";

/** User certificates that are issued, not revoked, and may still be accepted somewhere. */
export function liveUserCerts(state: StateView, now: Date): LiveCert[] {
  return Object.values(state.requests)
    .filter((r) => r.state === "issued" && r.cert && Date.parse(r.cert.validBefore) + KRL_SKEW_MS > now.getTime())
    .map((r) => ({ serial: r.cert!.serial, caFingerprint: r.cert!.caFingerprint }));
}

/**
 * Host certificates that are not revoked, may still be accepted somewhere, and are still the
 * newest of their host key: a host presents only its newest certificate, so one a renewal
 * superseded (after a host CA switch, say) keeps no CA key from being retired. Pure.
 */
export function liveHostCerts(state: StateView, now: Date): LiveCert[] {
  const certs = Object.values(state.hostCerts);
  const newest = new Map<string, string>();
  for (const c of certs) {
    const k = `${c.host} ${c.keyFingerprint}`;
    if ((newest.get(k) ?? "") < c.issuedAt) newest.set(k, c.issuedAt);
  }
  return certs
    .filter((c) => !c.revocation && Date.parse(c.validBefore) + KRL_SKEW_MS > now.getTime())
    .filter((c) => newest.get(`${c.host} ${c.keyFingerprint}`) === c.issuedAt)
    .map((c) => ({ serial: c.serial, caFingerprint: c.caFingerprint }));
}

/**
 * The CA keys of live user certificates, read from the certificates themselves: a set started
 * over an existing history (an upgrade) then knows every key whose serials the KRL must list,
 * also one that was replaced before the set existed.
 */
function historicUserKeys(state: StateView): NewKey[] {
  const out: NewKey[] = [];
  for (const r of Object.values(state.requests)) {
    if (!r.cert) continue;
    try {
      const key = sshpk.parseCertificate(r.cert.certificate, "openssh").issuerKey;
      if (!key) continue;
      const issuer = describeKey(key);
      if (issuer.fingerprint === r.cert.caFingerprint)
        out.push({ fingerprint: issuer.fingerprint, publicKey: issuer.publicKeyLine });
    } catch {
      // a certificate that does not parse names no key
    }
  }
  return out;
}

/** Where each CA's keys are: files, or the agent (one client for both CAs). */
function sources(config: Config, paths: DataPaths, env: NodeJS.ProcessEnv, passphrase: string | undefined) {
  if (config.ca.signer === "file") {
    const source = (kind: CaKind): KeySource =>
      fileKeySource({
        path: kind === "user" ? paths.caKey : paths.hostCaKey,
        keyType: config.ca.keyType,
        comment: kind === "user" ? "sshca user CA" : "sshca host CA",
        passphrase,
      });
    return { user: source("user"), host: source("host") };
  }
  const socket = config.ca.agentSocket ?? env.SSH_AUTH_SOCK;
  if (!socket)
    throw new SshcaError(
      "config_invalid",
      "ca.signer is agent, but no agent socket is set (ca.agentSocket, or SSH_AUTH_SOCK in sshcad's environment)",
    );
  const agent = new AgentClient(socket);
  return {
    user: agentKeySource({ agent, publicKeyFile: config.ca.publicKeyFile ?? `${paths.caKey}.pub` }),
    host: agentKeySource({ agent, publicKeyFile: config.ca.host.publicKeyFile ?? `${paths.hostCaKey}.pub` }),
  };
}

/**
 * Opens both CAs' keys over the storage: a new CA's sets are started (and, with key files, the
 * keys created when `create`); the host CA with an agent only when its public key is there.
 */
export async function openCaKeys(o: {
  config: Config;
  paths: DataPaths;
  storage: Storage;
  env: NodeJS.ProcessEnv;
  now: () => Date;
  log: Logger;
  create: boolean;
  /** The caller made the user CA key file in this run (PostgreSQL binds it before the storage opens). */
  userCreated?: boolean;
}): Promise<CaKeys> {
  const src = sources(o.config, o.paths, o.env, await caPassphrase(o.env));
  const base = { storage: o.storage, now: o.now, log: o.log };
  const user = (await CaKeyring.open(
    {
      ...base,
      kind: "user",
      source: src.user,
      live: () => liveUserCerts(o.storage.state, o.now()),
      historic: () => historicUserKeys(o.storage.state),
    },
    { create: o.create, required: true, created: o.userCreated === true },
  ))!;
  const host = await CaKeyring.open(
    { ...base, kind: "host", source: src.host, live: () => liveHostCerts(o.storage.state, o.now()) },
    { create: o.create, required: o.create && o.config.ca.signer === "file" },
  );
  if (!host) o.log.warn("no host CA: with ca.signer: agent, put the host CA public key at ca.host.publicKeyFile");
  return { user, host };
}

/**
 * An encrypted CA key's passphrase: from systemd credentials (LoadCredential=ca-passphrase:...)
 * or a file named by SSHCAD_CA_PASSPHRASE_FILE. Never from argv or a plain variable. Keys sshcad
 * makes for a rotation are encrypted with it too.
 */
export async function caPassphrase(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const file =
    env.SSHCAD_CA_PASSPHRASE_FILE ??
    (env.CREDENTIALS_DIRECTORY ? join(env.CREDENTIALS_DIRECTORY, "ca-passphrase") : undefined);
  if (!file) return undefined;
  try {
    return (await readFile(file, "utf8")).replace(/\r?\n$/, "");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" && !env.SSHCAD_CA_PASSPHRASE_FILE) return undefined;
    throw new SshcaError("config_invalid", `cannot read the CA passphrase file ${file}: ${(err as Error).message}`);
  }
}
