/**
 * The one error type of sshca. Every failure the daemon reports on purpose is an
 * SshcaError with a code; the HTTP edge maps codes to statuses in one place
 * (src/http/errors.ts) and anything else becomes a plain 500.
 */
export type ErrorCode =
  | "bad_request"
  | "unauthenticated"
  | "forbidden"
  | "not_found"
  | "conflict"
  | "payload_too_large"
  | "unsupported_media_type"
  | "rate_limited"
  | "unavailable"
  | "config_invalid"
  | "state_invalid"
  | "internal";

export class SshcaError extends Error {
  override readonly name = "SshcaError";
  readonly code: ErrorCode;
  /** Safe, user-facing details (never secrets, never raw input). */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
  }
}

/** Shorthand constructors keep call sites short and the codes consistent. */
export const fail = {
  badRequest: (msg: string, details?: Record<string, unknown>) => new SshcaError("bad_request", msg, { details }),
  forbidden: (msg: string) => new SshcaError("forbidden", msg),
  unauthenticated: (msg: string) => new SshcaError("unauthenticated", msg),
  notFound: (msg: string) => new SshcaError("not_found", msg),
  conflict: (msg: string, details?: Record<string, unknown>) => new SshcaError("conflict", msg, { details }),
  unavailable: (msg: string, cause?: unknown) => new SshcaError("unavailable", msg, { cause }),
  /** 429 with Retry-After: `retryAfter` seconds. */
  rateLimited: (msg: string, retryAfter: number) => new SshcaError("rate_limited", msg, { details: { retryAfter } }),
};

export function isSshcaError(err: unknown): err is SshcaError {
  return err instanceof SshcaError;
}

/** An error reduced to what may be logged: code and first message line, no argv or bodies. */
export function safeErr(err: unknown): { code?: string; message: string } {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return {
      ...(typeof code === "string" ? { code } : {}),
      message: err.message.split("\n")[0] ?? "",
    };
  }
  return { message: String(err) };
}
