import type { Server } from "node:http";
import type { Socket } from "node:net";
import type { Config } from "../config/schema.js";
import { clientKey } from "./client-address.js";

type Limits = Config["limits"];

/** How often Node looks for connections past their header or request timeout. */
const CHECK_INTERVAL_MS = 1000;

/**
 * Options for http.createServer / https.createServer that bound how long a client may take:
 * to finish the TLS handshake (tls.Server handshakeTimeout, fixed at creation), to send its
 * headers (slow loris) and its whole request. Node checks the last two every
 * connectionsCheckingInterval (30 s by default, which alone would let a slow client stay
 * twice as long), so it is checked every second.
 */
export function serverOptions(limits: Limits): {
  headersTimeout: number;
  requestTimeout: number;
  connectionsCheckingInterval: number;
  handshakeTimeout: number;
} {
  return {
    headersTimeout: limits.headersTimeout * 1000,
    requestTimeout: limits.requestTimeout * 1000,
    connectionsCheckingInterval: CHECK_INTERVAL_MS,
    handshakeTimeout: limits.handshakeTimeout * 1000,
  };
}

/** Applies the limits that can change while running (at start and on SIGHUP). */
export function applyConnectionLimits(server: Server, limits: Limits): void {
  server.headersTimeout = limits.headersTimeout * 1000;
  server.requestTimeout = limits.requestTimeout * 1000;
  // Beyond it the kernel-accepted connection is closed at once (net.Server "drop").
  server.maxConnections = limits.connections;
}

/**
 * Caps concurrent connections per client address (clientKey: an IPv4 address, an IPv6 /64):
 * one more is closed as soon as it is accepted, before any TLS or HTTP work is spent on it, so
 * one client cannot hold every connection the daemon can have. Unix-socket clients have no
 * address to tell them apart and are bounded by `limits.connections` only.
 */
export function limitConnectionsPerAddress(
  server: Server,
  limits: () => Limits,
  onRefused: (reason: "per_address" | "total") => void = () => undefined,
): void {
  const open = new Map<string, number>();
  server.on("drop", () => onRefused("total"));
  // Before the server's own listeners (TLS wrapping, the HTTP parser).
  server.prependListener("connection", (socket: Socket) => {
    if (!socket.remoteAddress) return;
    const key = clientKey(socket.remoteAddress);
    const count = open.get(key) ?? 0;
    if (count >= limits().connectionsPerAddress) {
      onRefused("per_address");
      socket.destroy();
      return;
    }
    open.set(key, count + 1);
    socket.once("close", () => {
      const left = (open.get(key) ?? 1) - 1;
      if (left > 0) open.set(key, left);
      else open.delete(key);
    });
  });
}
