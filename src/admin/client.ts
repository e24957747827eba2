import { request } from "node:http";
import { SshcaError } from "../errors.js";

/**
 * Calls the running daemon's admin socket. Resolves `undefined` when no daemon listens there
 * (the caller then works on the data directory itself, under the same lock).
 */
export function adminRequest<T>(
  socketPath: string,
  method: string,
  path: string,
  body?: unknown,
  /** How long the daemon may stay silent (a verification of a large log takes a while). */
  timeoutMs = 30_000,
): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = request(
      {
        socketPath,
        method,
        path,
        headers: payload ? { "content-type": "application/json", "content-length": payload.length } : {},
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString("utf8"));
          } catch {
            reject(new SshcaError("internal", `admin socket answered ${res.statusCode} without JSON`));
            return;
          }
          if ((res.statusCode ?? 500) >= 400) {
            const e = (parsed as { error?: { code?: string; message?: string } }).error;
            reject(
              new SshcaError((e?.code as never) ?? "internal", e?.message ?? `admin socket answered ${res.statusCode}`),
            );
            return;
          }
          resolve(parsed as T);
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("admin socket timed out")));
    req.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT" || err.code === "ECONNREFUSED") resolve(undefined);
      else reject(err);
    });
    req.end(payload);
  });
}
