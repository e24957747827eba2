import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Command } from "commander";
import type { Ctx } from "../context.js";
import { CliError } from "../errors.js";
import { checkSshd, type ExpectedPrincipals, type HostFiles, parseSshdConfig, type TrustedCa } from "../sshd-config.js";

const files: HostFiles = {
  read: (path) => {
    try {
      return readFileSync(path);
    } catch {
      return undefined;
    }
  },
  isDir: (path) => statSync(path, { throwIfNoEntry: false })?.isDirectory() === true,
  glob: (pattern) => {
    if (!basename(pattern).includes("*")) return [pattern];
    const dir = dirname(pattern);
    const re = new RegExp(
      `^${basename(pattern)
        .replace(/[.+?^${}()|[\]\\]/g, "\\$&")
        .replace(/\*/g, ".*")}$`,
    );
    try {
      return readdirSync(dir)
        .filter((f) => re.test(f))
        .sort()
        .map((f) => join(dir, f));
    } catch {
      return [];
    }
  },
};

/** sshca doctor --sshd-config FILE [--host NAME] */
export function doctorCommand(program: Command, ctx: Ctx): void {
  program
    .command("doctor")
    .description(
      "check a target host's sshd config for what sshca needs (the CA keys of the rotation phase, principals, KRL, logging)",
    )
    .option("--sshd-config <file>", "the sshd config to check", "/etc/ssh/sshd_config")
    .option("-H, --host <name>", "this host's inventory name: check each login's principals file (needs a token)")
    .option("--json", "print JSON")
    .action(async (o: { sshdConfig: string; host?: string; json?: boolean }) => {
      const text = files.read(o.sshdConfig);
      if (!text) throw new CliError(`cannot read ${o.sshdConfig}`);
      // Compare with the CA keys the rotation phase needs when a daemon is configured; the rest works offline.
      let ca: TrustedCa | undefined;
      try {
        ca = await (await ctx.client()).ca();
      } catch {
        ca = undefined;
      }
      // The principals files this host needs, from the daemon (an authenticated read).
      let expected: ExpectedPrincipals | undefined;
      if (o.host !== undefined) {
        try {
          expected = { host: o.host, principals: (await (await ctx.client()).principals(o.host)).principals };
        } catch (err) {
          throw new CliError(`cannot get the principals of ${o.host} from the daemon: ${(err as Error).message}`);
        }
      }
      const findings = checkSshd(parseSshdConfig(text.toString("utf8"), files), files, ca, expected);
      if (o.json) ctx.out(JSON.stringify({ findings }, null, 2));
      else for (const f of findings) ctx.out(`${f.level.padEnd(4)}  ${f.check.padEnd(24)} ${f.message}`);
      const failed = findings.filter((f) => f.level === "fail").length;
      if (failed > 0) throw new CliError(`${failed} problem${failed > 1 ? "s" : ""} in ${o.sshdConfig}`);
    });
}
