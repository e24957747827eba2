import { resolve } from "node:path";
import type { Command } from "commander";
import { certAuthorityLines, knownHostsPatterns, type KnownHostsView } from "../../src/http/contract.js";
import type { Ctx } from "../context.js";
import { emit } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { DEFAULT_KEY, expandHome } from "../keys.js";
import { writeFileSafely } from "../safe-write.js";

/** Where `sshca ssh-config` points ssh by default (what `known-hosts --out` and `krl fetch --hosts` write). */
const KNOWN_HOSTS = "~/.ssh/sshca_known_hosts";
const HOST_KRL = "~/.ssh/sshca_revoked_host_keys.krl";

/** known_hosts content: one @cert-authority line per host CA key the rotation needs. */
function knownHostsText(view: KnownHostsView, patterns: string[] | undefined): string {
  if (view.keys.length === 0) throw new CliError("the daemon published no host CA key");
  const names = patterns?.length ? patterns : knownHostsPatterns(view.hosts);
  if (names.length === 0) throw new CliError("the inventory has no hosts; give --pattern");
  return `# sshca host CA (sshca known-hosts): hosts certified by it are trusted without a prompt\n${certAuthorityLines(view.keys, names)}`;
}

/** sshca known-hosts, sshca ssh-config */
export function knownHostsCommands(program: Command, ctx: Ctx): void {
  program
    .command("known-hosts")
    .description(
      "print the @cert-authority known_hosts lines for the inventory hosts (the host CA's current and next key)",
    )
    .option("-o, --out <file>", `replace FILE atomically instead of printing (e.g. ${KNOWN_HOSTS})`)
    .option("--pattern <pattern...>", "known_hosts host patterns instead of the inventory's names and addresses")
    .option("--json", "print JSON")
    .action(async (o: { out?: string; pattern?: string[]; json?: boolean }) => {
      const view = await (await ctx.client()).knownHosts();
      if (o.pattern?.some((p) => !/^[A-Za-z0-9.*?:[\]-]+$/.test(p)))
        throw new CliError("--pattern takes host patterns such as *.example.com or [web-1]:*", EXIT.usage);
      const text = knownHostsText(view, o.pattern);
      if (o.out) {
        const out = expandHome(o.out);
        await writeFileSafely(resolve(out), text, 0o644).catch((err: NodeJS.ErrnoException) => {
          throw new CliError(`cannot write ${out}: ${err.code ?? err.message}; the existing file was left as it was`);
        });
        ctx.err(`known hosts written to ${out} (${view.keys.length} host CA key(s), ${view.hosts.length} names)`);
        return;
      }
      emit(ctx, o.json, view, () => text.trimEnd());
    });

  program
    .command("ssh-config")
    .description(
      "print an ssh_config snippet for the inventory hosts: certified host keys only (known hosts from sshca), your certificate",
    )
    .option("-i, --key <file>", "your SSH key (its certificate is <key>-cert.pub)", DEFAULT_KEY)
    .option("--known-hosts <file>", "the known_hosts file sshca known-hosts --out writes", KNOWN_HOSTS)
    .option("--host-krl <file>", "the host KRL sshca krl fetch --hosts writes", HOST_KRL)
    .action(async (o: { key: string; knownHosts: string; hostKrl: string }) => {
      const view = await (await ctx.client()).knownHosts();
      if (view.hosts.length === 0) throw new CliError("the inventory has no hosts");
      ctx.out(
        [
          "# sshca: inventory hosts are trusted only through the host CA, and you log in with your certificate.",
          `# Keep the files current: sshca known-hosts --out ${o.knownHosts}; sshca krl fetch --hosts --out ${o.hostKrl}`,
          "# (fetch the host KRL before adding RevokedHostKeys: ssh refuses every host while that file is missing)",
          `Match host ${view.hosts.join(",")}`,
          `    UserKnownHostsFile ${o.knownHosts}`,
          "    StrictHostKeyChecking yes",
          `    RevokedHostKeys ${o.hostKrl}`,
          `    IdentityFile ${o.key}`,
          `    CertificateFile ${o.key}-cert.pub`,
        ].join("\n"),
      );
    });
}
