import { request as httpRequest, type IncomingMessage, type RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";
import { TLSSocket } from "node:tls";
import type { ErrorBody } from "../src/http/contract.js";
import { CliError } from "./errors.js";
import type { Settings } from "./settings.js";
import { tlsOptions, tlsTrustError, verifiedTlsCa } from "./tls.js";
import { transportFor } from "./transport.js";

export interface CallOptions {
  method: "GET" | "POST";
  path: string;
  body?: unknown;
  timeoutMs: number;
}

/** An answer, and which server identity this CLI verified for it. */
export interface RawAnswer {
  status: number;
  body: Buffer;
  /**
   * "none" over a unix socket or plain HTTP to loopback; otherwise the fingerprint of the TLS CA
   * the connection was verified with. sshcad binds the same value into sign-in challenges.
   */
  server: string | undefined;
}

/** Where and how to send a request: http (loopback only), https (pinned), or a unix socket ("unix:/path"). */
function target(settings: Settings, path: string): { options: RequestOptions; send: typeof httpRequest } {
  const t = transportFor(settings.url, Boolean(settings.token));
  if (t.kind === "unix") return { options: { socketPath: t.socketPath, path }, send: httpRequest };
  const url = new URL(path, t.url);
  return {
    options: {
      protocol: t.url.protocol,
      hostname: t.url.hostname.replace(/^\[|\]$/g, ""),
      port: t.url.port,
      path: `${url.pathname}${url.search}`,
      ...(t.kind === "https" ? tlsOptions(settings) : {}),
    },
    send: t.kind === "https" ? httpsRequest : httpRequest,
  };
}

/** One call to sshcad; resolves with the status and the raw body. Transport failures become one-line CliErrors. */
export async function callRaw(settings: Settings, call: CallOptions): Promise<RawAnswer> {
  const payload = call.body === undefined ? undefined : Buffer.from(JSON.stringify(call.body), "utf8");
  const headers: Record<string, string | number> = { accept: "application/json" };
  // Refuses plain HTTP beyond loopback and https without a trust anchor, before anything is sent.
  const { options, send } = target(settings, call.path);
  if (settings.token) headers.authorization = `Bearer ${settings.token}`;
  if (payload) {
    headers["content-type"] = "application/json";
    headers["content-length"] = payload.length;
  }
  return new Promise((resolve, reject) => {
    const req = send({ ...options, method: call.method, headers }, (res: IncomingMessage) => {
      const server = res.socket instanceof TLSSocket ? verifiedTlsCa(settings, res.socket) : "none";
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), server }));
      res.on("error", reject);
    });
    req.setTimeout(call.timeoutMs, () =>
      req.destroy(new CliError(`no answer from ${settings.url} within ${Math.round(call.timeoutMs / 1000)}s`)),
    );
    req.on("error", (err: NodeJS.ErrnoException) => {
      if (err instanceof CliError) reject(err);
      else
        reject(
          tlsTrustError(err.code, settings) ?? new CliError(`cannot reach ${settings.url}: ${err.code ?? err.message}`),
        );
    });
    req.end(payload);
  });
}

/** The JSON of an answer; a 4xx/5xx becomes a CliError carrying the server's one-line message. */
export function decodeAnswer<T>(settings: Settings, { status, body }: RawAnswer): T {
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

/** One JSON call; a 4xx/5xx becomes a CliError carrying the server's one-line message. */
export async function callApi<T>(settings: Settings, call: CallOptions): Promise<T> {
  return decodeAnswer<T>(settings, await callRaw(settings, call));
}
