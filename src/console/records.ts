import type { StateStore, TokenRecord } from "../store/state.js";

/**
 * What the console persists, in one place so it is easy to move with the store: console sessions
 * are token records (kind "session", method "console"); WebAuthn credentials are factor records
 * (src/auth/factors/factors.ts). Pending sign-in links and WebAuthn challenges stay in memory:
 * they live a minute or two, and a restart simply asks for a new one.
 */

/** The token record of a console session, if `id` is one. */
export function consoleSession(store: StateStore, id: string): TokenRecord | undefined {
  const tokens = store.data.tokens;
  const t = Object.hasOwn(tokens, id) ? tokens[id] : undefined;
  return t?.kind === "session" && t.method === "console" ? t : undefined;
}

/** Stores a new console session (the caller audits it and persists). */
export function putConsoleSession(
  store: StateStore,
  id: string,
  record: Omit<TokenRecord, "kind" | "method"> & Pick<TokenRecord, "signedInThrough">,
): void {
  store.put("tokens", id, { ...record, kind: "session", method: "console" });
}

/** Marks a console session revoked (the caller audits it and persists). */
export function revokeConsoleSession(store: StateStore, id: string, at: Date): void {
  const t = consoleSession(store, id);
  if (t && t.revokedAt === undefined) store.put("tokens", id, { ...t, revokedAt: at.toISOString() });
}

/** The token a console session came from (a link's CLI session or token), if any. */
export function parentToken(store: StateStore, record: TokenRecord): TokenRecord | undefined {
  if (record.parent?.kind !== "token") return undefined;
  const tokens = store.data.tokens;
  return Object.hasOwn(tokens, record.parent.id) ? tokens[record.parent.id] : undefined;
}
