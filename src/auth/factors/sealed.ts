import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { mkdir, open, readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { SshcaError } from "../../errors.js";

/**
 * Secrets the daemon must be able to use again (TOTP seeds) are kept sealed with AES-256-GCM
 * under a key of their own (`<dataDir>/ca/seal.key`, 0600, made on first use), so that the
 * state file or a database dump alone does not give them away. Every replica needs the same key,
 * like the CA key.
 */
export class Sealer {
  private constructor(private readonly key: Buffer) {}

  static async open(path: string): Promise<Sealer> {
    try {
      const key = Buffer.from((await readFile(path, "utf8")).trim(), "base64");
      if (key.length !== 32) throw new SshcaError("state_invalid", `${path} is not a 32-byte sealing key`);
      return new Sealer(key);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const key = randomBytes(32);
    // O_EXCL: two processes starting at once must not each make their own key.
    const fh = await open(path, "wx", 0o600).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code === "EEXIST") return undefined;
      throw err;
    });
    if (!fh) return Sealer.open(path);
    try {
      await fh.writeFile(`${key.toString("base64")}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    return new Sealer(key);
  }

  /** Names the key without revealing it (SHA-256 of a fixed label and the key), for replicas to compare. */
  get fingerprint(): string {
    return `SHA256:${createHash("sha256").update("sshca seal key\0").update(this.key).digest("base64").replace(/=+$/, "")}`;
  }

  /** For tests and tools: a sealer over a given key. */
  static fromKey(key: Buffer): Sealer {
    return new Sealer(key);
  }

  seal(plain: Buffer, context: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv("aes-256-gcm", this.key, iv);
    c.setAAD(Buffer.from(context, "utf8"));
    const body = Buffer.concat([c.update(plain), c.final()]);
    return `v1.${iv.toString("base64url")}.${body.toString("base64url")}.${c.getAuthTag().toString("base64url")}`;
  }

  /** Opens what `seal` made for the same context (a sealed value moved to another record does not open). */
  open(sealed: string, context: string): Buffer {
    const [v, iv, body, tag] = sealed.split(".");
    if (v !== "v1" || !iv || body === undefined || !tag)
      throw new SshcaError("state_invalid", "a sealed secret is malformed");
    const d = createDecipheriv("aes-256-gcm", this.key, Buffer.from(iv, "base64url"));
    d.setAAD(Buffer.from(context, "utf8"));
    d.setAuthTag(Buffer.from(tag, "base64url"));
    try {
      return Buffer.concat([d.update(Buffer.from(body, "base64url")), d.final()]);
    } catch {
      throw new SshcaError(
        "state_invalid",
        "a sealed secret does not open with this seal key (another replica's key?)",
      );
    }
  }
}
