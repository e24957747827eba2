import type { Command } from "commander";
import type { PortView, ScanView } from "../../src/http/contract.js";
import type { Ctx } from "../context.js";
import { emit } from "../context.js";

const portName = (p: PortView) => `${p.port}/${p.protocol}`;

/** What the drift says about one port, for the NOTE column. */
function notes(scan: ScanView, p: PortView): string {
  const d = scan.drift;
  const out: string[] = [];
  if (d?.newlyOpen.some((x) => portName(x) === portName(p))) out.push("NEWLY OPEN");
  if (d?.serviceChanged.some((x) => portName(x.after) === portName(p))) out.push("SERVICE CHANGED");
  if (p.state === "open" && !scan.expectedPorts.includes(p.port)) out.push("not expected");
  return out.join(", ");
}

export function describeScan(s: ScanView): string {
  const lines = [
    `Scan      ${s.id}  (${s.trigger}${s.request ? ` of ${s.request}` : ""})`,
    `Host      ${s.host} (${s.address || "unresolved"})`,
    `Started   ${s.startedAt}, ${s.durationMs} ms, nmap ${s.nmapVersion}`,
    `Outcome   ${s.outcome}${s.error ? `: ${s.error}` : ""}`,
    `Expected  ${s.expectedPorts.join(", ") || "(none)"}`,
  ];
  if (s.outcome !== "ok") {
    lines.push("(a failed scan says nothing about which ports are open)");
    return lines.join("\n");
  }
  const rows = [["PORT", "STATE", "SERVICE", "NOTE"]];
  for (const p of s.ports)
    rows.push([portName(p), p.state, [p.service, p.product, p.version].filter(Boolean).join(" "), notes(s, p)]);
  for (const p of s.drift?.newlyClosed ?? []) rows.push([portName(p), "closed", p.service ?? "", "NEWLY CLOSED"]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  lines.push(
    "",
    ...rows.map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    ),
  );
  for (const e of s.extraPorts) lines.push(`(${e.count} more ${e.state})`);
  if (s.drift) {
    const against = s.drift.baseline
      ? ` (against ${s.drift.baseline} and the expected ports)`
      : " (against the expected ports)";
    lines.push("", `Drift     ${s.driftFound ? "YES" : "none"}${against}`);
  }
  return lines.join("\n");
}

function table(list: ScanView[]): string {
  const rows = [["ID", "HOST", "TRIGGER", "OUTCOME", "OPEN", "DRIFT", "STARTED"]];
  for (const s of list) {
    const open =
      s.ports
        .filter((p) => p.state === "open")
        .map(portName)
        .join(",") || "-";
    const drift = s.drift ? (s.driftFound ? "yes" : "no") : "-";
    rows.push([s.id, s.host, s.trigger, s.outcome, s.outcome === "ok" ? open : "?", drift, s.startedAt]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** sshca scans list|show, sshca scan <host> */
export function scanCommands(program: Command, ctx: Ctx): void {
  const scans = program.command("scans").description("nmap scans of target hosts");
  scans
    .command("list")
    .description("scans you may see, oldest first")
    .option("--request <id>", "scans of one request")
    .option("--host <name>", "scans of one host")
    .option("--json", "print JSON")
    .action(async (o: { request?: string; host?: string; json?: boolean }) => {
      const { scans: list } = await (await ctx.client()).scans({ request: o.request, host: o.host });
      emit(ctx, o.json, { scans: list }, () => (list.length ? table(list) : "no scans"));
    });
  scans
    .command("show <id>")
    .description("one scan: its ports, with drift marked")
    .option("--json", "print JSON")
    .action(async (id: string, o: { json?: boolean }) => {
      const s = await (await ctx.client()).scan(id);
      emit(ctx, o.json, s, () => describeScan(s));
    });
  program
    .command("scan <host>")
    .description("scan an inventory host now (approvers of a role covering it, admins)")
    .option("--json", "print JSON")
    .action(async (host: string, o: { json?: boolean }) => {
      const s = await (await ctx.client()).scanHost(host);
      emit(ctx, o.json, s, () => describeScan(s));
    });
}
