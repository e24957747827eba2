import type { Command } from "commander";
import type { Ctx } from "../context.js";
import { emit } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { describeRequest, requestTable } from "../format.js";
import { expandHome } from "../keys.js";
import { waitAndInstall } from "../wait.js";
import { relinquishCommand } from "./revoke.js";
import { timeoutMs, waitOptions } from "./login.js";

const STATES = ["pending", "approved", "blocked", "issued", "revoked", "denied", "cancelled", "expired"];
const LIVE = new Set(["pending", "approved", "blocked", "issued", "revoked"]);

/** sshca request list|show|cancel|wait */
export function requestCommand(program: Command, ctx: Ctx): void {
  const request = program.command("request").description("list, show, cancel or wait for access requests");
  relinquishCommand(request, ctx);

  request
    .command("list")
    .description("requests you can see (yours, those you may approve); live ones unless --all or --state")
    .option("--state <state>", `only this state (${STATES.join(", ")})`)
    .option("--mine", "only your own requests")
    .option("--all", "include ended requests")
    .option("--json", "print JSON")
    .action(async (o: { state?: string; mine?: boolean; all?: boolean; json?: boolean }) => {
      if (o.state && !STATES.includes(o.state)) {
        throw new CliError(`--state must be one of ${STATES.join(", ")}`, EXIT.usage);
      }
      const { requests } = await (
        await ctx.client()
      ).listRequests({
        state: o.state,
        mine: o.mine,
      });
      const shown = o.all || o.state ? requests : requests.filter((r) => LIVE.has(r.state));
      emit(ctx, o.json, { requests: shown }, () => (shown.length ? requestTable(shown, new Date()) : "no requests"));
    });

  request
    .command("show <id>")
    .description("show one request in full")
    .option("--json", "print JSON")
    .action(async (id: string, o: { json?: boolean }) => {
      const req = await (await ctx.client()).getRequest(id);
      emit(ctx, o.json, req, () => describeRequest(req));
    });

  request
    .command("cancel <id>")
    .description("withdraw your request before it is issued")
    .option("--json", "print JSON")
    .action(async (id: string, o: { json?: boolean }) => {
      const req = await (await ctx.client()).cancel(id);
      emit(ctx, o.json, req, () => `Request ${req.id} cancelled`);
    });

  waitOptions(
    request
      .command("wait <id>")
      .description("wait for a request (e.g. after login --no-wait) and install its certificate"),
  ).action(async (id: string, o: { key: string; agent: boolean; timeout?: string; json?: boolean }) => {
    const client = await ctx.client();
    const req = await client.getRequest(id);
    await waitAndInstall(ctx, client, req, {
      keyPath: expandHome(o.key),
      agent: o.agent,
      json: o.json === true,
      timeoutMs: timeoutMs(o.timeout),
    });
  });
}
