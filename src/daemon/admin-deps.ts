import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { AccessService } from "../access/service.js";
import type { AdminDeps } from "../admin/users.js";
import { krlContent } from "../ca/krl.js";
import { KrlService } from "../ca/krl-service.js";
import type { Core } from "./core.js";
import { fail } from "../errors.js";
import { HostCertService } from "../hostcerts/service.js";

/** Every file the KRL is written to: the daemon's own, and revocation.krlFile when configured. */
export function krlPaths(core: Core): string[] {
  return [core.paths.krl, ...(core.config.revocation.krlFile ? [core.config.revocation.krlFile] : [])];
}

/**
 * What `sshcad user ...` needs when no daemon is running: the data directory opened under its
 * lock, and an access service whose revocations publish the KRL files, so that disabling a
 * user offline ends their requests and revokes their certificates exactly as online.
 */
export function offlineAdminDeps(core: Core, log: Logger, now: () => Date): AdminDeps {
  const config = () => core.config;
  const access: AccessService = new AccessService({
    config,
    storage: core.storage,
    ca: core.cas.user,
    now,
    random: randomBytes,
    log,
    publishRevocations: () => krl.rebuild(),
  });
  const krl = userKrl(core, access, log, now);
  return { config, storage: core.storage, now, random: randomBytes, access };
}

/** The user CA's KRL as the daemon keeps it (also written to revocation.krlFile). */
export function userKrl(core: Core, access: AccessService, log: Logger, now: () => Date): KrlService {
  return new KrlService({
    content: () => krlContent(core.cas.user.set, access.revokedEntries(now())),
    paths: krlPaths(core),
    now,
    log,
  });
}

/**
 * `sshcad ca ...` with no daemon running: the rotation works on the data directory under its
 * lock, then the KRL files are rewritten, since a retired or cancelled key is revoked there.
 */
export async function offlineCa<T>(
  core: Core,
  log: Logger,
  now: () => Date,
  run: (cas: Core["cas"]) => Promise<T>,
): Promise<T> {
  const access = new AccessService({
    config: () => core.config,
    storage: core.storage,
    ca: core.cas.user,
    now,
    random: randomBytes,
    log,
  });
  const result = await run(core.cas);
  await userKrl(core, access, log, now).rebuild();
  return result;
}

/**
 * `sshcad host cert ...` with no daemon running: the host certificates of the data directory.
 * The host KRL lives in the daemon's memory (rebuilt from the state when it starts), so there is
 * no file to rewrite here.
 */
export function offlineHostCerts(core: Core, log: Logger, now: () => Date): HostCertService {
  if (!core.cas.host) throw fail.notFound("there is no host CA (with ca.signer: agent, set ca.host.publicKeyFile)");
  return new HostCertService({
    config: () => core.config,
    storage: core.storage,
    ca: core.cas.host,
    now,
    random: randomBytes,
    log,
    publishRevocations: async () => undefined,
  });
}
