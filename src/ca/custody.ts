import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";
import { chmod, link, mkdir, open, readFile, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import sshpk from "sshpk";
import { SshcaError } from "../errors.js";
import { fsyncDir } from "../files/fsync-dir.js";
import { loadCaKey } from "./ca-key.js";
import type { CaSigner } from "./signer.js";

export type CaKeyType = "ed25519" | "ecdsa-p256" | "ecdsa-p384" | "ecdsa-p521";

const CURVES: Record<string, string> = {
  "ecdsa-p256": "P-256",
  "ecdsa-p384": "P-384",
  "ecdsa-p521": "P-521",
};

/** The CA key directory: 0700 whatever the umask, created when missing. */
async function keyDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}

function generate(type: CaKeyType, comment: string): sshpk.PrivateKey {
  const { privateKey } =
    type === "ed25519" ? generateKeyPairSync("ed25519") : generateKeyPairSync("ec", { namedCurve: CURVES[type]! });
  const key = sshpk.parsePrivateKey(privateKey.export({ type: "pkcs8", format: "pem" }), "pkcs8");
  key.comment = comment;
  return key;
}

/**
 * Writes a new private key at `path`, never over an existing file: temp file 0600 (whatever the
 * umask), fsync'd, hard-linked into place (link(2) fails if the name exists), then the public half
 * beside it (atomically too) and the directory fsync'd. With a passphrase the key is encrypted
 * (OpenSSH format, bcrypt KDF), like one made with ssh-keygen -N. False when `path` existed.
 */
async function writeNewKey(path: string, key: sshpk.PrivateKey, passphrase: string | undefined): Promise<boolean> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  const fh = await open(tmp, "wx", 0o600);
  try {
    await fh.chmod(0o600);
    await fh.writeFile(
      key.toString("ssh", passphrase === undefined ? {} : ({ passphrase } as sshpk.Format.WriteOptions)),
    );
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
  await writePublicFile(`${path}.pub`, `${key.toPublic().toString("ssh")}\n`);
  await fsyncDir(dir);
  return true;
}

/** Replaces a public key file atomically (temp, fsync, rename), mode 0644. */
async function writePublicFile(path: string, text: string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  const fh = await open(tmp, "wx", 0o644);
  try {
    await fh.chmod(0o644);
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

/**
 * Creates the CA key if there is none: directory 0700, key 0600, public half beside it; an
 * existing CA key is never overwritten. Returns true when a key was created.
 */
export async function createCaKeyIfMissing(
  path: string,
  type: CaKeyType,
  comment = "sshca user CA",
  passphrase?: string,
): Promise<boolean> {
  await keyDir(dirname(path));
  if (await exists(path)) return false;
  return writeNewKey(path, generate(type, comment), passphrase);
}

/**
 * A new key for a rotation, in `dir` beside the current one, named `<prefix>-<12 hex digits of its
 * fingerprint>`: never an existing file, and a name every replica can find by the key set.
 */
export async function createRotationKey(
  dir: string,
  prefix: string,
  type: CaKeyType,
  comment: string,
  passphrase?: string,
): Promise<{ file: string; path: string }> {
  await keyDir(dir);
  for (;;) {
    const key = generate(type, comment);
    const tag = createHash("sha256").update(key.toPublic().toBuffer("rfc4253")).digest("hex").slice(0, 12);
    const file = `${prefix}-${tag}`;
    const path = join(dir, file);
    if (await writeNewKey(path, key, passphrase)) return { file, path };
  }
}

/** Loads a CA key file, refusing one that others can read (as ssh does with private keys). */
export async function readCaKey(path: string, passphrase?: string): Promise<CaSigner> {
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

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}
