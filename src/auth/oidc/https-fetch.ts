import { request } from "node:https";
import type { SecureContextOptions } from "node:tls";

/**
 * A fetch for openid-client that speaks HTTPS only and trusts exactly `ca` (a private identity
 * provider's CA) instead of the system store. Redirects are not followed: discovery, JWKS and
 * token endpoints answer directly. Bodies are capped so a hostile provider cannot exhaust memory.
 */
export function httpsFetch(ca: SecureContextOptions["ca"], timeoutMs = 15_000, maxBytes = 1 << 20): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : input.toString());
    if (url.protocol !== "https:") throw new TypeError(`refusing ${url.protocol} for the identity provider`);
    const method = init?.method ?? (input instanceof Request ? input.method : "GET");
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    const body =
      init?.body === undefined || init.body === null
        ? undefined
        : typeof init.body === "string"
          ? Buffer.from(init.body)
          : init.body instanceof URLSearchParams
            ? Buffer.from(init.body.toString())
            : Buffer.from(await new Response(init.body).arrayBuffer());
    if (body && !headers.has("content-length")) headers.set("content-length", String(body.length));
    return new Promise<Response>((resolve, reject) => {
      const req = request(
        url,
        { method, headers: Object.fromEntries(headers), ca, timeout: timeoutMs, signal: init?.signal ?? undefined },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (c: Buffer) => {
            size += c.length;
            if (size > maxBytes) req.destroy(new Error("identity provider answer too large"));
            else chunks.push(c);
          });
          res.on("end", () => {
            const h = new Headers();
            for (const [k, v] of Object.entries(res.headers)) {
              if (Array.isArray(v)) for (const x of v) h.append(k, x);
              else if (v !== undefined) h.set(k, v);
            }
            const status = res.statusCode ?? 502;
            const noBody = status === 204 || status === 304;
            resolve(new Response(noBody ? null : Buffer.concat(chunks), { status, headers: h }));
          });
          res.on("error", reject);
        },
      );
      req.on("timeout", () =>
        req.destroy(new Error(`no answer from the identity provider within ${timeoutMs / 1000}s`)),
      );
      req.on("error", reject);
      req.end(body);
    });
  }) as typeof fetch;
}
