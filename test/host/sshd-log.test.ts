import { describe, expect, test } from "vitest";
import { parseSshdLine, parseSshdMessage } from "../../cli/host/sshd-log.js";
import { track } from "../../cli/host/tracker.js";
import { freshState } from "../../cli/host/state-file.js";

/** Lines as OpenSSH 9.2's sshd -E writes them at LogLevel VERBOSE (captured from a real login). */
const ACCEPTED =
  "Accepted publickey for root from 127.0.0.1 port 51902 ssh2: ED25519-CERT SHA256:bIdQ4RhrE0g3iVrjPECoc71A7B5f6SD5wsT/1dDOqc0 ID req=rq_abc;user=alice;role=debug;approvers=bob (serial 1234567890123) CA ED25519 SHA256:rDPLgxiL0HzFY67mnfRJaHhQ57AmO9xVX7T6tU3oKxQ";
const CA = "SHA256:rDPLgxiL0HzFY67mnfRJaHhQ57AmO9xVX7T6tU3oKxQ";
const now = new Date("2026-03-01T12:00:00Z");

describe("sshd's certificate logins and logouts", () => {
  test("ok/the accepted line of a certificate login", () => {
    expect(parseSshdLine(ACCEPTED, now)).toEqual({
      kind: "accepted",
      login: "root",
      from: "127.0.0.1",
      port: 51902,
      serial: "1234567890123",
      keyId: "req=rq_abc;user=alice;role=debug;approvers=bob",
      caFingerprint: CA,
    });
  });

  test.each([
    ["Disconnected from user root 127.0.0.1 port 51902"],
    ["Connection closed by user root 127.0.0.1 port 51902"],
    ["Connection reset by user root 127.0.0.1 port 51902"],
    ["Timeout, client not responding from user root 127.0.0.1 port 51902"],
  ])("ok/the end of an authenticated connection: %s", (line) => {
    expect(parseSshdLine(line, now)).toEqual({ kind: "disconnected", login: "root", from: "127.0.0.1", port: 51902 });
  });

  test.each([
    ['Accepted certificate ID "x" (serial 1) signed by ED25519 CA SHA256:abc via /etc/ssh/ca.pub'],
    [
      "Accepted publickey for root from 127.0.0.1 port 5 ssh2: ED25519 SHA256:bIdQ4RhrE0g3iVrjPECoc71A7B5f6SD5wsT/1dDOqc0",
    ],
    ["Postponed publickey for root from 127.0.0.1 port 51902 ssh2 [preauth]"],
    ["Received disconnect from 127.0.0.1 port 51902:11: disconnected by user"],
    ["Connection closed by authenticating user root 127.0.0.1 port 5 [preauth]"],
    ["Server listening on 127.0.0.1 port 22."],
    [""],
  ])("fail/not a certificate login or logout: %s", (line) => {
    expect(parseSshdLine(line, now)).toBeUndefined();
  });

  test("ok/a key id that imitates sshd's own suffix is matched from the end of the line", () => {
    const hostile = ACCEPTED.replace(
      "ID req=rq_abc;user=alice;role=debug;approvers=bob",
      "ID x (serial 1) CA ED25519 SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA y",
    );
    expect(parseSshdLine(hostile, now)).toMatchObject({
      serial: "1234567890123",
      keyId: "x (serial 1) CA ED25519 SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA y",
      caFingerprint: CA,
    });
  });

  test("ok/syslog prefixes give the line's time; other programs' lines are ignored", () => {
    expect(parseSshdLine(`2026-03-01T11:59:58.123456+00:00 web-1 sshd[812]: ${ACCEPTED}`, now)).toMatchObject({
      kind: "accepted",
      at: "2026-03-01T11:59:58.123Z",
    });
    expect(parseSshdLine(`2026-03-01T11:59:58+01:00 web-1 sshd-session[9]: ${ACCEPTED}`, now)).toMatchObject({
      at: "2026-03-01T10:59:58.000Z",
    });
    const bsd = parseSshdLine(`Mar  1 11:59:58 web-1 sshd[812]: Disconnected from user root 10.0.0.9 port 4`, now);
    expect(bsd).toMatchObject({ kind: "disconnected", from: "10.0.0.9" });
    expect(new Date(bsd!.at!).getMonth()).toBe(2);
    // Anyone may log "sshd: Accepted ..." with logger(1) under their own program name; not under sshd's.
    expect(parseSshdLine(`2026-03-01T11:59:58+00:00 web-1 evil[1]: ${ACCEPTED}`, now)).toBeUndefined();
    // A BSD timestamp from December read in January is last year's.
    const dec = parseSshdLine(`Dec 31 23:59:59 h sshd[1]: ${ACCEPTED}`, new Date("2026-01-01T00:00:10"));
    expect(new Date(dec!.at!).getFullYear()).toBe(2025);
  });

  test("ok/control characters in a key id are not passed on; it is cut at 256", () => {
    const e = parseSshdMessage(ACCEPTED.replace("req=rq_abc", `\u0007${"k".repeat(400)}`));
    expect(e).toMatchObject({ kind: "accepted" });
    expect((e as { keyId: string }).keyId).toMatch(/^\?k+$/);
    expect((e as { keyId: string }).keyId.length).toBe(256);
  });
});

describe("sessions: a login opens one, the end of that connection closes it", () => {
  test("ok/login then logout become two numbered events carrying the certificate", () => {
    let s = freshState();
    const a = track(s, parseSshdMessage(ACCEPTED)!, "2026-03-01T12:00:00.000Z");
    s = a.state;
    expect(a.report).toMatchObject({ seq: 1, kind: "opened", serial: "1234567890123", login: "root", port: 51902 });
    const d = track(s, parseSshdMessage("Disconnected from user root 127.0.0.1 port 51902")!, "2026-03-01T12:05:00Z");
    expect(d.report).toMatchObject({ seq: 2, kind: "closed", serial: "1234567890123", at: "2026-03-01T12:05:00Z" });
    expect(d.state.open).toEqual({});
    expect(d.state.pending.map((e) => e.seq)).toEqual([1, 2]);
  });

  test("fail/a logout whose login was never seen (a plain key, before the companion ran) reports nothing", () => {
    const s = freshState();
    const d = track(s, parseSshdMessage("Disconnected from user root 127.0.0.1 port 1")!, "2026-03-01T12:00:00Z");
    expect(d.report).toBeUndefined();
    expect(d.state).toBe(s);
  });

  test("fail/a serial beyond 64 bits is not reported (the daemon would refuse it)", () => {
    const big = ACCEPTED.replace("(serial 1234567890123)", "(serial 99999999999999999999)");
    expect(track(freshState(), parseSshdMessage(big)!, "2026-03-01T12:00:00Z").report).toBeUndefined();
  });
});
