import { resolve } from "node:path";
import type { Command } from "commander";
import { isKrl } from "../../src/http/contract.js";
import type { Ctx } from "../context.js";
import { emit } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { expandHome } from "../keys.js";
import { writeFileSafely } from "../safe-write.js";

/** sshca revoke, sshca request relinquish (added to `request`), sshca krl fetch */
export function revokeCommands(program: Command, ctx: Ctx): void {
  program
    .command("revoke")
    .description(
      "revoke a certificate now (approvers of its role, admins); target hosts refuse it once they have the new KRL",
    )
    .option("--serial <n>", "the certificate's serial")
    .option("--request <id>", "the request it was issued for")
    .requiredOption("--reason <text>", "why; audited")
    .option("--json", "print JSON")
    .action(async (o: { serial?: string; request?: string; reason: string; json?: boolean }) => {
      if ((o.serial === undefined) === (o.request === undefined)) {
        throw new CliError("give exactly one of --serial or --request", EXIT.usage);
      }
      const body =
        o.serial !== undefined ? { serial: o.serial, reason: o.reason } : { request: o.request!, reason: o.reason };
      const after = await (await ctx.client()).revoke(body);
      emit(ctx, o.json, after, () => `Revoked certificate serial ${after.serial} of ${after.id} (${after.requester})`);
    });

  program
    .command("krl")
    .description("the key revocation list")
    .command("fetch")
    .description(
      "download the current KRL and replace FILE atomically (for sshd's RevokedKeys; with --hosts for ssh's RevokedHostKeys)",
    )
    .requiredOption("-o, --out <file>", "where sshd reads it, e.g. /etc/ssh/sshca_revoked.krl")
    .option("--hosts", "the host certificates' KRL (users: RevokedHostKeys) instead of the user certificates'")
    .action(async (o: { out: string; hosts?: boolean }) => {
      const bytes = await (await ctx.client()).krl(o.hosts ? "host" : "user");
      if (!isKrl(bytes)) throw new CliError("the server did not send a KRL; the existing file was left as it was");
      const out = resolve(expandHome(o.out));
      // sshd reads RevokedKeys on every login: replaced atomically, never written through a symlink.
      await writeFileSafely(out, bytes, 0o644).catch((err: NodeJS.ErrnoException) => {
        throw new CliError(`cannot write ${out}: ${err.code ?? err.message}; the existing file was left as it was`);
      });
      ctx.err(`KRL written to ${out} (${bytes.length} bytes)`);
    });
}

/** sshca request relinquish <id> */
export function relinquishCommand(request: Command, ctx: Ctx): void {
  request
    .command("relinquish <id>")
    .description("end your own access now: the certificate is revoked")
    .option("--json", "print JSON")
    .action(async (id: string, o: { json?: boolean }) => {
      const after = await (await ctx.client()).relinquish(id);
      emit(ctx, o.json, after, () => `Relinquished ${id}: certificate serial ${after.serial} is revoked`);
    });
}
