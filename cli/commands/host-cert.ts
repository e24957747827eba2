import { readdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { type CaView, formatDuration, type HostCertView, parseDuration } from "../../src/http/contract.js";
import { isSignedBy, type ParsedCert, parseCertificate } from "../certificate.js";
import type { Ctx } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { readPublicKey } from "../keys.js";
import { writeFileSafely } from "../safe-write.js";

/** The host keys sshd uses by default: /etc/ssh/ssh_host_<type>_key(.pub). */
function defaultHostKeys(): string[] {
  try {
    return readdirSync("/etc/ssh")
      .filter((f) => /^ssh_host_[a-z0-9]+_key\.pub$/.test(f) && !f.includes("dsa_key"))
      .map((f) => join("/etc/ssh", f));
  } catch {
    return [];
  }
}

/** Why the certificate at `path` must be renewed now, or undefined when it is fine. */
async function renewalReason(
  path: string,
  key: { fingerprint: string },
  ca: CaView,
  renewBefore: number | undefined,
  now: number,
): Promise<{ reason?: string; cert?: ParsedCert }> {
  let cert: ParsedCert;
  try {
    cert = parseCertificate(await readFile(path, "utf8"));
  } catch {
    return { reason: "no certificate yet" };
  }
  if (cert.type !== 2) return { reason: "it is not a host certificate" };
  if (cert.subjectFingerprint !== key.fingerprint) return { reason: "it certifies another key" };
  const current = ca.keys.find((k) => k.status === "current");
  if (!current || !isSignedBy(cert, current.publicKey))
    return { reason: "the host CA signs with another key now (rotation)" };
  const lifetime = cert.validBefore.getTime() - cert.validAfter.getTime();
  const margin = renewBefore !== undefined ? renewBefore * 1000 : lifetime / 3;
  if (cert.validBefore.getTime() - now <= margin) return { reason: "it ends soon", cert };
  return { cert };
}

/** The returned certificate is for this host key, a host certificate, and signed by a published host CA key. */
function checkIssued(issued: HostCertView, key: { fingerprint: string }, ca: CaView): ParsedCert {
  let cert: ParsedCert;
  try {
    cert = parseCertificate(issued.certificate);
  } catch (err) {
    throw new CliError(`the certificate from the server is malformed: ${(err as Error).message}`);
  }
  const problems: string[] = [];
  if (cert.type !== 2) problems.push("it is not a host certificate");
  if (cert.subjectFingerprint !== key.fingerprint) problems.push(`it certifies ${cert.subjectFingerprint}`);
  if (!ca.keys.some((k) => isSignedBy(cert, k.publicKey))) problems.push("no published host CA key signed it");
  if (cert.principals.length === 0) problems.push("it names no host");
  if (problems.length) throw new CliError(`refusing the host certificate: ${problems.join("; ")}`);
  return cert;
}

/**
 * sshca host cert: run on a target host (by a timer) with its host credential; keeps a host
 * certificate beside each host key (<key>-cert.pub, sshd_config HostCertificate), renewed when a
 * third of its lifetime is left or the host CA switched keys.
 */
export function hostCertCommand(program: Command, ctx: Ctx): void {
  const host =
    program.commands.find((c) => c.name() === "host") ??
    program.command("host").description("commands for target hosts (with the host credential)");
  host
    .command("cert")
    .description(
      "keep host certificates for this host's keys (<key>-cert.pub), renewing them before they end; run by a timer",
    )
    .option("-k, --key <file...>", "host public keys (default: /etc/ssh/ssh_host_*_key.pub)")
    .option("--renew-before <duration>", "renew when less than this is left (default: a third of the lifetime)")
    .option("--reload-sshd", "after a renewal, tell sshd to re-read its host certificates (SIGHUP)")
    .option("--sshd-pid-file <file>", "sshd's pid file", "/run/sshd.pid")
    .option("--json", "print JSON")
    .action(
      async (o: {
        key?: string[];
        renewBefore?: string;
        reloadSshd?: boolean;
        sshdPidFile: string;
        json?: boolean;
      }) => {
        const renewBefore = o.renewBefore === undefined ? undefined : parseDuration(o.renewBefore);
        if (o.renewBefore !== undefined && renewBefore === undefined)
          throw new CliError(`--renew-before ${o.renewBefore} is not a duration (e.g. 10d)`, EXIT.usage);
        const keys = (o.key ?? defaultHostKeys()).map((k) => resolve(k));
        if (keys.length === 0) throw new CliError("no host keys found; give --key /etc/ssh/ssh_host_ed25519_key.pub");
        const client = await ctx.client();
        const ca = await client.hostCa();
        const results: {
          key: string;
          certificate: string;
          action: "renewed" | "kept";
          serial?: string;
          validBefore: string;
          reason?: string;
        }[] = [];
        for (const pubPath of keys) {
          const base = pubPath.replace(/\.pub$/, "");
          const key = await readPublicKey(base);
          const certPath = `${base}-cert.pub`;
          const { reason, cert } = await renewalReason(certPath, key, ca, renewBefore, Date.now());
          if (!reason && cert) {
            results.push({
              key: pubPath,
              certificate: certPath,
              action: "kept",
              validBefore: cert.validBefore.toISOString(),
            });
            continue;
          }
          const issued = await client.hostCertificate(key.line);
          checkIssued(issued, key, ca);
          await writeFileSafely(certPath, `${issued.certificate.trim()}\n`, 0o644).catch(
            (err: NodeJS.ErrnoException) => {
              throw new CliError(
                `cannot write ${certPath}: ${err.code ?? err.message}; the existing file was left as it was`,
              );
            },
          );
          results.push({
            key: pubPath,
            certificate: certPath,
            action: "renewed",
            serial: issued.serial,
            validBefore: issued.validBefore,
            ...(reason ? { reason } : {}),
          });
        }
        const renewed = results.some((r) => r.action === "renewed");
        if (renewed && o.reloadSshd) await reloadSshd(o.sshdPidFile);
        if (o.json) {
          ctx.out(JSON.stringify({ results, sshdReloaded: renewed && o.reloadSshd === true }, null, 2));
          return;
        }
        for (const r of results) {
          const left = formatDuration(Math.max(0, Math.floor((Date.parse(r.validBefore) - Date.now()) / 1000)));
          ctx.out(
            r.action === "renewed"
              ? `renewed ${r.certificate} (${r.reason}): serial ${r.serial}, valid until ${r.validBefore} (${left})`
              : `kept ${r.certificate}: valid until ${r.validBefore} (${left} left)`,
          );
        }
        if (renewed && !o.reloadSshd)
          ctx.err("sshd reads host certificates at start and on SIGHUP: reload it (or pass --reload-sshd)");
      },
    );
}

/** SIGHUP to the sshd listener: it re-executes itself and reads HostCertificate again (sshd(8)). */
async function reloadSshd(pidFile: string): Promise<void> {
  const text = await readFile(pidFile, "utf8").catch(() => {
    throw new CliError(`cannot read ${pidFile}: is sshd running? (the certificates were written)`);
  });
  const pid = Number(text.trim());
  if (!Number.isSafeInteger(pid) || pid <= 1) throw new CliError(`${pidFile} holds no pid`);
  try {
    process.kill(pid, "SIGHUP");
  } catch (err) {
    throw new CliError(`cannot signal sshd (pid ${pid}): ${(err as NodeJS.ErrnoException).code}`);
  }
}
