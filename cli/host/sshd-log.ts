/**
 * sshd's log lines about certificate logins (LogLevel VERBOSE), read by the host companion.
 * Pure. What sshd writes (auth2-pubkey.c, packet.c; checked against OpenSSH 9.2):
 *
 *   Accepted publickey for root from 127.0.0.1 port 51902 ssh2: ED25519-CERT SHA256:bIdQ...
 *     ID req=rq_...;user=alice;role=debug;approvers=bob (serial 1234567890123) CA ED25519 SHA256:rDPL...
 *   Disconnected from user root 127.0.0.1 port 51902
 *
 * With `sshd -E FILE` a line is the message alone; through syslog it has a prefix
 * ("2026-01-31T10:00:00.123456+00:00 web-1 sshd[812]: ..." or "Jan 31 10:00:00 web-1 sshd[812]: ...");
 * through journald the MESSAGE field is the message alone.
 */

export type SshdLogEvent =
  | {
      kind: "accepted";
      login: string;
      from: string;
      port: number;
      serial: string;
      keyId: string;
      caFingerprint: string;
      /** The time in the line's syslog prefix, when it has one. */
      at?: string;
    }
  | { kind: "disconnected"; login: string; from: string; port: number; at?: string };

/**
 * The key id is printed raw and chosen by whoever made the certificate (another CA's may hold
 * "(serial 1) CA ..." itself), so the line is matched from its end: the serial and CA that sshd
 * appends come last.
 */
const ACCEPTED =
  /^Accepted publickey for (\S+) from (\S+) port (\d{1,5}) ssh2: \S+-CERT SHA256:\S+ ID (.*) \(serial (\d{1,20})\) CA \S+ (SHA256:[A-Za-z0-9+/]{43})$/;

/** How sshd says an authenticated connection ended (sshpkt_fmt_connection_id: "user LOGIN ADDR port N"). */
const ENDED =
  /^(?:Disconnected from|Connection closed by|Connection reset by|Timeout, client not responding from|Broken pipe from) user (\S+) (\S+) port (\d{1,5})\b/;

/**
 * Syslog prefixes (rsyslog's RFC 3339 default on Debian, and the traditional BSD form). Only
 * lines of sshd (sshd-session from OpenSSH 9.8 on) count; anything else logged there is ignored.
 */
const ISO_PREFIX =
  /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})) \S+ ([^:\s[]+)(?:\[\d+\])?: (.*)$/;
const BSD_PREFIX = /^([A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}) \S+ ([^:\s[]+)(?:\[\d+\])?: (.*)$/;
export const SSHD_PROGRAMS = ["sshd", "sshd-session"];

/** Key ids are kept printable and short for the report (sshd already escapes control characters). */
export function cleanKeyId(keyId: string): string {
  return keyId.replace(/[^\x20-\x7e]/g, "?").slice(0, 256);
}

/**
 * The message and the prefix's time of one log line; undefined for a prefixed line of another
 * program. `now` dates a BSD-style prefix, which has no year.
 */
export function splitPrefix(line: string, now: Date): { message: string; at?: string } | undefined {
  const iso = ISO_PREFIX.exec(line);
  const bsd = iso ? undefined : BSD_PREFIX.exec(line);
  const m = iso ?? bsd;
  if (!m) return { message: line };
  if (!SSHD_PROGRAMS.includes(m[2]!)) return undefined;
  let t: number;
  if (iso) t = Date.parse(m[1]!);
  else {
    t = Date.parse(`${m[1]} ${now.getFullYear()}`);
    // A December line read in January belongs to last year.
    if (t > now.getTime() + 86400_000) t = Date.parse(`${m[1]} ${now.getFullYear() - 1}`);
  }
  return Number.isNaN(t) ? { message: m[3]! } : { message: m[3]!, at: new Date(t).toISOString() };
}

/** The certificate login or logout a message reports, or undefined for any other line. */
export function parseSshdMessage(message: string): SshdLogEvent | undefined {
  const text = message.trimEnd();
  const a = ACCEPTED.exec(text);
  if (a) {
    return {
      kind: "accepted",
      login: a[1]!,
      from: a[2]!,
      port: Number(a[3]),
      keyId: cleanKeyId(a[4]!),
      serial: a[5]!,
      caFingerprint: a[6]!,
    };
  }
  const d = ENDED.exec(text);
  if (d) return { kind: "disconnected", login: d[1]!, from: d[2]!, port: Number(d[3]) };
  return undefined;
}

/** One line of a log file (with or without a syslog prefix). */
export function parseSshdLine(line: string, now: Date): SshdLogEvent | undefined {
  const split = splitPrefix(line, now);
  if (!split) return undefined;
  const event = parseSshdMessage(split.message);
  return event && split.at ? { ...event, at: split.at } : event;
}
