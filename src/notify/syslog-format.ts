import { canonicalJson } from "../canonical-json.js";
import type { AuditRecord } from "../audit/record.js";

/**
 * Audit records as RFC 5424 syslog messages, framed for TCP and TLS by octet counting
 * (RFC 6587 section 3.4.1, RFC 5425 section 4.3). Pure.
 *
 *   SYSLOG-MSG = HEADER SP STRUCTURED-DATA [SP MSG]
 *   HEADER     = PRI VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID
 *
 * MSGID is the event type; the structured data names the record (seq, hash, actor) and what it
 * is about (request, requester, serial, host ...), so a SIEM can index them without parsing the
 * message; MSG is the whole record as canonical JSON (BOM first, 6.4), from which its hash can
 * be checked against the audit chain. Audit records hold no secrets (token ids, never tokens).
 */

export interface SyslogFields {
  facility: number;
  hostname: string;
  appName: string;
  procId: string;
  sdId: string;
  /** The longest SYSLOG-MSG, in octets (without the framing's length prefix). */
  maxMessage: number;
}

/** RFC 5424 6.2.1 severities. */
export const SEVERITY = { warning: 4, notice: 5, informational: 6 } as const;

const WARNINGS = new Set([
  "finding.raised",
  "scan.drift",
  "scan.failed",
  "auth.failed",
  "auth.factor_failed",
  "audit.recovered",
]);
const ROUTINE = new Set([
  "certificate.fetched",
  "auth.signed_in",
  "auth.signed_out",
  "scan.started",
  "scan.finished",
  "daemon.started",
  "audit.head_created",
  "host.reporting_resumed",
]);

/**
 * Findings, drift, failed scans and refused sign-ins are warnings; decisions about access, keys,
 * users, credentials and sessions are notices (normal but significant); routine work is informational.
 */
export function severityOf(type: string): number {
  if (WARNINGS.has(type)) return SEVERITY.warning;
  if (ROUTINE.has(type)) return SEVERITY.informational;
  if (/^(request|certificate|user|token|host|auth|session|ca|tls|config)\./.test(type)) return SEVERITY.notice;
  return SEVERITY.informational;
}

/** A header field: PRINTUSASCII (%d33-126) only, cut to `max`; "-" (NILVALUE) when nothing is left (6.2). */
export function headerField(value: string, max: number): string {
  const clean = value.replace(/[^\x21-\x7e]/g, "").slice(0, max);
  return clean === "" ? "-" : clean;
}

/** PARAM-VALUE: '"', '\' and ']' must be escaped with '\' (6.3.3). */
export function escapeParam(value: string): string {
  return value.replace(/[\\"\]]/g, (c) => `\\${c}`);
}

/** TIMESTAMP (6.2.3): RFC 3339 in UTC with milliseconds (at most 6 fractional digits allowed). */
function timestamp(time: string): string {
  const t = new Date(time);
  return Number.isNaN(t.getTime()) ? "-" : t.toISOString();
}

/** Record fields also given as SD-PARAMs (strings and numbers only; PARAM-NAMEs are at most 32 characters). */
const INDEXED = ["request", "requester", "role", "serial", "host", "user", "login", "finding", "scan", "trigger"];

/** The structured data element of a record: which record, and (unless `brief`) what it is about. */
function structuredData(r: AuditRecord, sdId: string, brief: boolean): string {
  const f = r.fields as Record<string, unknown>;
  const params: [string, string][] = [
    ["seq", String(r.seq)],
    ["hash", r.hash],
  ];
  if (!brief) {
    params.push(["actor", r.actor]);
    for (const k of INDEXED) {
      const v = f[k];
      if (typeof v === "string" || typeof v === "number") params.push([k, String(v)]);
    }
  }
  return `[${sdId}${params.map(([k, v]) => ` ${k}="${escapeParam(v)}"`).join("")}]`;
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** The bytes of `s` cut to at most `max` octets, never inside a UTF-8 sequence. */
function cutUtf8(s: Buffer, max: number): Buffer {
  if (s.length <= max) return s;
  let end = max;
  while (end > 0 && (s[end]! & 0xc0) === 0x80) end--; // back to the start of the sequence cut through
  return s.subarray(0, end);
}

/**
 * One record as an RFC 5424 message (bytes; MSG is UTF-8 with a BOM), at most `maxMessage` octets.
 * A record too long for that is sent without its fields: MSG is the record with `fields` replaced by
 * `{}` and `"fieldsOmitted": true` (seq and hash name it, for a look-up in the audit log), and the
 * structured data holds only seq and hash; whatever is still too long is cut.
 */
export function formatRfc5424(r: AuditRecord, o: SyslogFields): Buffer {
  const pri = o.facility * 8 + severityOf(r.type);
  const head = [
    `<${pri}>1`,
    timestamp(r.time),
    headerField(o.hostname, 255),
    headerField(o.appName, 48),
    headerField(o.procId, 128),
    headerField(r.type, 32),
  ].join(" ");
  const body = { seq: r.seq, time: r.time, actor: r.actor, type: r.type, prev: r.prev, hash: r.hash };
  const full = Buffer.concat([
    Buffer.from(`${head} ${structuredData(r, o.sdId, false)} `, "utf8"),
    BOM,
    Buffer.from(canonicalJson({ ...body, fields: r.fields }), "utf8"),
  ]);
  if (full.length <= o.maxMessage) return full;
  const brief = Buffer.concat([
    Buffer.from(`${head} ${structuredData(r, o.sdId, true)} `, "utf8"),
    BOM,
    Buffer.from(canonicalJson({ ...body, fields: {}, fieldsOmitted: true }), "utf8"),
  ]);
  return cutUtf8(brief, o.maxMessage);
}

/** Octet-counting framing (RFC 6587 3.4.1): MSG-LEN SP SYSLOG-MSG, MSG-LEN the message's length in octets. */
export function frame(message: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${message.length} `, "ascii"), message]);
}
