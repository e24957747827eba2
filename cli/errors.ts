/** Exit codes of sshca (documented in the README). */
export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  /** The request ended without a certificate: denied, cancelled or expired. */
  ended: 3,
  /** Gave up waiting (--timeout). */
  timeout: 4,
  /** sshca report: the report lists findings (for compliance jobs). */
  findings: 5,
  /** Interrupted (Ctrl-C) while waiting; the request goes on (128 + SIGINT, as shells report it). */
  interrupted: 130,
} as const;

/** A failure to report as one line on stderr with a given exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.error,
    /** The server's error code, when the daemon refused. */
    readonly code?: string,
  ) {
    super(message);
  }
}
