import type { Command } from "commander";
import type { HostStatusView } from "../../src/http/contract.js";
import type { Ctx } from "../context.js";
import { emit } from "../context.js";
import { CliError, EXIT } from "../errors.js";

function table(hosts: HostStatusView[]): string {
  const rows = [["HOST", "LATEST SCAN", "UNEXPECTED OPEN", "DRIFT"]];
  for (const h of hosts) {
    const l = h.latest;
    rows.push([
      h.host,
      l ? `${l.scan} ${l.outcome} ${l.at}` : "never scanned",
      l?.unexpectedOpen.map((p) => `${p.port}/${p.protocol}`).join(",") || "-",
      h.drift
        ? `UNRESOLVED since ${h.drift.since}: ${h.drift.summary}`
        : h.resolved
          ? `resolved by ${h.resolved.by}`
          : "-",
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")).join("\n");
}

/** sshca drift list | resolve HOST --comment TEXT */
export function driftCommands(program: Command, ctx: Ctx): void {
  const drift = program.command("drift").description("hosts' unresolved drift (scan-aware roles), and resolving it");
  drift
    .command("list")
    .description("hosts you may see: latest scan, ports open outside the expected ones, unresolved drift")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      const { hosts } = await (await ctx.client()).hosts();
      emit(ctx, o.json, { hosts }, () => (hosts.length ? table(hosts) : "no hosts you may see"));
    });
  drift
    .command("resolve <host>")
    .description("mark a host's drift resolved once you looked at it (approvers of a role covering the host)")
    .requiredOption("--comment <text>", "what you found; audited")
    .option("--json", "print JSON")
    .action(async (host: string, o: { comment: string; json?: boolean }) => {
      if (!o.comment.trim()) throw new CliError("--comment must say what you found", EXIT.usage);
      const after = await (await ctx.client()).resolveDrift(host, o.comment);
      emit(ctx, o.json, after, () => `Drift on ${host} marked resolved (${after.resolved?.summary ?? ""})`);
    });
}
