import { createServer as createTcpServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import { freePort } from "./listeners.js";

/** One RFC 5424 message as a receiver parses it. */
export interface SyslogMessage {
  pri: number;
  version: number;
  timestamp: string;
  hostname: string;
  appName: string;
  procId: string;
  msgId: string;
  /** SD-ID -> PARAM-NAME -> value (unescaped). */
  sd: Record<string, Record<string, string>>;
  /** MSG without its BOM. */
  msg: string;
  bom: boolean;
}

/**
 * Parses SYSLOG-MSG (RFC 5424 section 6) strictly: header fields, structured data with the
 * escapes of 6.3.3 ('\"', '\\', '\]'), then an optional MSG. Throws on anything malformed.
 */
export function parseRfc5424(bytes: Buffer): SyslogMessage {
  const text = bytes.toString("utf8");
  const head = /^<(\d{1,3})>(\d{1,2}) (\S+) (\S+) (\S+) (\S+) (\S+) /.exec(text);
  if (!head) throw new Error(`not an RFC 5424 header: ${text.slice(0, 80)}`);
  const [, pri, version, timestamp, hostname, appName, procId, msgId] = head;
  const sd: SyslogMessage["sd"] = {};
  let i = head[0].length;
  if (text[i] === "-") i++;
  else {
    while (text[i] === "[") {
      const id = /^\[([^ =\]"]{1,32})/.exec(text.slice(i));
      if (!id) throw new Error("bad SD-ID");
      const element: Record<string, string> = {};
      i += id[0].length;
      while (text[i] === " ") {
        const name = /^ ([^ =\]"]{1,32})="/.exec(text.slice(i));
        if (!name) throw new Error("bad SD-PARAM");
        i += name[0].length;
        let value = "";
        for (;;) {
          const c = text[i++];
          if (c === undefined) throw new Error("unterminated PARAM-VALUE");
          if (c === "\\" && ['"', "\\", "]"].includes(text[i]!)) value += text[i++];
          else if (c === '"') break;
          else if (c === "]") throw new Error("unescaped ] in PARAM-VALUE");
          else value += c;
        }
        element[name[1]!] = value;
      }
      if (text[i++] !== "]") throw new Error("SD-ELEMENT not closed");
      sd[id[1]!] = element;
    }
  }
  let rest = Buffer.from(text.slice(i), "utf8");
  if (rest.length > 0) {
    if (rest[0] !== 0x20) throw new Error("no SP before MSG");
    rest = rest.subarray(1);
  }
  const bom = rest.subarray(0, 3).equals(Buffer.from([0xef, 0xbb, 0xbf]));
  return {
    pri: Number(pri),
    version: Number(version),
    timestamp: timestamp!,
    hostname: hostname!,
    appName: appName!,
    procId: procId!,
    msgId: msgId!,
    sd,
    msg: (bom ? rest.subarray(3) : rest).toString("utf8"),
    bom,
  };
}

/** Splits octet-counted frames (RFC 6587 3.4.1) off `buf`; returns the messages and what is left. */
export function unframe(buf: Buffer): { messages: Buffer[]; rest: Buffer } {
  const messages: Buffer[] = [];
  for (;;) {
    const sp = buf.indexOf(0x20);
    if (sp < 0) break;
    const len = buf.subarray(0, sp).toString("ascii");
    if (!/^[1-9]\d{0,8}$/.test(len)) throw new Error(`bad MSG-LEN ${JSON.stringify(len.slice(0, 12))}`);
    if (buf.length < sp + 1 + Number(len)) break;
    messages.push(buf.subarray(sp + 1, sp + 1 + Number(len)));
    buf = buf.subarray(sp + 1 + Number(len));
  }
  return { messages, rest: buf };
}

export interface SyslogReceiver {
  port: number;
  /** Every message received, in arrival order, with the connection it came on. */
  received: { conn: number; message: SyslogMessage }[];
  /** Connections accepted so far (and, for TLS, the client certificate's subject CN if shown). */
  connections: { peerCn?: string }[];
  /** Stops listening and drops every connection at once (an outage). */
  close(): Promise<void>;
  /** Listens again on the same port. */
  reopen(): Promise<void>;
  waitFor(pred: (all: SyslogReceiver["received"]) => boolean, what: string, timeoutMs?: number): Promise<void>;
}

/**
 * A syslog receiver on 127.0.0.1: octet-counted RFC 5424 over TCP, or over TLS (RFC 5425) with
 * the given server certificate, asking for a client certificate when `requestCert`.
 */
export async function startSyslogReceiver(
  opts: { tls?: { key: string; cert: string; ca?: string; requestCert?: boolean } } = {},
): Promise<SyslogReceiver> {
  const received: SyslogReceiver["received"] = [];
  const connections: SyslogReceiver["connections"] = [];
  const sockets = new Set<Socket>();
  let server: Server;
  const onConnection = (socket: Socket) => {
    const conn = connections.length;
    const peer = opts.tls?.requestCert ? (socket as TLSSocket).getPeerCertificate() : undefined;
    connections.push(peer?.subject?.CN ? { peerCn: String(peer.subject.CN) } : {});
    sockets.add(socket);
    let buf: Buffer = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      const { messages, rest } = unframe(Buffer.concat([buf, chunk]));
      buf = rest;
      for (const m of messages) received.push({ conn, message: parseRfc5424(m) });
    });
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
  };
  const make = (): Server =>
    opts.tls
      ? createTlsServer(
          {
            key: opts.tls.key,
            cert: opts.tls.cert,
            ...(opts.tls.ca ? { ca: opts.tls.ca } : {}),
            requestCert: opts.tls.requestCert ?? false,
            rejectUnauthorized: opts.tls.requestCert ?? false,
          },
          onConnection,
        )
      : createTcpServer(onConnection);
  const listen = (p: number) =>
    new Promise<number>((resolve, reject) => {
      server = make();
      server.once("error", reject);
      server.listen(p, "127.0.0.1", () => {
        const a = server.address();
        resolve(typeof a === "object" && a ? a.port : p);
      });
    });
  // Below the ephemeral range, so that `reopen` after a pause finds the port still free.
  const port = await listen(await freePort());
  return {
    port,
    received,
    connections,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
    reopen: async () => {
      await listen(port);
    },
    waitFor: async (pred, what, timeoutMs = 30_000) => {
      const until = Date.now() + timeoutMs;
      while (!pred(received)) {
        if (Date.now() > until) throw new Error(`syslog receiver: ${what} not seen; got ${received.length} messages`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}
