import type { Command } from "commander";
import type { Ctx } from "../context.js";
import { emit } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { DEFAULT_KEY, expandHome, readPublicKey } from "../keys.js";
import { sign } from "./auth.js";

/** The ssh-keygen -Y namespace of key-registration proofs (PROTOCOL.sshsig); fixed on both sides. */
const KEY_ADD_NAMESPACE = "sshca-key-add";

/** sshca key add|list|remove: the SSH keys you sign in with. */
export function keyCommands(program: Command, ctx: Ctx): void {
  const keys = program.command("key").description("SSH keys you sign in with");
  keys
    .command("add")
    .description(
      "register a key for SSH sign-in, proving you hold it (it lives as long as the token or session you add it with)",
    )
    .option("-i, --key <path>", "identity file (its .pub is registered, the key signs the proof)", DEFAULT_KEY)
    .option("--agent", "let ssh-agent sign the proof (uses <key>.pub; the private key may live only in the agent)")
    .option("--json", "print JSON")
    .action(async (o: { key: string; agent?: boolean; json?: boolean }) => {
      const keyPath = expandHome(o.key);
      const pub = await readPublicKey(keyPath);
      const client = await ctx.client();
      const { challenge: c, server } = await client.keyChallenge(pub.line);
      // Sign only a registration challenge for exactly this key, in sshca's own namespace, issued
      // by the server this CLI verified (the tls= line), never one relayed from elsewhere.
      const expected = new RegExp(
        `^sshca key registration\\nuser=[a-z][a-z0-9_-]{0,31}\\nkey=${escape(pub.fingerprint)}\\nchallenge=${escape(c.challenge)}\\nnonce=[A-Za-z0-9_-]{43}\\ntls=(SHA256:[A-Za-z0-9+/]{43}|none)\\nexpires=[0-9T:.Z-]+\\n$`,
      );
      const form =
        c.namespace === KEY_ADD_NAMESPACE && /^kc_[a-z2-7]{20}$/.test(c.challenge) ? expected.exec(c.message) : null;
      if (!form)
        throw new CliError("the server sent a key-registration challenge in an unexpected form; not signing it");
      if (server === undefined || form[1] !== server)
        throw new CliError(
          "the key-registration challenge was issued by another server than the one this CLI verified; not signing it",
        );
      const signature = await sign(c.message, KEY_ADD_NAMESPACE, o.agent ? `${keyPath}.pub` : keyPath);
      const r = await client.addKey(c.challenge, signature);
      emit(ctx, o.json, r, () => `Registered ${r.fingerprint} for ${r.user}`);
    });
  keys
    .command("list")
    .description("your registered keys")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      const { keys: list } = await (await ctx.client()).keys();
      emit(
        ctx,
        o.json,
        { keys: list },
        () => list.map((k) => `${k.fingerprint}  added ${k.addedAt} by ${k.addedBy}`).join("\n") || "no keys",
      );
    });
  keys
    .command("remove <fingerprint>")
    .description("remove one of your sign-in keys; sessions signed in with it stop working at once")
    .option("--json", "print JSON")
    .action(async (fingerprint: string, o: { json?: boolean }) => {
      if (!/^SHA256:[A-Za-z0-9+/]{43}$/.test(fingerprint))
        throw new CliError(`${fingerprint} is not a key fingerprint (SHA256:..., as sshca key list shows)`, EXIT.usage);
      const r = await (await ctx.client()).removeKey(fingerprint);
      emit(ctx, o.json, r, () => `Removed ${r.fingerprint}`);
    });
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
