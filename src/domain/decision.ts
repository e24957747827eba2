import { type ErrorCode, SshcaError } from "../errors.js";

/** The answer of a pure decision: a value, or a refusal with a code and a reason. */
export type Decision<T> = { ok: true; value: T } | { ok: false; code: ErrorCode; reason: string };

export const allow = <T>(value: T): Decision<T> => ({ ok: true, value });
export const refuse = <T = never>(code: ErrorCode, reason: string): Decision<T> => ({
  ok: false,
  code,
  reason,
});

/** Turns a refusal into the SshcaError the HTTP edge renders. */
export function unwrap<T>(decision: Decision<T>): T {
  if (decision.ok) return decision.value;
  throw new SshcaError(decision.code, decision.reason);
}
