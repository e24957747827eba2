import { isIPv4, isIPv6 } from "node:net";
import { CliError } from "./errors.js";

/**
 * Plain HTTP authenticates nothing: whoever answers could forge the CA key, serve an empty KRL,
 * take a token or relay a sign-in. So it is used only where no one else can be on the path: a
 * unix socket, or a loopback IP address written as such (127.0.0.0/8, ::1). A name is never
 * enough, not even `localhost`: what it resolves to is up to the resolver, not to the user.
 */
export function isLoopbackAddress(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "");
  if (isIPv4(host)) return host.split(".")[0] === "127";
  // The WHATWG URL parser writes IPv6 addresses in their shortest form: ::1 is always "::1".
  return isIPv6(host) && host === "::1";
}

/** How the CLI reaches a server URL: "unix:/path", plain http (loopback only) or https. */
export type Transport = { kind: "unix"; socketPath: string } | { kind: "http" | "https"; url: URL };

/** Parses the server URL and refuses plain HTTP beyond loopback, before anything is sent. */
export function transportFor(url: string, carriesToken: boolean): Transport {
  if (url.startsWith("unix:")) return { kind: "unix", socketPath: url.slice(5) };
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CliError(`server URL ${url} is not a URL`);
  }
  if (parsed.protocol === "https:") return { kind: "https", url: parsed };
  if (parsed.protocol !== "http:") throw new CliError(`server URL must be http(s): ${url}`);
  if (!isLoopbackAddress(parsed.hostname)) {
    throw new CliError(
      carriesToken
        ? `refusing to send the API token over plain HTTP to ${url}; use https`
        : `refusing plain HTTP to ${url}: without TLS only a loopback IP address (127.0.0.0/8, ::1) or a unix socket is trusted; use https`,
    );
  }
  return { kind: "http", url: parsed };
}
