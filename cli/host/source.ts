import type { LogPosition } from "./tracker.js";

/** One line of sshd's log, where the source stands after it, and its time if the source knows it. */
export interface LogEntry {
  /** A log file's whole line (perhaps with a syslog prefix), or journald's MESSAGE. */
  line: string;
  /** journald: the entry's own time (__REALTIME_TIMESTAMP). */
  at?: string;
  /** The line is sshd's message alone (journald's MESSAGE), never with a syslog prefix. */
  message?: true;
  position: LogPosition;
}

/** Where sshd's log comes from: a file, or journald. `read` returns what is new (perhaps nothing). */
export interface LogSource {
  read(): Promise<LogEntry[]>;
  close(): Promise<void>;
}
