import type { Request, Response } from "express";

/**
 * The console's cookies. The __Host- prefix makes the browser insist on Secure, Path=/ and no
 * Domain (RFC 6265bis section 4.1.3.2), so no other host can set or shadow them.
 */
export const SESSION_COOKIE = "__Host-sshca-console";
/** The pre-session cookie that binds an identity-provider sign-in to this browser. */
export const SIGNIN_COOKIE = "__Host-sshca-signin";

/** One cookie's value from the Cookie header, or undefined. */
export function readCookie(req: Request, name: string): string | undefined {
  const header = req.get("cookie");
  if (!header || header.length > 8192) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * The session cookie: HttpOnly (no script reads it), Secure, SameSite=Strict (never sent on a
 * request another site starts), for at most `maxAgeSeconds`.
 */
export function setSessionCookie(res: Response, token: string, maxAgeSeconds: number): void {
  res.append(
    "Set-Cookie",
    `${SESSION_COOKIE}=${token}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}`,
  );
}

/**
 * The pre-session cookie. SameSite=Lax, because the provider's redirect back is a top-level
 * navigation from another site, which Strict cookies do not accompany.
 */
export function setSignInCookie(res: Response, flow: string, maxAgeSeconds: number): void {
  res.append(
    "Set-Cookie",
    `${SIGNIN_COOKIE}=${flow}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=${maxAgeSeconds}`,
  );
}

export function clearCookie(res: Response, name: string): void {
  res.append("Set-Cookie", `${name}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0`);
}
