import { isIP } from "node:net";
import type { HostSessionEventBody } from "../../src/http/contract.js";
import type { SshdLogEvent } from "./sshd-log.js";

/** A certificate login the companion saw and whose logout it has not seen yet. */
export interface OpenSession {
  login: string;
  from: string;
  port: number;
  serial: string;
  keyId: string;
  caFingerprint: string;
}

/** Where in sshd's log the companion is. */
export type LogPosition = { kind: "file"; ino: number; offset: number } | { kind: "journald"; cursor: string };

/**
 * What the companion keeps across restarts (its state file): the stream of events it numbers
 * and how far it got, where it is in sshd's log, the sessions still open, the events the daemon
 * has not acknowledged yet, and the principals files it wrote.
 */
export interface CompanionState {
  format: "sshca-host/1";
  /** Random, made with the state: the daemon starts counting again when it changes. */
  stream: string;
  /** The last event number handed out. */
  seq: number;
  position?: LogPosition;
  open: Record<string, OpenSession>;
  pending: HostSessionEventBody[];
  /** Login users whose principals file this companion wrote. */
  managed: string[];
}

/** Sessions remembered at most (the oldest is forgotten: a logout never seen must not grow the file). */
export const MAX_OPEN = 10_000;

const connection = (e: { login: string; from: string; port: number }) => `${e.login} ${e.from} ${e.port}`;

const U64_MAX = 18446744073709551615n;

/** Would the daemon take this login as it is? (Checked here so one odd line never blocks the queue.) */
export function reportable(e: { login: string; from: string; port: number; serial: string }): boolean {
  return (
    /^[\x21-\x7e]{1,64}$/.test(e.login) &&
    isIP(e.from) !== 0 &&
    e.port >= 0 &&
    e.port <= 65535 &&
    /^\d{1,20}$/.test(e.serial) &&
    BigInt(e.serial) <= U64_MAX
  );
}

/**
 * The state after one sshd log event, and the session event to report (if any): a certificate
 * login opens a session, the end of that connection closes it. A logout of a connection whose
 * login was never seen (a plain key, or before the companion ran) reports nothing. Pure.
 */
export function track(
  state: CompanionState,
  event: SshdLogEvent,
  at: string,
): { state: CompanionState; report?: HostSessionEventBody } {
  const key = connection(event);
  if (event.kind === "accepted") {
    if (!reportable(event)) return { state };
    const session: OpenSession = {
      login: event.login,
      from: event.from,
      port: event.port,
      serial: event.serial,
      keyId: event.keyId,
      caFingerprint: event.caFingerprint,
    };
    const open = { ...state.open, [key]: session };
    const keys = Object.keys(open);
    for (const old of keys.slice(0, Math.max(0, keys.length - MAX_OPEN))) delete open[old];
    const seq = state.seq + 1;
    const report: HostSessionEventBody = { seq, kind: "opened", at, ...session };
    return { state: { ...state, seq, open, pending: [...state.pending, report] }, report };
  }
  const session = Object.hasOwn(state.open, key) ? state.open[key] : undefined;
  if (!session) return { state };
  const open = { ...state.open };
  delete open[key];
  const seq = state.seq + 1;
  const report: HostSessionEventBody = { seq, kind: "closed", at, ...session };
  return { state: { ...state, seq, open, pending: [...state.pending, report] }, report };
}
