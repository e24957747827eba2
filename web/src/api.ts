/**
 * The console talks to the same JSON API as the CLI (/v1/...), authenticated by its session
 * cookie; every change carries the session's CSRF token.
 */
import type { ConsoleSessionView } from "../../src/http/contract.ts";

let csrf = "";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function answer<T>(res: Response): Promise<T> {
  const body = (await res.json().catch(() => ({}))) as { error?: { code: string; message: string } };
  if (!res.ok) throw new ApiError(res.status, body.error?.code ?? "error", body.error?.message ?? `HTTP ${res.status}`);
  return body as T;
}

export async function get<T>(path: string): Promise<T> {
  return answer<T>(await fetch(path, { credentials: "same-origin", headers: { accept: "application/json" } }));
}

export async function post<T>(path: string, body: unknown = {}): Promise<T> {
  return answer<T>(
    await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", accept: "application/json", "x-csrf-token": csrf },
      body: JSON.stringify(body),
    }),
  );
}

/** The signed-in session, or null when there is none (then the sign-in page is shown). */
export async function loadSession(): Promise<ConsoleSessionView | null> {
  try {
    const s = await get<ConsoleSessionView>("/v1/console/session");
    csrf = s.csrf;
    return s;
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 400)) return null;
    throw err;
  }
}

export const message = (err: unknown) => (err instanceof Error ? err.message : String(err));
