import { createHash } from "node:crypto";
import type { Request } from "express";
import { type Decision, allow, refuse } from "../domain/decision.js";
import { interactiveSignInAt, signedInWithin } from "../auth/credentials.js";
import { FRESH_SIGN_IN_SECONDS } from "../auth/factors/factors.js";
import { HandshakeTable } from "../auth/handshake-table.js";
import { mintToken } from "../auth/tokens.js";
import type { Config } from "../config/schema.js";
import { fail } from "../errors.js";
import type { Storage } from "../store/port.js";
import type { TokenRecord } from "../store/state.js";
import { csrfToken, CSRF_HEADER, decideCsrf } from "./csrf.js";
import { readCookie, SESSION_COOKIE } from "../http/cookies.js";
import { consoleSession, newConsoleSession, parentToken, revokeConsoleSession } from "./records.js";

export interface ConsoleSessionDeps {
  config: () => Config;
  storage: Storage;
  now: () => Date;
  random: (n: number) => Buffer;
  /** The console's origin (https://HOST:PORT). */
  origin: () => string;
}

/** A one-time sign-in link lives this long (it is opened right after `sshca console` prints it). */
export const LINK_SECONDS = 60;
const LINKS_PER_USER = 3;
const LINKS_TOTAL = 10_000;

interface Link {
  user: string;
  /** The CLI's token or session the link was minted with: the console session dies with it. */
  parent: string;
  expiresAt: number;
}

const hash = (code: string) => createHash("sha256").update(code, "utf8").digest("hex");

/**
 * Console sessions: minted from a one-time link (`sshca console`) or, through OidcSignIn, from a
 * sign-in at the identity provider; carried in an HttpOnly cookie; ended after
 * console.sessionIdle without use, console.sessionMax after sign-in, at logout, and at once when
 * the user is disabled (stillValid, as for every token).
 *
 * Last use is kept in memory: after a restart each session gets one more idle period, never more
 * than its sessionMax.
 */
export class ConsoleSessions {
  /** Open links, by the hash of their code (the code itself is kept nowhere). */
  private readonly links: HandshakeTable<Link>;
  private readonly lastUse = new Map<string, number>();

  constructor(private readonly deps: ConsoleSessionDeps) {
    this.links = new HandshakeTable(deps.storage.handshakes, "console-link");
  }

  /** A one-time link for `user`, who called with `parent` (their CLI token or session). */
  async link(user: string, parent: string): Promise<{ url: string; expiresAt: string }> {
    const now = this.deps.now().getTime();
    const code = this.deps.random(32).toString("base64url");
    const expiresAt = now + LINK_SECONDS * 1000;
    // Asking again replaces the oldest open link rather than failing (nothing to wait for).
    await this.links.open(
      hash(code),
      { user, address: user, expiresAt, value: { user, parent, expiresAt } },
      now,
      { perAddress: LINKS_PER_USER + 1, perUser: LINKS_PER_USER, total: LINKS_TOTAL },
      "too many sign-in links open; try again in {retryAfter}s",
    );
    return {
      url: `${this.deps.origin()}/console/link?code=${code}`,
      expiresAt: new Date(expiresAt).toISOString(),
    };
  }

  /**
   * Redeems a link (once): a console session for its user, which lives no longer than the
   * credential the link was minted with and counts as fresh only as long as that sign-in does.
   */
  async redeem(
    code: string,
    parentStillValid: (tokenId: string) => Decision<unknown>,
  ): Promise<{ token: string; maxAge: number }> {
    const now = this.deps.now();
    const link = await this.links.take(hash(code), now.getTime());
    if (!link) throw fail.unauthenticated("this sign-in link is used up or expired; run sshca console again");
    // The link may come from another replica, its CLI sign-in too: catch up before judging it.
    if (!Object.hasOwn(this.deps.storage.state.tokens, link.parent)) await this.deps.storage.sync();
    const ok = parentStillValid(link.parent);
    if (!ok.ok) throw fail.unauthenticated(`the CLI sign-in behind this link no longer works: ${ok.reason}`);
    const parent = this.deps.storage.state.tokens[link.parent]!;
    const authenticatedAt = interactiveSignInAt(this.deps.storage.state, parent);
    const maxEnd = now.getTime() + this.deps.config().console.sessionMax * 1000;
    const expiresAt = new Date(Math.min(maxEnd, Date.parse(parent.expiresAt)));
    const minted = mintToken(this.deps.random);
    await this.deps.storage.commit(
      [
        {
          type: "auth.signed_in",
          actor: link.user,
          fields: {
            user: link.user,
            method: "console",
            through: "link",
            parentToken: link.parent,
            tokenId: minted.id,
            expiresAt: expiresAt.toISOString(),
          },
        },
      ],
      [
        newConsoleSession(minted.id, {
          user: link.user,
          hash: minted.hash,
          createdAt: now.toISOString(),
          expiresAt: expiresAt.toISOString(),
          parent: { kind: "token", id: link.parent },
          signedInThrough: "link",
          ...(authenticatedAt ? { authenticatedAt } : {}),
        }),
      ],
    );
    this.lastUse.set(minted.id, now.getTime());
    return { token: minted.token, maxAge: (expiresAt.getTime() - now.getTime()) / 1000 };
  }

  /** The session token a request's cookie carries, if any. */
  cookieToken(req: Request): string | undefined {
    return readCookie(req, SESSION_COOKIE);
  }

  /**
   * The console's own checks on a cookie-authenticated request whose token is valid: it is a
   * console session, it was used within console.sessionIdle, and a change carries this session's
   * CSRF token from the console's origin. A request that passes counts as use.
   */
  admit(req: Request, tokenId: string, secret: string): Decision<void> {
    const record = consoleSession(this.deps.storage.state, tokenId);
    if (!record) return refuse("unauthenticated", "this cookie is not a console session");
    const now = this.deps.now().getTime();
    const last = this.lastUse.get(tokenId) ?? now;
    if (now - last > this.deps.config().console.sessionIdle * 1000) {
      // Ended for good: revoked at once (in memory now, on disk with the next write), so asking
      // again does not find a session that merely was never seen.
      this.lastUse.delete(tokenId);
      this.deps.storage
        .commit([], revokeConsoleSession(this.deps.storage.state, tokenId, new Date(now)))
        .catch(() => undefined);
      return refuse("unauthenticated", "the console session ended after a while without use; sign in again");
    }
    const csrf = decideCsrf({
      method: req.method,
      origin: req.get("origin"),
      fetchSite: req.get("sec-fetch-site"),
      token: req.get(CSRF_HEADER),
      expected: csrfToken(secret),
      consoleOrigin: this.deps.origin(),
    });
    if (!csrf.ok) return csrf;
    this.lastUse.set(tokenId, now);
    if (this.lastUse.size > 100_000) this.forgetIdle(now);
    return allow(undefined);
  }

  /** Signed-in state for the page: who, until when, and the CSRF token for changes. */
  describe(tokenId: string, secret: string): { user: string; expiresAt: string; csrf: string; fresh: boolean } {
    const record = consoleSession(this.deps.storage.state, tokenId)!;
    return { user: record.user, expiresAt: record.expiresAt, csrf: csrfToken(secret), fresh: this.fresh(record) };
  }

  /** Whether the session may add a second factor now (a sign-in within the last 10 minutes). */
  private fresh(record: TokenRecord): boolean {
    return signedInWithin(this.deps.storage.state, record, this.deps.now(), FRESH_SIGN_IN_SECONDS);
  }

  /** Forgets a session's last use (logout). */
  forget(tokenId: string): void {
    this.lastUse.delete(tokenId);
  }

  /** The console session's parent, for checks that look at how it was obtained. */
  parentOf(record: TokenRecord): TokenRecord | undefined {
    return parentToken(this.deps.storage.state, record);
  }

  private forgetIdle(now: number): void {
    const idle = this.deps.config().console.sessionIdle * 1000;
    for (const [id, at] of this.lastUse) if (now - at > idle) this.lastUse.delete(id);
  }
}
