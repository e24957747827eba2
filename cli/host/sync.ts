import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import sshpk from "sshpk";
import { type CaView, isKrl, type PrincipalsView, trustedUserCaKeys } from "../../src/http/contract.js";
import { writeFileSafely } from "../safe-write.js";

/** Login names the companion writes a principals file for (a file name on the host: strict). */
const LOGIN = /^[a-z_][a-z0-9_-]{0,31}$/;

const HEADER = "# written by sshca host from sshcad; changes here are replaced at the next sync\n";

/** The content of one login's AuthorizedPrincipalsFile (sshd skips lines starting with #). */
export function principalsFile(lines: readonly string[]): string {
  return `${HEADER}${lines.map((l) => `${l}\n`).join("")}`;
}

async function current(path: string): Promise<Buffer | undefined> {
  return readFile(path).catch(() => undefined);
}

/**
 * Replaces the KRL file when the daemon's differs. sshd re-reads RevokedKeys at every public-key
 * login and refuses every one if the file is missing or unreadable, so it is only ever replaced
 * whole (temp file, fsync, rename, directory fsync), and never with something that is not a KRL:
 * on any failure the old file stays.
 */
export async function syncKrl(path: string, bytes: Buffer): Promise<boolean> {
  if (!isKrl(bytes)) throw new Error("the daemon did not send a KRL; the file was left as it was");
  const old = await current(path);
  if (old?.equals(bytes)) return false;
  await writeFileSafely(path, bytes, 0o644);
  return true;
}

/**
 * Writes one AuthorizedPrincipalsFile per login the daemon names for this host, each replaced
 * atomically, and empties the files of logins it wrote before that no role grants any more
 * (emptied, not removed, so sshd finds a file that lists nothing). Returns the logins now managed
 * and the files changed.
 */
export async function syncPrincipals(
  dir: string,
  view: PrincipalsView,
  managedBefore: readonly string[],
): Promise<{ managed: string[]; changed: string[] }> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const changed: string[] = [];
  const logins = Object.keys(view.principals).filter((l) => LOGIN.test(l));
  const write = async (login: string, lines: readonly string[]) => {
    const path = join(dir, login);
    const content = principalsFile(lines);
    if ((await current(path))?.toString("utf8") === content) return;
    await writeFileSafely(path, content, 0o644);
    changed.push(login);
  };
  for (const login of logins) await write(login, view.principals[login]!);
  for (const login of managedBefore) if (!logins.includes(login) && LOGIN.test(login)) await write(login, []);
  return { managed: [...new Set([...logins, ...managedBefore.filter((l) => LOGIN.test(l))])].sort(), changed };
}

/**
 * Replaces sshd's TrustedUserCAKeys file with every user CA key the rotation phase needs (what
 * `sshca ca pubkey` prints), so a staged key reaches the host before certificates signed by it
 * do. sshd re-reads the file at every login (sshd_config(5)), and a file without the signing key
 * refuses every certificate: the answer must hold a current key and only parseable public keys,
 * else the old file stays.
 */
export async function syncTrustedCaKeys(path: string, view: Pick<CaView, "keys">): Promise<boolean> {
  if (!view.keys.some((k) => k.status === "current"))
    throw new Error("the daemon named no signing CA key; TrustedUserCAKeys was left as it was");
  for (const k of view.keys) {
    let ok = /^[a-z0-9@.-]+ [A-Za-z0-9+/=]+$/.test(k.publicKey);
    try {
      if (ok) sshpk.parseKey(k.publicKey, "ssh");
    } catch {
      ok = false;
    }
    if (!ok) throw new Error("the daemon sent a CA key that is not a public key; TrustedUserCAKeys was left as it was");
  }
  const content = trustedUserCaKeys(view);
  if ((await current(path))?.toString("utf8") === content) return false;
  await writeFileSafely(path, content, 0o644);
  return true;
}
