import { createHash, randomBytes } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { run } from "./procs.js";
import { GCC_PACKAGES, tool } from "./tools.js";

/**
 * A software FIDO security key for the real OpenSSH tools: test/fixtures/sk-soft/sk-soft.c is
 * an OpenSSH security-key middleware library (PROTOCOL.u2f, sk-api.h) that ssh-keygen loads
 * through SSH_SK_PROVIDER or `-w`. Its behaviour at sign time is steered by SK_SOFT_* variables
 * (see the C file): SK_SOFT_NO_PRESENCE=1, SK_SOFT_VERIFIED=1|0, SK_SOFT_COUNTER_FILE=path.
 */

const SOURCE = resolve(import.meta.dirname, "..", "fixtures", "sk-soft", "sk-soft.c");
const CFLAGS = ["-shared", "-fPIC", "-fvisibility=hidden", "-O2", "-Wall", "-Wextra"];

let built: Promise<string> | undefined;

/**
 * Path of the compiled sk-soft library. Built once per source version, in a private (0700)
 * per-user cache directory: test files run in parallel workers, so each compiles to its own
 * temporary name and renames it into place (rename is atomic; the last writer wins with an
 * identical file). Fails, never skips, when gcc or the OpenSSL headers are missing.
 */
export function skProvider(): Promise<string> {
  built ??= build();
  return built;
}

async function build(): Promise<string> {
  const source = readFileSync(SOURCE);
  const hash = createHash("sha256").update(source).update(CFLAGS.join(" ")).digest("hex").slice(0, 16);
  const dir = privateDir(join(tmpdir(), `sshca-sk-soft-${process.getuid?.() ?? "u"}`));
  const so = join(dir, `sk-soft-${hash}.so`);
  if (existsSync(so)) return so;
  const gcc = tool("gcc");
  const tmp = join(dir, `.sk-soft-${hash}-${process.pid}-${randomBytes(4).toString("hex")}.so`);
  const r = await run(gcc, [...CFLAGS, "-o", tmp, SOURCE, "-lcrypto"]);
  if (r.code !== 0) {
    rmSync(tmp, { force: true });
    const missing = /openssl\/[\w.]+: No such file|cannot find -lcrypto|stdio\.h: No such file|cannot find crt/.test(
      r.stderr,
    );
    throw new Error(
      missing
        ? `compiling the sk-soft security key needs C and OpenSSL headers: apt-get install -y ${GCC_PACKAGES} (npm run test:all does this)\n${r.stderr}`
        : `compiling ${SOURCE} failed:\n${r.stderr}`,
    );
  }
  renameSync(tmp, so);
  return so;
}

/**
 * A directory only this user can write: ssh-keygen will load code from it, so a directory
 * another user made (or a symlink planted in /tmp) is refused, not used.
 */
function privateDir(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  const uid = process.getuid?.();
  if (!st.isDirectory() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o022) !== 0)
    throw new Error(`${dir} is not a private directory of this user; remove it and run again`);
  return dir;
}

export interface SkKeyOptions {
  /** `ssh-keygen -O verify-required`: every signature must carry user verification (a PIN). */
  verifyRequired?: boolean;
  /** Key type; default ed25519-sk. */
  type?: "ed25519-sk" | "ecdsa-sk";
}

export interface SkKey {
  /** Path of the private key file (it holds the key handle). */
  key: string;
  /** The public key line, as in `<key>.pub`. */
  pub: string;
  /**
   * Environment for ssh-keygen -Y sign (and the sshca CLI, which runs it): SSH_SK_PROVIDER set,
   * inherited SK_SOFT_* removed. For a verify-required key, ssh-keygen asks for a PIN; the
   * environment answers it through SSH_ASKPASS (SSH_ASKPASS_REQUIRE=force), so a test never waits
   * on a terminal, and the software key treats the PIN as user verification.
   */
  env: NodeJS.ProcessEnv;
}

/** The PIN the askpass helper of a verify-required key answers with. */
export const SK_PIN = "123456";

/** Makes a software security key in `dir` (a private temp directory) with the real ssh-keygen. */
export async function makeSkKey(dir: string, opts: SkKeyOptions = {}): Promise<SkKey> {
  const so = await skProvider();
  const type = opts.type ?? "ed25519-sk";
  const key = join(dir, type === "ed25519-sk" ? "id_ed25519_sk" : "id_ecdsa_sk");
  const env: NodeJS.ProcessEnv = { ...process.env, SSH_SK_PROVIDER: so };
  for (const name of Object.keys(env)) if (name.startsWith("SK_SOFT_")) delete env[name];
  if (opts.verifyRequired) {
    const askpass = join(dir, "askpass-pin");
    writeFileSync(askpass, `#!/bin/sh\necho ${SK_PIN}\n`, { mode: 0o700 });
    env.SSH_ASKPASS = askpass;
    env.SSH_ASKPASS_REQUIRE = "force";
  }
  const args = ["-q", "-t", type, "-w", so, "-N", "", "-C", "sk-soft", "-f", key];
  if (opts.verifyRequired) args.push("-O", "verify-required");
  const r = await run(tool("ssh-keygen"), args, { env });
  if (r.code !== 0) throw new Error(`ssh-keygen -t ${type} with sk-soft failed: ${r.stderr.trim()}`);
  return { key, pub: readFileSync(`${key}.pub`, "utf8").trim(), env };
}
