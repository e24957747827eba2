import { generateKeyPairSync } from "node:crypto";
import { chmod, link, mkdir, open, readFile, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import sshpk from "sshpk";
import { SshcaError } from "../errors.js";
import { fsyncDir } from "../files/fsync-dir.js";
import { type CaKey, loadCaKey } from "./ca-key.js";

export type CaKeyType = "ed25519" | "ecdsa-p256" | "ecdsa-p384" | "ecdsa-p521";

const CURVES: Record<string, string> = {
  "ecdsa-p256": "P-256",
  "ecdsa-p384": "P-384",
  "ecdsa-p521": "P-521",
};

/**
 * Creates the CA key if there is none: directory 0700, key 0600 (whatever the umask), public
 * half beside it. The key is written to a temp file, fsync'd, then hard-linked into place,
 * which fails if a key appeared meanwhile: an existing CA key is never overwritten.
 * Returns true when a key was created.
 */
export async function createCaKeyIfMissing(path: string, type: CaKeyType): Promise<boolean> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  if (await exists(path)) return false;

  const { privateKey } =
    type === "ed25519" ? generateKeyPairSync("ed25519") : generateKeyPairSync("ec", { namedCurve: CURVES[type]! });
  const key = sshpk.parsePrivateKey(privateKey.export({ type: "pkcs8", format: "pem" }), "pkcs8");
  key.comment = "sshca user CA";
  const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  const fh = await open(tmp, "wx", 0o600);
  try {
    await fh.chmod(0o600);
    await fh.writeFile(key.toString("ssh"));
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await link(tmp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  const pub = await open(`${path}.pub`, "w", 0o644);
  try {
    await pub.writeFile(`${key.toPublic().toString("ssh")}\n`);
    await pub.sync();
  } finally {
    await pub.close();
  }
  await fsyncDir(dir);
  return true;
}

/** Loads the CA key, refusing one that others can read (as ssh does with private keys). */
export async function readCaKey(path: string, passphrase?: string): Promise<CaKey> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch {
    throw new SshcaError("config_invalid", `no CA key at ${path} (run: sshcad init)`);
  }
  if ((info.mode & 0o077) !== 0) {
    throw new SshcaError(
      "config_invalid",
      `CA key ${path} is accessible by group or others (mode ${(info.mode & 0o777).toString(8)}); run: chmod 600 ${path}`,
    );
  }
  return loadCaKey(await readFile(path), passphrase);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}
