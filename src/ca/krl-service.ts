import type { Logger } from "pino";
import { buildKrl, type KrlContent } from "./krl.js";
import { writeKrlFile } from "./krl-file.js";

/**
 * Keeps one KRL: rebuilt from the live state (revoked serials under the CA key that signed each,
 * retired CA keys revoked whole; see krlContent), written atomically to every configured path,
 * and kept in memory for GET /v1/krl.
 */
export class KrlService {
  private bytes: Buffer;

  constructor(
    private readonly deps: {
      content: () => KrlContent & { unknown?: string[] };
      paths: string[];
      now: () => Date;
      log: Logger;
      /**
       * The KRL's version: it must only grow, and every replica must agree on it — the audit
       * sequence number the live state includes does both. Default: the time in milliseconds.
       */
      version?: () => bigint;
    },
  ) {
    this.bytes = this.build();
  }

  get current(): Buffer {
    return this.bytes;
  }

  private build(): Buffer {
    const now = this.deps.now();
    const { unknown, ...content } = this.deps.content();
    if (unknown && unknown.length > 0)
      this.deps.log.error(
        { serials: unknown },
        "revoked serials signed by a CA key this CA does not know cannot be listed in the KRL",
      );
    return buildKrl({ ...content, version: this.deps.version?.() ?? BigInt(now.getTime()), generatedAt: now });
  }

  private chain: Promise<void> = Promise.resolve();

  /**
   * Rebuilds and publishes; rejects if a file could not be written (the old file stays intact).
   * Rebuilds run one after another, each from the state at its turn, so a revocation that was
   * answered can never be overwritten by an older KRL landing last.
   */
  rebuild(): Promise<void> {
    const run = this.chain.then(async () => {
      const bytes = this.build();
      this.bytes = bytes;
      for (const path of this.deps.paths) await writeKrlFile(path, bytes);
    });
    this.chain = run.catch(() => undefined);
    return run;
  }
}
