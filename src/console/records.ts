import { type Change, put } from "../store/port.js";
import type { StateView, TokenRecord } from "../store/state.js";

/**
 * What the console persists, in one place: console sessions are token records (kind "session",
 * method "console"); WebAuthn credentials are factor records (src/auth/factors/factors.ts).
 * Pending sign-in links and WebAuthn ceremonies are handshakes (src/auth/handshake-table.ts):
 * they live a minute or two, in the storage's handshakes, so any replica can finish them.
 */

/** The token record of a console session, if `id` is one. */
export function consoleSession(state: Pick<StateView, "tokens">, id: string): TokenRecord | undefined {
  const tokens = state.tokens;
  const t = Object.hasOwn(tokens, id) ? tokens[id] : undefined;
  return t?.kind === "session" && t.method === "console" ? t : undefined;
}

/** The change that stores a new console session (the caller audits it with the commit). */
export function newConsoleSession(
  id: string,
  record: Omit<TokenRecord, "kind" | "method"> & Pick<TokenRecord, "signedInThrough">,
): Change {
  return put("tokens", id, { ...record, kind: "session", method: "console" });
}

/** The change that marks a console session revoked, if it is one and still live. */
export function revokeConsoleSession(state: Pick<StateView, "tokens">, id: string, at: Date): Change[] {
  const t = consoleSession(state, id);
  return t && t.revokedAt === undefined ? [put("tokens", id, { ...t, revokedAt: at.toISOString() }, { entry: t })] : [];
}

/** The token a console session came from (a link's CLI session or token), if any. */
export function parentToken(state: Pick<StateView, "tokens">, record: TokenRecord): TokenRecord | undefined {
  if (record.parent?.kind !== "token") return undefined;
  const tokens = state.tokens;
  return Object.hasOwn(tokens, record.parent.id) ? tokens[record.parent.id] : undefined;
}
