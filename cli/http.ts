import { request as httpRequest, type IncomingMessage, type RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";
import type { ErrorBody } from "../src/http/contract.js";
import { CliError } from "./errors.js";
import type { Settings } from "./settings.js";
import { tlsTrustError } from "./tls.js";

export interface CallOptions {
  method: "GET" | "POST";
  path: string;
  body?: unknown;
  timeoutMs: number;
  /** Extra https options: the pinned CA. */
  tls?: Record<string, unknown>;
}

/** A token may travel over https, a unix socket, or plain http to this machine's loopback only. */
function tokenSafeOver(url: string): boolean {
  if (url.startsWith("unix:") || url.startsWith("https:")) return true;
  try {
    const host = new URL(url).hostname.replace(/^\[|\]$/g, "");
    return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
  } catch {
    return false;
  }
}

/** Where and how to send a request: http, https, or a unix socket ("unix:/path"). */
function target(settings: Settings, path: string): { options: RequestOptions; send: typeof httpRequest } {
  if (settings.url.startsWith("unix:"))
    return { options: { socketPath: settings.url.slice(5), path }, send: httpRequest };
  let base: URL;
  try {
    base = new URL(settings.url);
  } catch {
    throw new CliError(`server URL ${settings.url} is not a URL`);
  }
  if (base.protocol !== "http:" && base.protocol !== "https:")
    throw new CliError(`server URL must be http(s): ${settings.url}`);
  const url = new URL(path, base);
  return {
    options: {
      protocol: base.protocol,
      hostname: base.hostname.replace(/^\[|\]$/g, ""),
      port: base.port,
      path: `${url.pathname}${url.search}`,
    },
    send: base.protocol === "https:" ? httpsRequest : httpRequest,
  };
}

/** One call to sshcad; resolves with the status and the raw body. Transport failures become one-line CliErrors. */
export function callRaw(settings: Settings, call: CallOptions): Promise<{ status: number; body: Buffer }> {
  const payload = call.body === undefined ? undefined : Buffer.from(JSON.stringify(call.body), "utf8");
  const headers: Record<string, string | number> = { accept: "application/json" };
  if (settings.token) {
    if (!tokenSafeOver(settings.url)) {
      return Promise.reject(
        new CliError(`refusing to send the API token over plain HTTP to ${settings.url}; use https`),
      );
    }
    headers.authorization = `Bearer ${settings.token}`;
  }
  if (payload) {
    headers["content-type"] = "application/json";
    headers["content-length"] = payload.length;
  }
  const { options, send } = target(settings, call.path);
  return new Promise((resolve, reject) => {
    const req = send({ ...options, method: call.method, headers, ...call.tls }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.setTimeout(call.timeoutMs, () =>
      req.destroy(new CliError(`no answer from ${settings.url} within ${Math.round(call.timeoutMs / 1000)}s`)),
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

/** One JSON call; a 4xx/5xx becomes a CliError carrying the server's one-line message. */
export async function callApi<T>(settings: Settings, call: CallOptions): Promise<T> {
  const { status, body } = await callRaw(settings, call);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch {
    throw new CliError(`${settings.url} answered ${status} without JSON; is it sshcad?`);
  }
  if (status >= 400) {
    const e = (parsed as Partial<ErrorBody>).error;
    throw new CliError(e?.message ?? `server answered ${status}`, 1, e?.code);
  }
  return parsed as T;
}
