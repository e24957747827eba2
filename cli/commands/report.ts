import type { Command } from "commander";
import type { Ctx } from "../context.js";
import { emit } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { formatReport, formatSummary } from "../report-format.js";

/**
 * sshca report ID | sshca report --since 7d: evidence of access, from the audit log. Exits 5
 * when the report lists findings, so a compliance job can run it.
 */
export function reportCommand(program: Command, ctx: Ctx): void {
  program
    .command("report [id]")
    .description(
      "one access window on one timeline (request, approvals, certificate, logins, scans, end, findings), or --since a summary per user and host; exit 5 when there are findings",
    )
    .option("--since <when>", "summarise from this long ago (7d, 12h) or this ISO time (auditors, admins)")
    .option("--until <time>", "with --since: up to this ISO time (default now)")
    .option("--json", "print JSON")
    .action(async (id: string | undefined, o: { since?: string; until?: string; json?: boolean }) => {
      if ((id === undefined) === (o.since === undefined))
        throw new CliError("give a request id, or --since for a summary (not both)", EXIT.usage);
      if (o.until !== undefined && o.since === undefined) throw new CliError("--until goes with --since", EXIT.usage);
      const client = await ctx.client();
      let findings: number;
      if (id !== undefined) {
        const report = await client.report(id);
        emit(ctx, o.json, report, () => formatReport(report));
        findings = report.findings.length;
      } else {
        const summary = await client.reportSummary({ since: o.since!, until: o.until });
        emit(ctx, o.json, summary, () => formatSummary(summary));
        findings = summary.findings.length;
      }
      if (findings > 0) throw new CliError(`${findings} finding${findings > 1 ? "s" : ""}`, EXIT.findings);
    });
}
