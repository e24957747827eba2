import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import pino from "pino";
import { addUser } from "../../src/admin/users.js";
import { type RunningDaemon, serve } from "../../src/daemon/serve.js";
import { writeConfig } from "./daemon.js";
import { tempDir } from "./tmp.js";

/** The real daemon, started in-process (port 0), for API-level tests that need many calls. */
export interface InProc {
  daemon: RunningDaemon;
  url: string;
  token(user: string, groups: string[]): Promise<string>;
  /** The state file as text and the audit head, to prove a refused call changed nothing. */
  snapshot(): { state: string; auditSeq: number };
  call(
    method: string,
    path: string,
    opts?: { token?: string; body?: unknown; raw?: string; type?: string; headers?: Record<string, string> },
  ): Promise<{ status: number; body: any; headers: Headers }>;
}

export async function startInProc(
  config: object,
  opts: { now?: () => Date; listen?: Record<string, unknown> } = {},
): Promise<InProc> {
  const dataDir = join(tempDir("inproc"), "d");
  const log = pino({ level: "silent" });
  const daemon = await serve({
    // Plain HTTP on loopback (explicitly allowed for development) so fetch() can call it.
    configPath: writeConfig({
      ...config,
      listen: opts.listen ?? { address: "127.0.0.1", port: 0, tls: { enabled: false } },
    }),
    dataDirFlag: dataDir,
    env: {},
    log,
    ...(opts.now ? { now: opts.now } : {}),
  });
  const { core } = daemon;
  return {
    daemon,
    url: daemon.url,
    token: async (user, groups) =>
      (
        await addUser(
          {
            config: () => core.config,
            storage: core.storage,
            now: opts.now ?? (() => new Date()),
            random: randomBytes,
            access: daemon.access,
          },
          user,
          groups,
          "test",
        )
      ).token,
    snapshot: () => ({
      state: readFileSync(core.paths.state, "utf8"),
      auditSeq: core.storage.head.seq,
    }),
    call: async (method, path, o = {}) => {
      const headers: Record<string, string> = { ...o.headers };
      if (o.token) headers.authorization = `Bearer ${o.token}`;
      let body: string | undefined;
      if (o.raw !== undefined) body = o.raw;
      else if (o.body !== undefined) body = JSON.stringify(o.body);
      if (body !== undefined && !("content-type" in headers)) headers["content-type"] = o.type ?? "application/json";
      const res = await fetch(`${daemon.url}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
      });
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = { nonJson: text };
      }
      return { status: res.status, body: parsed, headers: res.headers };
    },
  };
}
