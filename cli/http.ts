import { request as httpRequest, type IncomingMessage, type RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";
import type { ErrorBody } from "../src/http/contract.js";
import { CliError } from "./errors.js";
import { tlsTrustError } from "./tls.js";
import type { Settings } from "./settings.js";

/**
 * One JSON call to sshcad over http, https or a unix socket ("unix:/path"). Errors become a
 * CliError carrying the server's one-line message.
 */
export function callApi<T>(
  settings: Settings,
  method: "GET" | "POST",
  path: string,
  body: unknown,
  timeoutMs: number,
  tls: Record<string, unknown> = {},
): Promise<T> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), "utf8");
  const headers: Record<string, string | number> = { accept: "application/json" };
  if (settings.token) headers.authorization = `Bearer ${settings.token}`;
  if (payload) {
    headers["content-type"] = "application/json";
    headers["content-length"] = payload.length;
  }
  let options: RequestOptions;
  let send = httpRequest;
  if (settings.url.startsWith("unix:")) {
    options = { socketPath: settings.url.slice(5), path, method, headers };
  } else {
    let base: URL;
    try {
      base = new URL(settings.url);
    } catch {
      throw new CliError(`server URL ${settings.url} is not a URL`);
    }
    if (base.protocol !== "http:" && base.protocol !== "https:")
      throw new CliError(`server URL must be http(s): ${settings.url}`);
    const target = new URL(path, base);
    if (base.protocol === "https:") send = httpsRequest;
    options = {
      protocol: base.protocol,
      hostname: base.hostname.replace(/^\[|\]$/g, ""),
      port: base.port,
      path: `${target.pathname}${target.search}`,
      method,
      headers,
      ...tls,
    };
  }
  return new Promise<T>((resolve, reject) => {
    const req = send(options, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          reject(new CliError(`${settings.url} answered ${res.statusCode} without JSON; is it sshcad?`));
          return;
        }
        const status = res.statusCode ?? 0;
        if (status >= 400) {
          const e = (parsed as Partial<ErrorBody>).error;
          reject(new CliError(e?.message ?? `server answered ${status}`, 1, e?.code));
          return;
        }
        resolve(parsed as T);
      });
      res.on("error", reject);
    });
    req.setTimeout(timeoutMs, () =>
      req.destroy(new CliError(`no answer from ${settings.url} within ${Math.round(timeoutMs / 1000)}s`)),
    );
    req.on("error", (err: NodeJS.ErrnoException) => {
      if (err instanceof CliError) reject(err);
      else
        reject(
          tlsTrustError(err.code, settings.url) ??
            new CliError(`cannot reach ${settings.url}: ${err.code ?? err.message}`),
        );
    });
    req.end(payload);
  });
}
