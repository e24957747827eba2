import type { Command } from "commander";
import type { Ctx } from "../context.js";
import { emit } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { describeRequest, requestTable } from "../format.js";

/** sshca review ID --comment TEXT (break-glass, afterwards) and sshca reviews (those still open). */
export function reviewCommands(program: Command, ctx: Ctx): void {
  program
    .command("review <id>")
    .description("review a break-glass request afterwards (approvers of its role): closes its review")
    .requiredOption("--comment <text>", "what you found; recorded with the review and audited")
    .option("--json", "print JSON")
    .action(async (id: string, o: { comment: string; json?: boolean }) => {
      if (!o.comment.trim()) throw new CliError("--comment must say what you found", EXIT.usage);
      const client = await ctx.client();
      const req = await client.getRequest(id);
      if (!o.json) ctx.err(`${describeRequest(req)}\n`);
      const after = await client.review(id, { comment: o.comment });
      emit(ctx, o.json, after, () => `Reviewed break-glass ${id} (${after.requester}, ${after.role})`);
    });

  program
    .command("reviews")
    .description("break-glass requests still waiting for an approver's review")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      const { requests } = await (await ctx.client()).listRequests({ review: "open" });
      emit(ctx, o.json, { requests }, () =>
        requests.length
          ? `${requestTable(requests, new Date())}\n\nReview each with: sshca review ID --comment "..."`
          : "no break-glass request waits for review",
      );
    });
}
