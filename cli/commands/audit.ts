import type { Command } from "commander";
import type { AuditRecordView } from "../../src/http/contract.js";
import type { Ctx } from "../context.js";
import { emit } from "../context.js";
import { CliError } from "../errors.js";

const brief = (r: AuditRecordView) => {
  const f = r.fields;
  const parts = ["request", "serial", "role", "hosts", "reason", "host", "user"]
    .filter((k) => f[k] !== undefined)
    .map((k) => `${k}=${Array.isArray(f[k]) ? (f[k] as unknown[]).join(",") : String(f[k])}`);
  return `${String(r.seq).padStart(6)}  ${r.time}  ${r.type.padEnd(22)} ${r.actor.padEnd(12)} ${parts.join(" ")}`;
};

/** sshca audit list|verify (auditors and admins). */
export function auditCommands(program: Command, ctx: Ctx): void {
  const audit = program.command("audit").description("the audit trail (auditors and admins)");

  audit
    .command("list")
    .description("audit records, newest last")
    .option("--user <user>", "records by or about this user")
    .option("--request <id>", "records of one request")
    .option("--type <type>", "an event type (request.approved) or family (request)")
    .option("--since <time>", "records at or after this ISO time (2026-01-31T00:00:00Z)")
    .option("--limit <n>", "at most this many records (1-1000)", "100")
    .option("--json", "print JSON")
    .action(
      async (o: { user?: string; request?: string; type?: string; since?: string; limit: string; json?: boolean }) => {
        if (o.since !== undefined && Number.isNaN(Date.parse(o.since))) {
          throw new CliError(`--since ${o.since} is not a time (use ISO 8601, e.g. 2026-01-31T00:00:00Z)`, 2);
        }
        const since = o.since === undefined ? undefined : new Date(o.since).toISOString();
        const { records } = await (
          await ctx.client()
        ).auditList({
          user: o.user,
          request: o.request,
          type: o.type,
          since,
          limit: o.limit,
        });
        emit(ctx, o.json, { records }, () => (records.length ? records.map(brief).join("\n") : "no matching records"));
      },
    );

  audit
    .command("verify")
    .description("have the daemon check its audit hash chain; exit 1 naming the first bad record")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      const result = await (await ctx.client()).auditVerify();
      if (o.json) ctx.out(JSON.stringify(result, null, 2));
      if (!result.ok) {
        const p = result.problem!;
        throw new CliError(`audit log FAILED verification at ${p.segment} line ${p.line}: ${p.message}`);
      }
      if (!o.json) ctx.out(`audit log ok: ${result.records} records, head ${result.head.seq}:${result.head.hash}`);
    });
}
