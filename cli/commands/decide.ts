import type { Command } from "commander";
import type { Ctx } from "../context.js";
import { emit } from "../context.js";
import type { RequestView } from "../../src/http/contract.js";
import { CliError, EXIT } from "../errors.js";
import { describeRequest, openStagesText } from "../format.js";
import { stepUpFactor } from "./factors.js";

interface ApproveOpts {
  comment?: string;
  digest?: string;
  overrideScan?: boolean;
  sk?: string;
  totp?: boolean;
  json?: boolean;
}

/** sshca approve / sshca deny */
export function decideCommands(program: Command, ctx: Ctx): void {
  program
    .command("approve <id>")
    .description("approve a request, exactly as shown (the approval is bound to its digest)")
    .option("--comment <text>", "comment recorded with the approval")
    .option("--digest <sha256>", "only approve if the request still has this digest (from request show)")
    .option("--override-scan", "let a request blocked by its pre-issue scan be issued anyway (needs --comment)")
    .option("--sk <key>", "second factor: sign this request with your security key (roles with stepUp)")
    .option("--totp", "second factor: a code from your authenticator app, read from stdin (roles with stepUp)")
    .option("--json", "print JSON")
    .action(async (id: string, o: ApproveOpts) => {
      const client = await ctx.client();
      const req = await client.getRequest(id);
      // The server's digest is not echoed: pasting it would approve what was never reviewed.
      if (o.digest !== undefined && o.digest !== req.digest) {
        throw new CliError(
          `--digest ${o.digest} does not match the digest the server holds for ${id}; nothing changed (review the request again: sshca request show ${id})`,
        );
      }
      // What is sent is what was reviewed: the server checks it again against what it holds now.
      const digest = o.digest ?? req.digest;
      if (!o.json) ctx.err(`${describeRequest(req)}\n`);
      if (o.overrideScan && !o.comment?.trim())
        throw new CliError("--override-scan needs --comment saying why", EXIT.usage);
      // The factor signs exactly what is sent: this request id and the reviewed digest.
      const me = req.stepUp || o.sk || o.totp ? (await client.whoami()).user : "";
      const factor = await stepUpFactor(ctx, { ...req, digest }, me, o);
      const withFactor = factor ? { factor } : {};
      const after: RequestView = o.overrideScan
        ? await client.override(id, { digest, reason: o.comment!, ...withFactor })
        : await client.approve(id, { digest, ...(o.comment ? { comment: o.comment } : {}), ...withFactor });
      emit(ctx, o.json, after, () => {
        if (after.state === "issued")
          return `Approved ${id}: certificate issued (serial ${after.serial}) to ${after.requester}`;
        if (after.state === "approved") return `Approved ${id}: scanning the hosts before issuing (scanOnIssue: gate)`;
        const mine = after.approvals.at(-1)?.stage;
        const open = openStagesText(after);
        return `Approved ${id}${mine && (after.stages?.length ?? 0) > 1 ? ` for stage ${mine}` : ""} (${after.approvals.length}/${after.approvalsRequired} approvals)${open ? `; still open: ${open}` : ""}`;
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
