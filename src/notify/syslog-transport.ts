import { readFile } from "node:fs/promises";
import { isIP, connect as tcpConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { SyslogConfig } from "../config/syslog-schema.js";
import { SshcaError } from "../errors.js";

/** Where a syslog destination is: tcp or tls, host and port. */
export function parseSyslogUrl(url: string): { tls: boolean; host: string; port: number } {
  const m = /^(tcp|tls):\/\/(\[[^\]]+\]|[^:/]+):(\d{1,5})$/.exec(url);
  const port = m ? Number(m[3]) : 0;
  if (!m || port < 1 || port > 65535)
    throw new SshcaError("config_invalid", `syslog url ${url} is not tcp://HOST:PORT or tls://HOST:PORT`);
  return { tls: m[1] === "tls", host: m[2]!.replace(/^\[|\]$/g, ""), port };
}

/** What a tls:// destination trusts (its CA) and, optionally, shows (a client certificate and key). */
export interface SyslogTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/** Reads a destination's TLS files (at start and on reload, so a bad path fails then, not at the first send). */
export async function syslogTls(dest: SyslogConfig): Promise<SyslogTls> {
  const read = async (what: string, path: string | undefined) => {
    if (!path) return undefined;
    try {
      return await readFile(path);
    } catch (err) {
      throw new SshcaError(
        "config_invalid",
        `syslog ${dest.name}: cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? "error"}`,
      );
    }
  };
  const [ca, cert, key] = await Promise.all([
    read("caFile", dest.caFile),
    read("certFile", dest.certFile),
    read("keyFile", dest.keyFile),
  ]);
  return { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
}

const CONNECT_TIMEOUT_MS = 10_000;

/**
 * Opens a connection to a syslog receiver: plain TCP (RFC 6587), or TLS 1.2+ (RFC 5425) with the
 * receiver's certificate checked against `material.ca` (or the system's CAs) and its name (or IP
 * address), showing `material.cert` when given (RFC 5425). Resolves once
 * it is connected (and the handshake done), rejects on failure or after 10 s.
 */
export function connectSyslog(url: string, material: SyslogTls, signal: AbortSignal): Promise<Socket> {
  const { tls, host, port } = parseSyslogUrl(url);
  return new Promise((resolve, reject) => {
    const socket: Socket = tls
      ? tlsConnect({
          host,
          port,
          // SNI carries names only (RFC 6066 3); an address is checked against the IP SANs.
          ...(isIP(host) ? {} : { servername: host }),
          minVersion: "TLSv1.2",
          ...material,
        })
      : tcpConnect({ host, port });
    const fail = (err: Error) => {
      cleanup();
      socket.destroy();
      reject(err);
    };
    const timer = setTimeout(() => fail(new Error(`no connection to ${url} within 10s`)), CONNECT_TIMEOUT_MS);
    const onAbort = () => fail(new Error("stopping"));
    const ready = () => {
      cleanup();
      // Errors from here on are the caller's to watch; this keeps one that comes first from crashing.
      socket.on("error", () => undefined);
      socket.setKeepAlive(true, 30_000);
      resolve(socket);
    };
    const cleanup = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      socket.off("error", fail);
      socket.off(tls ? "secureConnect" : "connect", ready);
    };
    if (signal.aborted) return fail(new Error("stopping"));
    signal.addEventListener("abort", onAbort);
    socket.once("error", fail);
    socket.once(tls ? "secureConnect" : "connect", ready);
  });
}
