import type { Command } from "commander";
import type { Ctx } from "../context.js";
import { emit } from "../context.js";
import { CliError } from "../errors.js";
import { trustedUserCaKeys } from "../../src/http/contract.js";

/** sshca ca pubkey, sshca principals, sshca whoami */
export function infoCommands(program: Command, ctx: Ctx): void {
  program
    .command("ca")
    .description("the certificate authority")
    .command("pubkey")
    .description(
      "print the TrustedUserCAKeys lines for target hosts: every user CA key the rotation phase needs, the signing key first",
    )
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      const ca = await (await ctx.client()).ca();
      emit(ctx, o.json, ca, () => trustedUserCaKeys(ca).trimEnd());
    });

  program
    .command("principals")
    .description("print a host's AuthorizedPrincipalsFile content (one file per login user)")
    .requiredOption("-H, --host <host>", "inventory host name")
    .option("-u, --user <login>", "print only the file for this login user, exactly")
    .option("--json", "print JSON")
    .action(async (o: { host: string; user?: string; json?: boolean }) => {
      const view = await (await ctx.client()).principals(o.host);
      if (o.user !== undefined) {
        const lines = view.principals[o.user];
        if (!lines) throw new CliError(`no role grants login ${o.user} on ${o.host}`);
        emit(ctx, o.json, { host: view.host, user: o.user, principals: lines }, () => lines.join("\n"));
        return;
      }
      emit(ctx, o.json, view, () => {
        const logins = Object.keys(view.principals);
        if (logins.length === 0) return `# no role grants access to ${view.host}`;
        return logins
          .map((login) => `# /etc/ssh/auth_principals/${login} on ${view.host}\n${view.principals[login]!.join("\n")}`)
          .join("\n");
      });
    });

  program
    .command("whoami")
    .description("who the daemon thinks you are, and what you may request and approve")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      const me = await (await ctx.client()).whoami();
      emit(ctx, o.json, me, () =>
        [
          `${me.user} (groups: ${me.groups.join(", ") || "none"})`,
          `may request: ${me.requestableRoles.join(", ") || "-"}`,
          `may approve: ${me.approvableRoles.join(", ") || "-"}`,
          ...(me.admin ? ["admin"] : []),
          ...(me.auditor ? ["auditor"] : []),
        ].join("\n"),
      );
    });
}
