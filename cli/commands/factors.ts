import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import type { FactorBody, RequestView } from "../../src/http/contract.js";
import type { Ctx } from "../context.js";
import { emit } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { expandHome, readPublicKey } from "../keys.js";
import { sign } from "./auth.js";

/** Namespaces and message of step-up signatures (PROTOCOL.sshsig); fixed on both sides. */
const FACTOR_ADD_NAMESPACE = "sshca-factor-add";
const APPROVAL_NAMESPACE = "sshca-approve";
const approvalMessage = (r: { id: string; digest: string }, approver: string, action: "approve" | "override") =>
  ["sshca approval", `request=${r.id}`, `action=${action}`, `digest=${r.digest}`, `approver=${approver}`, ""].join(
    "\n",
  );

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

/** A TOTP code from stdin (a prompt on a terminal): never from argv, where ps would show it. */
export async function readCode(prompt: string): Promise<string> {
  let line = "";
  if (process.stdin.isTTY) {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    line = await rl.question(prompt).finally(() => rl.close());
  } else {
    for await (const chunk of process.stdin) {
      line += String(chunk);
      if (line.includes("\n")) break;
    }
  }
  const code = line.split("\n")[0]!.trim();
  if (!/^\d{6}$/.test(code)) throw new CliError("expected a 6-digit code from your authenticator app", EXIT.usage);
  return code;
}

/**
 * The second factor for approving `req` as `approver`, when its role asks for one: a signature of
 * the approval message by the security key (ssh-keygen -Y sign, with the key's touch), or a TOTP
 * code read from stdin. Undefined when the role asks for none.
 */
export async function stepUpFactor(
  ctx: Ctx,
  req: RequestView,
  approver: string,
  o: { sk?: string; totp?: boolean; overrideScan?: boolean },
): Promise<FactorBody | undefined> {
  if (!req.stepUp && !o.sk && !o.totp) return undefined;
  const methods = req.stepUp?.methods ?? [];
  if (o.totp) return { kind: "totp", code: await readCode("TOTP code: ") };
  if (o.sk) {
    const key = expandHome(o.sk);
    ctx.err(`Touch your security key to approve ${req.id}...`);
    const action = o.overrideScan ? "override" : "approve";
    return { kind: "sk", signature: await sign(approvalMessage(req, approver, action), APPROVAL_NAMESPACE, key) };
  }
  throw new CliError(
    `role ${req.role} requires a second factor with each approval: ${methods
      .map((m) =>
        m === "sk" ? "--sk ~/.ssh/id_ed25519_sk (your security key)" : "--totp (a code from your authenticator app)",
      )
      .join(" or ")}`,
    EXIT.usage,
  );
}

/** sshca factor add|list|remove: second factors for approvals of roles with stepUp. */
export function factorCommands(program: Command, ctx: Ctx): void {
  const factor = program.command("factor").description("second factors for approving roles that ask for one (stepUp)");
  const add = factor.command("add").description("enrol a second factor (needs a sign-in within the last 10 minutes)");
  add
    .command("totp")
    .description("enrol an authenticator app (TOTP, RFC 6238): shows the secret once, then asks for a code")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      const client = await ctx.client();
      const f = await client.addTotpFactor();
      ctx.err(`Add this to your authenticator app (shown once):\n  ${f.uri}\n  secret: ${f.secret}`);
      const view = await client.confirmTotpFactor(f.id, await readCode("Code from the app: "));
      emit(ctx, o.json, view, () => `Enrolled TOTP factor ${view.id}`);
    });
  add
    .command("sk")
    .description("enrol a FIDO security key (an sk-ssh-ed25519 or sk-ecdsa key made with ssh-keygen -t ed25519-sk)")
    .requiredOption("-i, --key <path>", "the security key's identity file (its .pub is enrolled)")
    .option("--json", "print JSON")
    .action(async (o: { key: string; json?: boolean }) => {
      const keyPath = expandHome(o.key);
      const pub = await readPublicKey(keyPath);
      const client = await ctx.client();
      const { challenge: c, server } = await client.skFactorChallenge(pub.line);
      const expected = new RegExp(
        `^sshca factor enrolment\\nuser=[a-z][a-z0-9_-]{0,31}\\nkey=${escape(pub.fingerprint)}\\nchallenge=${escape(c.challenge)}\\nnonce=[A-Za-z0-9_-]{43}\\ntls=(SHA256:[A-Za-z0-9+/]{43}|none)\\nexpires=[0-9T:.Z-]+\\n$`,
      );
      const form =
        c.namespace === FACTOR_ADD_NAMESPACE && /^fc_[a-z2-7]{20}$/.test(c.challenge) ? expected.exec(c.message) : null;
      if (!form) throw new CliError("the server sent an enrolment challenge in an unexpected form; not signing it");
      if (server === undefined || form[1] !== server)
        throw new CliError(
          "the enrolment challenge was issued by another server than the one this CLI verified; not signing it",
        );
      ctx.err("Touch your security key...");
      const view = await client.addSkFactor(c.challenge, await sign(c.message, FACTOR_ADD_NAMESPACE, keyPath));
      emit(ctx, o.json, view, () => `Enrolled security key ${view.fingerprint} as factor ${view.id}`);
    });
  factor
    .command("list")
    .description("your second factors")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      const { factors } = await (await ctx.client()).factors();
      emit(
        ctx,
        o.json,
        { factors },
        () =>
          factors
            .map(
              (f) =>
                `${f.id}  ${f.kind}${f.fingerprint ? ` ${f.fingerprint}` : ""}  added ${f.addedAt}${f.confirmed ? "" : "  (not confirmed)"}`,
            )
            .join("\n") || "no factors",
      );
    });
  factor
    .command("remove <id>")
    .description("remove one of your second factors")
    .action(async (id: string) => {
      await (await ctx.client()).removeFactor(id);
      ctx.err(`Removed factor ${id}`);
    });
}
