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

/** An ISO time flag, as the API wants it; exit 2 naming the flag otherwise. */
function isoTime(flag: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (Number.isNaN(Date.parse(value))) {
    throw new CliError(`--${flag} ${value} is not a time (use ISO 8601, e.g. 2026-01-31T00:00:00Z)`, 2);
  }
  return new Date(value).toISOString();
}

/** Single-quotes a flag value for the "next page" hint when the shell would split or expand it. */
const shellWord = (v: string) => (/^[A-Za-z0-9_.:@%+,/=-]+$/.test(v) ? v : `'${v.replace(/'/g, "'\\''")}'`);

interface ListOptions {
  user?: string;
  request?: string;
  serial?: string;
  host?: string;
  type?: string;
  since?: string;
  until?: string;
  cursor?: string;
  limit: string;
  json?: boolean;
}

/** sshca audit list|verify (auditors and admins). */
export function auditCommands(program: Command, ctx: Ctx): void {
  const audit = program.command("audit").description("the audit trail (auditors and admins)");

  audit
    .command("list")
    .description("audit records: the newest page, oldest first; --cursor goes back a page")
    .option("--user <user>", "records by or about this user")
    .option("--request <id>", "records of one request")
    .option("--serial <serial>", "records of one certificate serial")
    .option("--host <host>", "records that name this inventory host")
    .option("--type <type>", "an event type (request.approved) or family (request)")
    .option("--since <time>", "records at or after this ISO time (2026-01-31T00:00:00Z)")
    .option("--until <time>", "records before this ISO time")
    .option("--cursor <cursor>", "the page before the one that printed this cursor")
    .option("--limit <n>", "at most this many records per page (1-1000)", "100")
    .option("--json", "print JSON")
    .action(async (o: ListOptions) => {
      const filters = {
        user: o.user,
        request: o.request,
        serial: o.serial,
        host: o.host,
        type: o.type,
        since: isoTime("since", o.since),
        until: isoTime("until", o.until),
      };
      const page = await (await ctx.client()).auditList({ ...filters, cursor: o.cursor, limit: o.limit });
      emit(ctx, o.json, page, () => (page.records.length ? page.records.map(brief).join("\n") : "no matching records"));
      if (page.cursor) {
        const again = Object.entries({ ...filters, limit: o.limit })
          .filter(([, v]) => v !== undefined)
          .map(([k, v]) => `--${k} ${shellWord(v!)}`);
        ctx.err(`older records: sshca audit list ${[...again, "--cursor", page.cursor].join(" ")}`);
      }
    });

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
