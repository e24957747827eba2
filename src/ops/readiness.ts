import { constants } from "node:fs";
import { access } from "node:fs/promises";

export interface Check {
  ok: boolean;
  detail?: string;
}

export interface ReadinessDeps {
  /** Can the storage (state file and audit log, or the database) take writes? */
  storage: () => Promise<Record<string, Check>>;
  /** Can the daemon sign with the keys the CA rotation needs (files readable, or the agent holding them)? */
  caKey: () => Promise<Check>;
  /** Absolute path of nmap, when scanning is on. */
  nmapPath?: string | undefined;
  /** With single sign-on: can the provider's discovery document and signing keys be fetched? */
  oidc?: () => Promise<{ ok: boolean; message: string }>;
}

export async function can(path: string, mode: number, what: string): Promise<Check> {
  try {
    await access(path, mode);
    return { ok: true };
  } catch (err) {
    return { ok: false, detail: `${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? "not accessible"}` };
  }
}

/**
 * Can the daemon do its job right now: storage writable, CA keys usable, nmap
 * runnable, and with single sign-on the identity provider's discovery and keys reachable?
 */
export async function readiness(d: ReadinessDeps): Promise<{ ready: boolean; checks: Record<string, Check> }> {
  const checks: Record<string, Check> = {
    ...(await d.storage()),
    caKey: await d.caKey(),
    ...(d.nmapPath ? { nmap: await can(d.nmapPath, constants.X_OK, "nmap") } : {}),
    ...(d.oidc ? { oidc: await d.oidc().then(({ ok, message }) => ({ ok, detail: message })) } : {}),
  };
  return { ready: Object.values(checks).every((c) => c.ok), checks };
}
