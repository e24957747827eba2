import { z } from "zod";
import { duration, ident } from "./fields.js";

/** RFC 5424 section 6.2.1 facility names and their numbers. */
export const FACILITIES = {
  kern: 0,
  user: 1,
  daemon: 3,
  auth: 4,
  syslog: 5,
  authpriv: 10,
  security: 13, // "log audit"
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
} as const;

/**
 * A syslog destination for the audit events: RFC 5424 messages over TCP (RFC 6587) or TLS
 * (RFC 5425), framed by octet counting, in order, at least once, from a durable cursor.
 */
const syslogSchema = z
  .strictObject({
    name: ident("syslog destination name"),
    /** tcp://HOST:PORT or tls://HOST:PORT (RFC 5425's port is 6514). */
    url: z
      .string()
      .regex(/^(tcp|tls):\/\/[A-Za-z0-9.:[\]-]{1,255}:\d{1,5}$/, "expected tcp://HOST:PORT or tls://HOST:PORT"),
    /** PEM file of the CA that signed the receiver's certificate (tls://); default: the system's CAs. */
    caFile: z.string().min(1).optional(),
    /** A client certificate (PEM, tls://) for receivers that authenticate senders (RFC 5425 mutual authentication), with its key. */
    certFile: z.string().min(1).optional(),
    keyFile: z.string().min(1).optional(),
    /** Event types sent ("*" for all). */
    events: z
      .array(z.string().regex(/^(\*|[a-z_]+(\.[a-z_]+)?)$/, "expected an event type such as request.created, or *"))
      .min(1)
      .default(["*"]),
    /** now: from the newest record when first configured; start: the whole audit log first. */
    from: z.enum(["now", "start"]).default("now"),
    facility: z
      .enum(Object.keys(FACILITIES) as [keyof typeof FACILITIES, ...(keyof typeof FACILITIES)[]])
      .default("authpriv"),
    /** HOSTNAME field (RFC 5424 6.2.4); default: this machine's name. */
    hostname: z
      .string()
      .regex(/^[\x21-\x7e]{1,255}$/, "printable ASCII without spaces")
      .optional(),
    /** APP-NAME field. */
    appName: z
      .string()
      .regex(/^[\x21-\x7e]{1,48}$/, "printable ASCII without spaces, at most 48")
      .default("sshcad"),
    /**
     * The SD-ID of the structured data (RFC 5424 6.3.2: NAME@PRIVATE-ENTERPRISE-NUMBER). The
     * default uses 32473, the number RFC 5612 reserves for documentation; an organisation with
     * its own enterprise number should put it here.
     */
    sdId: z
      .string()
      .regex(/^[\x21-\x7e]{1,32}$/, "at most 32 printable ASCII characters")
      .refine((v) => /^[^=\]" @]+@\d+(\.\d+)*$/.test(v), 'an SD-ID is NAME@NUMBER without =, ], " or spaces')
      .default("sshca@32473"),
    /**
     * The longest message sent, in octets (RFC 5425 4.3.1: receivers SHOULD take 8192; RFC 5424
     * 6.1: every receiver takes 480). A longer record is sent without its fields (see the README).
     */
    maxMessage: z.int().min(480).max(65536).default(8192),
    /** Backoff between attempts to reach the receiver (doubling from `initial` up to `max`). */
    retry: z
      .strictObject({
        initial: duration().pipe(z.int().min(1)).prefault("1s"),
        max: duration().pipe(z.int().min(1)).prefault("1m"),
      })
      .prefault({}),
  })
  .refine((s) => (s.caFile === undefined && s.certFile === undefined) || s.url.startsWith("tls://"), {
    message: "caFile and certFile apply only to tls:// destinations",
    path: ["url"],
  })
  .refine((s) => (s.certFile === undefined) === (s.keyFile === undefined), {
    message: "give certFile and keyFile together",
    path: ["certFile"],
  });

export const syslogListSchema = z.array(syslogSchema).default([]);
export type SyslogConfig = z.output<typeof syslogSchema>;
