import type { Command } from "commander";
import { adminRequest } from "../admin/client.js";
import type { HostCertRecord } from "../domain/host-cert.js";
import { SshcaError } from "../errors.js";
import type { HostCertService } from "../hostcerts/service.js";

/** Runs a host certificate operation through the running daemon's socket, or on the data directory. */
export type HostCertAdmin = <T>(
  viaSocket: (socket: string) => Promise<T | undefined>,
  offline: (certs: HostCertService) => Promise<T> | T,
) => Promise<T>;

const line = (c: HostCertRecord) =>
  `${c.serial}\t${c.host}\t${c.principals.join(",")}\tuntil ${c.validBefore}\t${c.keyFingerprint}${c.revocation ? `\tREVOKED ${c.revocation.at} (${c.revocation.reason})` : ""}`;

/**
 * `sshcad host cert list|revoke`: host certificates, under the `host` command (beside the host
 * credential commands when they are there).
 */
export function hostCertCommands(
  program: Command,
  { hostCertAdmin, say }: { hostCertAdmin: HostCertAdmin; say: (line: string) => void },
): void {
  const out = (text: string) => process.stdout.write(`${text}\n`);
  const host =
    program.commands.find((c) => c.name() === "host") ??
    program.command("host").description("target hosts: their credentials and host certificates");
  const cert = host.command("cert").description("host certificates the host CA signed (sshca host cert on each host)");

  cert
    .command("list")
    .description("live host certificates (until validBefore plus 5 minutes), newest first")
    .option("--host <name>", "only this inventory host's")
    .option("--json", "print JSON")
    .action(async (o: { host?: string; json?: boolean }) => {
      const q = o.host ? `?host=${encodeURIComponent(o.host)}` : "";
      const { certificates } = await hostCertAdmin(
        (s) => adminRequest<{ certificates: HostCertRecord[] }>(s, "GET", `/host-certs${q}`),
        (certs) => ({ certificates: certs.list(o.host) }),
      );
      if (o.json) out(JSON.stringify(certificates, null, 2));
      else for (const c of certificates) out(line(c));
    });

  cert
    .command("revoke")
    .description(
      "revoke a host certificate (or every one of a host) into the host KRL users' RevokedHostKeys reads; also revoke the host's credential if the host is not to get a new one",
    )
    .option("--serial <n>", "the certificate's serial")
    .option("--host <name>", "every live certificate of this inventory host")
    .requiredOption("--reason <text>", "why; audited")
    .option("--json", "print JSON")
    .action(async (o: { serial?: string; host?: string; reason: string; json?: boolean }) => {
      if ((o.serial === undefined) === (o.host === undefined))
        throw new SshcaError("bad_request", "give exactly one of --serial or --host");
      const target = o.serial !== undefined ? { serial: o.serial } : { host: o.host! };
      const { revoked } = await hostCertAdmin(
        (s) =>
          adminRequest<{ revoked: HostCertRecord[] }>(s, "POST", "/host-certs/revoke", { ...target, reason: o.reason }),
        async (certs) => ({ revoked: await certs.revoke(target, o.reason, "admin") }),
      );
      if (o.json) out(JSON.stringify(revoked, null, 2));
      else if (revoked.length === 0) say(`no live host certificate of ${o.host} to revoke`);
      else for (const c of revoked) say(`Revoked host certificate ${c.serial} of ${c.host}`);
    });
}
