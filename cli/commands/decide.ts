import type { Command } from "commander";
import type { Ctx } from "../context.js";
import { emit } from "../context.js";
import type { RequestView } from "../../src/http/contract.js";
import { CliError, EXIT } from "../errors.js";
import { describeRequest } from "../format.js";

/** sshca approve / sshca deny */
export function decideCommands(program: Command, ctx: Ctx): void {
  program
    .command("approve <id>")
    .description("approve a request, exactly as shown (the approval is bound to its digest)")
    .option("--comment <text>", "comment recorded with the approval")
    .option("--digest <sha256>", "only approve if the request still has this digest (from request show)")
    .option("--override-scan", "let a request blocked by its pre-issue scan be issued anyway (needs --comment)")
    .option("--json", "print JSON")
    .action(async (id: string, o: { comment?: string; digest?: string; overrideScan?: boolean; json?: boolean }) => {
      const client = await ctx.client();
      const req = await client.getRequest(id);
      if (o.digest && o.digest !== req.digest) {
        throw new CliError(`request ${id} changed: its digest is ${req.digest}, not ${o.digest}; review it again`);
      }
      if (!o.json) ctx.err(`${describeRequest(req)}\n`);
      let after: RequestView;
      if (o.overrideScan) {
        if (!o.comment?.trim()) throw new CliError("--override-scan needs --comment saying why", EXIT.usage);
        after = await client.override(id, { digest: req.digest, reason: o.comment });
      } else {
        after = await client.approve(id, { digest: req.digest, ...(o.comment ? { comment: o.comment } : {}) });
      }
      emit(ctx, o.json, after, () => {
        if (after.state === "issued")
          return `Approved ${id}: certificate issued (serial ${after.serial}) to ${after.requester}`;
        if (after.state === "approved") return `Approved ${id}: scanning the hosts before issuing (scanOnIssue: gate)`;
        return `Approved ${id} (${after.approvals.length}/${after.approvalsRequired} approvals)`;
      });
    });

  program
    .command("deny <id>")
    .description("deny a request; this ends it")
    .requiredOption("--reason <text>", "why; shown to the requester and audited")
    .option("--json", "print JSON")
    .action(async (id: string, o: { reason: string; json?: boolean }) => {
      const after = await (await ctx.client()).deny(id, { reason: o.reason });
      emit(ctx, o.json, after, () => `Denied ${id}`);
    });
}
