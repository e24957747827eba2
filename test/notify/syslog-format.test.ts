import { describe, expect, test } from "vitest";
import { type AuditRecord, hashRecord } from "../../src/audit/record.js";
import { FACILITIES } from "../../src/config/syslog-schema.js";
import { escapeParam, formatRfc5424, frame, headerField, severityOf } from "../../src/notify/syslog-format.js";
import { parseRfc5424, unframe } from "../helpers/syslog-receiver.js";

const record = (type: string, fields: Record<string, unknown>, actor = "alice", seq = 42): AuditRecord => {
  const r = { seq, time: "2026-03-01T12:34:56.789Z", actor, type, fields, prev: "a".repeat(64) } as Omit<
    AuditRecord,
    "hash"
  >;
  return { ...r, hash: hashRecord(r) } as AuditRecord;
};
const opts = {
  facility: FACILITIES.authpriv,
  hostname: "ca-1.example.org",
  appName: "sshcad",
  procId: "4242",
  sdId: "sshca@32473",
  maxMessage: 8192,
};

describe("RFC 5424 header", () => {
  test.each([
    { type: "request.created", facility: "authpriv", pri: 10 * 8 + 5 },
    { type: "certificate.issued", facility: "authpriv", pri: 85 },
    { type: "finding.raised", facility: "authpriv", pri: 84 },
    { type: "scan.drift", facility: "local0", pri: 16 * 8 + 4 },
    { type: "auth.failed", facility: "security", pri: 13 * 8 + 4 },
    { type: "certificate.fetched", facility: "auth", pri: 4 * 8 + 6 },
    { type: "daemon.started", facility: "daemon", pri: 3 * 8 + 6 },
    { type: "session.opened", facility: "local7", pri: 23 * 8 + 5 },
  ] as const)("$type on $facility has PRI $pri", ({ type, facility, pri }) => {
    const m = parseRfc5424(formatRfc5424(record(type, {}), { ...opts, facility: FACILITIES[facility] }));
    expect(m.pri).toBe(pri);
    expect(m.version).toBe(1);
    expect(m.msgId).toBe(type);
    expect(m.timestamp).toBe("2026-03-01T12:34:56.789Z");
    expect(m).toMatchObject({ hostname: "ca-1.example.org", appName: "sshcad", procId: "4242" });
  });

  test.each([
    { name: "kept as is", value: "sshcad", max: 48, want: "sshcad" },
    { name: "spaces and controls removed", value: "ca 1\n\t.example", max: 255, want: "ca1.example" },
    { name: "non-ASCII removed", value: "hôte", max: 255, want: "hte" },
    { name: "cut to the field's maximum", value: "x".repeat(40), max: 32, want: "x".repeat(32) },
    { name: "nothing left is NILVALUE", value: " é ", max: 255, want: "-" },
  ])("header field: $name", ({ value, max, want }) => {
    expect(headerField(value, max)).toBe(want);
  });

  test("MSGID is at most 32 printable characters; an unparseable time is NILVALUE", () => {
    const r = { ...record("request.created", {}), type: "x.".repeat(30), time: "not a time" } as unknown as AuditRecord;
    const m = parseRfc5424(formatRfc5424(r, opts));
    expect(m.msgId).toBe("x.".repeat(16));
    expect(m.timestamp).toBe("-");
  });

  test.each([
    ["finding.raised", 4],
    ["scan.failed", 4],
    ["audit.recovered", 4],
    ["request.denied", 5],
    ["user.removed", 5],
    ["host.credential_created", 5],
    ["scan.finished", 6],
    ["auth.signed_in", 6],
    ["some.future_type", 6],
  ])("severity of %s is %i", (type, want) => {
    expect(severityOf(type)).toBe(want);
  });
});

describe("structured data and MSG", () => {
  test.each([
    { name: "plain", value: "abc", escaped: "abc" },
    { name: "quote", value: 'say "hi"', escaped: 'say \\"hi\\"' },
    { name: "backslash", value: "a\\b", escaped: "a\\\\b" },
    { name: "closing bracket", value: "[x]", escaped: "[x\\]" },
    { name: "all three", value: '\\"]', escaped: '\\\\\\"\\]' },
    { name: "UTF-8 is kept", value: "zoë", escaped: "zoë" },
  ])("SD-PARAM escaping: $name", ({ value, escaped }) => {
    expect(escapeParam(value)).toBe(escaped);
    const m = parseRfc5424(formatRfc5424(record("request.created", { request: value }, value), opts));
    expect(m.sd["sshca@32473"]).toMatchObject({ actor: value, request: value });
  });

  test("the SD names the record and what it is about; MSG is the record, BOM first, whose hash checks", () => {
    const r = record("certificate.issued", {
      request: "r-1",
      requester: "alice",
      role: "dba",
      serial: "1234567890",
      approvers: ["bob"],
    });
    const bytes = formatRfc5424(r, opts);
    const m = parseRfc5424(bytes);
    expect(m.sd).toEqual({
      "sshca@32473": {
        seq: "42",
        hash: r.hash,
        actor: "alice",
        request: "r-1",
        requester: "alice",
        role: "dba",
        serial: "1234567890",
      },
    });
    expect(m.bom).toBe(true);
    const body = JSON.parse(m.msg) as AuditRecord;
    expect(body).toEqual(r);
    expect(hashRecord(body)).toBe(r.hash);
  });

  test("a record over maxMessage is sent without its fields, still naming seq and hash; never over the limit", () => {
    const r = record("config.loaded", { roles: Array.from({ length: 2000 }, (_, i) => `role-${i}`), request: "r-9" });
    for (const max of [480, 1024, 8192]) {
      const bytes = formatRfc5424(r, { ...opts, maxMessage: max });
      expect(bytes.length).toBeLessThanOrEqual(max);
      const m = parseRfc5424(bytes);
      expect(m.sd["sshca@32473"]).toEqual({ seq: "42", hash: r.hash });
      if (max >= 1024) {
        expect(JSON.parse(m.msg)).toEqual({ ...r, fields: {}, fieldsOmitted: true });
      }
    }
    // Exactly at the limit is sent whole.
    const whole = formatRfc5424(record("request.created", { request: "r-1" }), opts);
    expect(formatRfc5424(record("request.created", { request: "r-1" }), { ...opts, maxMessage: whole.length })).toEqual(
      whole,
    );
  });

  test("a cut never splits a UTF-8 sequence", () => {
    const r = record("request.created", { reason: "é".repeat(3000) }, "ü".repeat(200));
    for (let max = 480; max < 520; max++) {
      const bytes = formatRfc5424(r, { ...opts, maxMessage: max });
      expect(bytes.length).toBeLessThanOrEqual(max);
      expect(Buffer.from(bytes.toString("utf8"), "utf8").equals(bytes)).toBe(true);
    }
  });
});

describe("octet-counting framing (RFC 6587 3.4.1)", () => {
  test("MSG-LEN counts octets, not characters, and frames split back exactly", () => {
    const msgs = [
      formatRfc5424(record("request.created", { reason: "naïve ünïcödé ✓" }), opts),
      formatRfc5424(record("request.approved", { request: "12 34" }, "bob", 43), opts),
    ];
    const first = frame(msgs[0]!);
    expect(first.subarray(0, first.indexOf(0x20)).toString()).toBe(String(msgs[0]!.length));
    expect(msgs[0]!.length).toBeGreaterThan(msgs[0]!.toString("utf8").length);
    const stream = Buffer.concat(msgs.map(frame));
    // Split anywhere: the receiver waits for the rest of a frame.
    for (const cut of [1, 5, first.length - 1, first.length, first.length + 3]) {
      const a = unframe(stream.subarray(0, cut));
      const b = unframe(Buffer.concat([a.rest, stream.subarray(cut)]));
      expect([...a.messages, ...b.messages]).toEqual(msgs);
      expect(b.rest.length).toBe(0);
    }
  });
});
